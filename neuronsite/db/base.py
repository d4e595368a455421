"""PostgreSQL backend that starts the embedded server on first connection.

Used as ``ENGINE`` when no DATABASE_URL is set. With ``OPTIONS["pool"]`` (the default, see
settings) Django's psycopg pool is built from :meth:`get_connection_params`, so it too reaches
the embedded server. Starting the server lazily, at the first real
connection, means every entry point (manage.py, the ASGI app, pytest) gets it without any of
them having to remember, and commands that never touch the database never start it.
"""

from pathlib import Path

from django.db.backends.postgresql import base
from django.db.utils import OperationalError

from neuronsite import embedded_db
from neuronsite.db.client import DatabaseClient


class DatabaseWrapper(base.DatabaseWrapper):
    client_class = DatabaseClient

    def _embedded_params(self, *, force_check: bool = False) -> None:
        info = embedded_db.ensure_running(
            Path(self.settings_dict["EMBEDDED_DATA_DIR"]), force_check=force_check
        )
        self.settings_dict["HOST"] = info.socket_dir
        self.settings_dict["PORT"] = str(info.port)
        self.settings_dict["USER"] = info.user
        name = self.settings_dict["NAME"]
        if name and not name.startswith("test_"):  # test databases are created by the test runner
            embedded_db.ensure_database(info, name)

    @property
    def pool(self):
        """Django's pool, whose health check (``CONN_HEALTH_CHECKS``) skips the ``SELECT 1``
        round trip for a connection with nothing to read on its socket (neuronsite/db/pool.py;
        setting ``DATABASE_POOL_CHECK_SOCKET``). psycopg_pool takes ``check`` only when it is
        built, which Django does with its own, so it is swapped here, once per pool."""
        pool = super().pool
        if pool is not None and not getattr(pool, "_neuronsite_check", False):
            from django.conf import settings
            from psycopg_pool import ConnectionPool

            from neuronsite.db.pool import check_connection

            if settings.DATABASE_POOL_CHECK_SOCKET and pool._check == ConnectionPool.check_connection:
                pool._check = check_connection  # psycopg_pool 3.3 keeps ``check`` here
            pool._neuronsite_check = True
        return pool

    def get_connection_params(self):
        self._embedded_params()
        return super().get_connection_params()

    def get_new_connection(self, conn_params):
        try:
            return super().get_new_connection(conn_params)
        except Exception as exc:  # psycopg.OperationalError: server gone (killed) -> restart it once
            if not isinstance(exc, OperationalError | base.Database.OperationalError):
                raise
            if self.pool:
                # PoolTimeout (an OperationalError): busy, or the server died and the pool cannot
                # reconnect. Make sure the server runs, then wait once more (the pool reconnects).
                self._embedded_params(force_check=True)
                return super().get_new_connection(conn_params)
            self._embedded_params(force_check=True)
            return super().get_new_connection(super().get_connection_params())
