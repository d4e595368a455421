"""Pooled connections (issue 10): the web server, started as ``make run`` starts it (uvicorn,
2 worker processes), with a pool of 4 connections per process answers 300 requests sent 200 at a
time with 0 errors, and never holds more than its pools' connections on the database (without
the pool each request thread opened its own, and a burst failed with "too many clients
already")."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
POOL_SIZE = 4
WORKERS = 2  # make run's WEB_WORKERS
APP_NAME = "neuronsite-pool-test"

pytestmark = pytest.mark.django_db(transaction=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def pooled_server(django_db_setup, django_db_blocker, tmp_path):
    from django.db import connection

    with django_db_blocker.unblock():
        db_name = connection.settings_dict["NAME"]
    port = _free_port()
    env = {
        **os.environ,
        "EMBEDDED_DB_NAME": db_name,
        "DEBUG": "false",
        "DJANGO_SETTINGS_MODULE": "neuronsite.settings",
        "DATABASE_POOL": "true",
        "DATABASE_POOL_MIN_SIZE": "1",
        "DATABASE_POOL_MAX_SIZE": str(POOL_SIZE),
        "DATABASE_POOL_TIMEOUT": "120",
        "PGAPPNAME": APP_NAME,  # libpq: the server's connections are told apart by this name
    }
    uvicorn = shutil.which("uvicorn", path=str(Path(sys.executable).parent)) or "uvicorn"
    log = open(tmp_path / "server.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            uvicorn,
            "neuronsite.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(WORKERS),
            "--lifespan",
            "off",
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--ws",
            "websockets",
            "--no-access-log",
        ],  # fmt: skip
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while True:  # wait for the socket to accept (start-up, not a timed assertion)
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((tmp_path / "server.log").read_text()) from None
            time.sleep(0.2)
    yield {"url": f"http://127.0.0.1:{port}", "db": db_name, "log": tmp_path / "server.log"}
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


class _BackendWatcher(threading.Thread):
    """Counts the server process's connections to the test database until stopped."""

    def __init__(self, db_name: str):
        super().__init__(daemon=True)
        from django.db import connection

        self.params = {**connection.get_connection_params(), "dbname": "postgres", "autocommit": True}
        self.params.pop("database", None)
        self.params.pop("pool", None)
        self.db_name, self.stop, self.max_seen, self.samples = db_name, threading.Event(), 0, 0

    def run(self):
        import psycopg

        with psycopg.connect(**self.params) as conn:
            while not self.stop.is_set():
                (n,) = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND application_name = %s",
                    [self.db_name, APP_NAME],
                ).fetchone()
                self.max_seen, self.samples = max(self.max_seen, n), self.samples + 1


def test_a_burst_of_concurrent_requests_waits_for_pooled_connections_without_errors(
    pooled_server, make_source, make_feature
):
    import httpx

    source = make_source()
    make_feature(source=source, index=0)
    make_feature(source=source, index=1)
    watcher = _BackendWatcher(pooled_server["db"])
    watcher.start()
    urls = [f"{pooled_server['url']}/api/feature/tiny/0-res-test/{i % 2}" for i in range(200)]
    urls += [f"{pooled_server['url']}/tiny/0-res-test/{i % 2}" for i in range(100)]

    async def burst():
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=0)
        async with httpx.AsyncClient(limits=limits, timeout=120) as client:
            return await asyncio.gather(*(client.get(u) for u in urls), return_exceptions=True)

    try:
        responses = asyncio.run(burst())
    finally:
        watcher.stop.set()
        watcher.join()
    errors = [r if isinstance(r, Exception) else (r.status_code, r.text[:200]) for r in responses]
    errors = [e for e in errors if isinstance(e, Exception) or e[0] != 200]
    assert errors == [], errors[:5]
    log = pooled_server["log"].read_text()
    assert "too many clients" not in log and "Traceback" not in log
    assert watcher.samples > 0 and watcher.max_seen >= 1  # it saw the server's connections
    assert watcher.max_seen <= POOL_SIZE * WORKERS, watcher.max_seen
