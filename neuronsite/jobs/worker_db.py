"""The job worker's own Procrastinate connector: fewer round trips on every task's pickup.

Procrastinate's default worker connector (``DjangoConnector.get_worker_connector``) is a psycopg
pool whose connections are not in autocommit and are checked on every checkout, so each of its
queries (``fetch_job`` on every pickup, ``finish_job``, heartbeats) costs four round trips: the
check's empty query, ``BEGIN``, the query, ``COMMIT``. Each of Procrastinate's queries is one
statement (its functions do their own writes), so autocommit loses nothing; and a connection is
checked the way the web pool checks its own (``neuronsite.db.pool``): from its socket, with the
real check only when the socket has something to say.

And the pickup's claim (``fetch_job``: the task's row set to ``doing``) commits without waiting for
the disk (``synchronous_commit`` off for that one statement's transaction): a flush is 0.3 ms on a
quiet disk and 2-8 ms while other databases write, on every task's path (bench/graphs). Losing it
in a database crash is harmless: the WAL is replayed in order, so a lost claim means everything the
task wrote after it is lost too (its first durable commit, e.g. a graph job's end, flushes the
claim with it); the task is then ``todo`` again and runs again, and the job it belongs to was
created durably."""

from __future__ import annotations


async def check_connection(conn) -> None:
    """``check`` of the worker's async pool: raise when ``conn`` is not usable. A connection
    the server dropped has something to read on its socket (its error and end of stream)."""
    from psycopg_pool import AsyncConnectionPool

    from neuronsite.db.pool import socket_says_healthy

    if socket_says_healthy(conn):
        return
    await AsyncConnectionPool.check_connection(conn)


_NONDURABLE = ", (SELECT set_config('synchronous_commit', 'off', true)) AS nondurable"


def _fetch_query(original: str) -> str:
    """Procrastinate's ``fetch_job`` (one ``SELECT … FROM procrastinate_fetch_job_v2(…)``) with
    the non-durable setting joined in; the query unchanged if it no longer has that form."""
    text = original.strip().rstrip(";").rstrip()
    if text.endswith("%(worker_id)s)") and "FROM procrastinate_fetch_job_v" in text:
        return text + _NONDURABLE
    return original


def worker_connector():
    """Procrastinate's psycopg connector for this worker: the Django database's parameters,
    autocommit connections, the socket check."""
    from procrastinate import psycopg_connector, sql
    from procrastinate.contrib.django import utils
    from procrastinate.contrib.django.settings import settings as procrastinate_settings
    from psycopg_pool import AsyncConnectionPool

    def pool_factory(**kwargs):
        kwargs["check"] = check_connection  # Procrastinate passes the pool's own round-trip check
        # One connection unless more are in use at once (a fetch during a heartbeat): the pool
        # hands its connections out in turn, and each one plans Procrastinate's functions anew
        # (~5 ms for the first fetch on a connection).
        kwargs.setdefault("min_size", 1)
        kwargs.setdefault("max_size", 4)
        return AsyncConnectionPool(**kwargs)

    async def configure(conn) -> None:
        # Not ``autocommit`` in the connection kwargs: Procrastinate's listener connects with
        # those kwargs plus its own ``autocommit=True`` (a duplicate keyword).
        await conn.set_autocommit(True)

    fetch_job = sql.queries["fetch_job"]
    fetch_nondurable = _fetch_query(fetch_job)

    class WorkerConnector(psycopg_connector.PsycopgConnector):
        async def execute_query_one_async(self, query, **arguments):
            if query == fetch_job:
                query = fetch_nondurable
            return await super().execute_query_one_async(query, **arguments)

    params = utils.connector_params(procrastinate_settings.DATABASE_ALIAS)
    return WorkerConnector(kwargs=params, configure=configure, pool_factory=pool_factory)
