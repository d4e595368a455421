"""Dashboard generations started from the admin: a ``manage.py generate_dashboards`` process
per job, its progress in a small JSON file under ``DATA_DIR/jobs/dashboards/`` (no table: the
ledger already records which batches are written; the file only says how far a run is)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

from django.conf import settings


def jobs_dir() -> Path:
    folder = Path(settings.DATA_DIR) / "jobs" / "dashboards"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class JobProgress:
    """Writes a job's state (atomically replaced JSON) as a generation advances."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self.state = json.loads(self.path.read_text()) if self.path.exists() else {"id": self.path.stem}

    def update(self, **fields) -> None:
        self.state.update(fields, updated=time.time())
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.state))
        os.replace(tmp, self.path)


def job_start(
    *, model: str, source: str, corpus: str, n_prompts: int, ctx_len: int, features: str = ""
) -> str:
    """Start ``generate_dashboards`` in a background process; returns the job id."""
    job_id = time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
    args = [
        sys.executable,
        str(Path(settings.BASE_DIR) / "manage.py"),
        "generate_dashboards",
        "--model",
        model,
        "--source",
        source,
        "--corpus",
        corpus,
        "--n-prompts",
        str(n_prompts),
        "--ctx-len",
        str(ctx_len),
        "--job-file",
        str(jobs_dir() / f"{job_id}.json"),
    ]
    if features:
        args += ["--features", features]
    JobProgress(jobs_dir() / f"{job_id}.json").update(
        status="starting", model=model, source=source, corpus=corpus, done=0, total=0, started=time.time()
    )
    log = open(jobs_dir() / f"{job_id}.log", "ab")  # noqa: SIM115 - handed to the child process
    from django.db import connection

    env = dict(os.environ)
    if not os.environ.get("DATABASE_URL"):  # the embedded server: same database as this process
        env["EMBEDDED_DB_NAME"] = connection.settings_dict["NAME"]
    subprocess.Popen(
        args, cwd=settings.BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    log.close()
    return job_id


def job_list(limit: int = 50) -> list[dict]:
    """The most recent jobs, newest first."""
    jobs = []
    for path in sorted(jobs_dir().glob("*.json"), reverse=True)[:limit]:
        try:
            jobs.append(json.loads(path.read_text()))
        except (OSError, json.JSONDecodeError):
            continue
    return jobs
