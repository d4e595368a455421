"""How a Procrastinate task runs one part of a job: mark it started, hand the work a reporter
(progress, log lines, cancellation check), and record how it ended. Tasks live in their own
apps' ``tasks.py``; this is the shared frame around them."""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable

from django.db import close_old_connections

from neuronsite.errors import ApplicationError
from neuronsite.jobs import services


class Reporter:
    def __init__(self, job_id: int, part: int):
        self.job_id = job_id
        self.part = part
        self._skipped: int | None = None
        self._checked = 0.0
        self.finished = False

    def progress(self, done: int, total: int | None = None, *, log: str | list[str] | None = None) -> None:
        """Record progress (and a log line, or several, in the same write); raises
        ``JobCancelled`` when the job was cancelled."""
        if self._skipped is None:  # the first report counts work already done before this run
            self._skipped = int(done)
        services.job_progress(
            job_id=self.job_id, part=self.part, done=done, total=total, skipped=self._skipped, log=log
        )

    def check(self, every: float = 0.5) -> None:
        """Raise ``JobCancelled`` if the job was cancelled (reads the database at most every
        ``every`` seconds): for work that reports rarely but can stop between its steps."""
        now = time.monotonic()
        if now - self._checked < every:
            return
        self._checked = now
        if services.job_cancel_requested(job_id=self.job_id):
            raise services.JobCancelled(f"Job {self.job_id} was cancelled.")

    def log(self, line: str) -> None:
        services.job_log(job_id=self.job_id, line=str(line))

    def finish(self, *, results: list[dict] | None, done: int | None = None, log: list[str] | None = None):
        """End the part as succeeded from inside the work, e.g. in the same transaction as the
        work's last write (graphs: the graph row, one commit); ``run_part`` then leaves it be."""
        services.job_part_finish(
            job_id=self.job_id, part=self.part, state="succeeded", results=results, done=done, log=log
        )
        self.finished = True


def run_part(*, job_id: int, part: int, work: Callable[[Reporter], list[dict] | None]) -> None:
    """Run ``work(reporter)`` as part ``part`` of job ``job_id``; ``work`` returns result links."""
    from procrastinate.exceptions import JobAborted

    close_old_connections()
    try:
        if not services.job_part_start(job_id=job_id, part=part):
            raise JobAborted(f"job {job_id} was cancelled before part {part} started")
        reporter = Reporter(job_id, part)
        try:
            results = work(reporter)
        except services.JobCancelled as exc:
            services.job_part_finish(job_id=job_id, part=part, state="cancelled")
            raise JobAborted(str(exc)) from exc
        except ApplicationError as exc:
            services.job_part_finish(job_id=job_id, part=part, state="failed", error=exc.message)
            raise
        except Exception as exc:
            detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            services.job_part_finish(job_id=job_id, part=part, state="failed", error=detail)
            raise
        if not reporter.finished:
            services.job_part_finish(job_id=job_id, part=part, state="succeeded", results=results)
    finally:
        close_old_connections()
