"""The embedded PostgreSQL: persistence across restarts, sharing between processes, recovery
after a kill. Each test runs its own server in a temporary data directory."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from neuronsite import embedded_db

ROOT = Path(__file__).resolve().parents[2]


def _connect(info, dbname="postgres"):
    return psycopg.connect(
        host=info.socket_dir, port=info.port, user=info.user, dbname=dbname, autocommit=True
    )


def _postmaster_pid(data_dir: Path) -> int:
    return int((data_dir / "pgdata" / "postmaster.pid").read_text().splitlines()[0])


@pytest.fixture
def data_dir(tmp_path):
    yield tmp_path
    pid_file = tmp_path / "pgdata" / "postmaster.pid"
    if pid_file.exists():
        try:
            os.kill(_postmaster_pid(tmp_path), signal.SIGTERM)
        except ProcessLookupError:
            pass


def _run_manage(data_dir: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["NEURONSITE_DATA_DIR"] = str(data_dir)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


def test_second_process_shares_server_and_data_survives_restart(data_dir):
    info = embedded_db.ensure_running(data_dir)
    embedded_db.ensure_database(info, "neuronsite")
    with _connect(info, "neuronsite") as conn:
        conn.execute("CREATE TABLE marker (v text)")
        conn.execute("INSERT INTO marker VALUES ('kept')")
    first_pid = _postmaster_pid(data_dir)

    # Another process (a management command) attaches to the same running server.
    result = _run_manage(data_dir, "dbshell", "--", "-tAc", "SELECT v FROM marker")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "kept"
    assert _postmaster_pid(data_dir) == first_pid

    # Kill the server hard: the next start recovers (stale postmaster.pid) and the data is there.
    os.kill(first_pid, signal.SIGKILL)
    for _ in range(50):
        try:
            os.kill(first_pid, 0)
            time.sleep(0.1)
        except ProcessLookupError:
            break
    info2 = embedded_db.ensure_running(data_dir, force_check=True)
    assert _postmaster_pid(data_dir) != first_pid
    with _connect(info2, "neuronsite") as conn:
        assert conn.execute("SELECT v FROM marker").fetchone()[0] == "kept"


def test_migrate_in_a_fresh_data_dir_creates_database_and_vector_extension(data_dir):
    result = _run_manage(data_dir, "migrate", "--noinput")
    assert result.returncode == 0, result.stderr
    info = embedded_db.ensure_running(data_dir)
    with _connect(info, "neuronsite") as conn:
        assert conn.execute("SELECT 1 FROM pg_extension WHERE extname='vector'").fetchone()
        assert conn.execute("SELECT count(*) FROM django_migrations WHERE app='features'").fetchone()[0] >= 1


def test_a_fresh_server_starts_with_the_memory_settings(data_dir, monkeypatch):
    # written before the first start (pgdata/neuronsite.conf, included from postgresql.conf), so
    # the first server already has them; an explicit size wins over the machine-sized default
    monkeypatch.setenv("EMBEDDED_DB_SHARED_BUFFERS", "160MB")
    info = embedded_db.ensure_running(data_dir)
    with _connect(info) as conn:
        assert conn.execute("SHOW shared_buffers").fetchone()[0] == "160MB"
        wanted = embedded_db.server_settings()["effective_cache_size"]
        size = conn.execute("SELECT pg_size_bytes(current_setting('effective_cache_size'))").fetchone()[0]
        assert size == conn.execute("SELECT pg_size_bytes(%s)", [wanted]).fetchone()[0]
    monkeypatch.delenv("EMBEDDED_DB_SHARED_BUFFERS")
    assert embedded_db.server_settings()["shared_buffers"] != "160MB"
