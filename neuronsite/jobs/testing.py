"""Test helpers: real worker processes (``manage.py run_jobs_worker``) against the test database."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def worker_env(**extra: str) -> dict[str, str]:
    from django.db import connection

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "neuronsite.settings",
        "JOBS_HEARTBEAT_SECONDS": "0.5",
        "JOBS_STALLED_SECONDS": "2",
        **extra,
    }
    if not os.environ.get("DATABASE_URL"):
        env["EMBEDDED_DB_NAME"] = connection.settings_dict["NAME"]
    return env


def start_worker(name: str, log_dir: Path, **extra: str) -> subprocess.Popen:
    log = open(log_dir / f"{name}.log", "wb")  # noqa: SIM115 - owned by the child
    return subprocess.Popen(
        [sys.executable, "manage.py", "run_jobs_worker", "--name", name, "-v", "0"],
        cwd=ROOT,
        env=worker_env(**extra),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop(*procs: subprocess.Popen) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_until(condition: Callable[[], object], *, timeout: float = 180, what: str = "condition", logs=None):
    """Poll ``condition`` (a database read) until it is truthy; fail with the worker logs if not."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    tail = ""
    for path in logs or []:
        tail += f"\n--- {path}\n" + Path(path).read_text()[-3000:]
    raise AssertionError(f"timed out waiting for {what}{tail}")


def clear_queue() -> None:
    """Drop Procrastinate jobs left by earlier tests (its tables are not flushed between tests)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM procrastinate_jobs")
        cursor.execute("DELETE FROM procrastinate_workers")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"{proc.args[0]} exited:\n{log.read_text()[-3000:]}") from None
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}:\n{log.read_text()[-3000:]}")


def start_web(log_dir: Path, **extra: str) -> tuple[subprocess.Popen, str]:
    """daphne on a free port against the test database; returns (process, base URL)."""
    import shutil

    port = free_port()
    daphne = shutil.which("daphne", path=str(Path(sys.executable).parent)) or "daphne"
    log_path = log_dir / f"web-{port}.log"
    log = open(log_path, "wb")  # noqa: SIM115 - owned by the child
    proc = subprocess.Popen(
        [daphne, "-b", "127.0.0.1", "-p", str(port), "neuronsite.asgi:application"],
        cwd=ROOT,
        env=worker_env(**extra),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    wait_for_port(port, proc, log_path)
    return proc, f"127.0.0.1:{port}"


def start_redis(log_dir: Path) -> tuple[subprocess.Popen, str]:
    """A real redis-server (``make redis`` installs it) on a free port, nothing saved to disk."""
    import shutil

    server = shutil.which("redis-server") or "/usr/bin/redis-server"
    port = free_port()
    log_path = log_dir / "redis.log"
    log = open(log_path, "wb")  # noqa: SIM115 - owned by the child
    proc = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(log_dir)],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    wait_for_port(port, proc, log_path)
    return proc, f"redis://127.0.0.1:{port}/0"
