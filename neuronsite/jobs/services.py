"""Writes for jobs: create (and enqueue its Procrastinate tasks), report progress from a task,
finish, cancel, retry. Every change sends the job's state to the live page after commit
(``rows.save``: the write and its event in one statement)."""

from __future__ import annotations

import time
from typing import Any

from django.db import transaction
from django.utils import timezone

from neuronsite.errors import NotFound, PermissionDenied, ValidationFailed
from neuronsite.jobs import rows
from neuronsite.jobs.models import Job, JobState

LOG_LINES = 50
PART_ACTIVE = ("queued", "running")


class JobCancelled(Exception):
    """Raised inside a task when its job was cancelled (checked at every progress report)."""


def _defer(job: Job, index: int, part: dict) -> int:
    from procrastinate.contrib.django import app

    task = app.tasks[part["task"]]
    return task.configure(queue=part["queue"]).defer(job_id=job.pk, part=index, **part["kwargs"])


def job_create(
    *,
    kind: str,
    title: str,
    parts: list[dict[str, Any]],
    owner=None,
    unit: str = "steps",
    public: bool = False,
) -> Job:
    """A job made of ``parts`` (``{"task", "queue", "kwargs", "total"}``), each deferred as its own
    Procrastinate task with the job row, atomically (nothing is queued if the row is not written).

    One statement (``rows.insert_with_tasks``) writes the row, defers the tasks with the job's id in their
    arguments, stores their ids in the row's parts and publishes the event: outside a caller's
    transaction it is its own (durable) commit, one round trip instead of six (``BEGIN``, insert,
    defer, parts update, ``NOTIFY``, ``COMMIT``; bench/graphs times every graph job's enqueue).
    Inside a caller's transaction it is one more statement of it."""
    if not parts:
        raise ValidationFailed("a job needs at least one part", field="parts")
    job = Job(
        kind=kind,
        title=title[:300],
        owner=owner,
        public=public,
        unit=unit,
        total=sum(int(p.get("total") or 0) for p in parts),
        parts=[
            {
                "task": p["task"],
                "queue": p["queue"],
                "kwargs": p["kwargs"],
                "state": "queued",
                "done": 0,
                "total": int(p.get("total") or 0),
            }
            for p in parts
        ],
    )
    rows.insert_with_tasks(job)
    return job


def _aggregate(job: Job) -> None:
    job.done = sum(int(p["done"]) for p in job.parts)
    job.total = sum(int(p["total"]) for p in job.parts)
    if job.started_at:
        elapsed = (timezone.now() - job.started_at).total_seconds()
        fresh = sum(int(p["done"]) - int(p.get("skipped", 0)) for p in job.parts)
        job.rate = fresh / elapsed if elapsed > 0 and fresh > 0 else None


def _settle(job: Job) -> None:
    """The job's state from its parts' states once none is active."""
    states = [p["state"] for p in job.parts]
    if any(s in PART_ACTIVE for s in states):
        if any(s == "running" for s in states) and job.state == JobState.QUEUED:
            job.state = JobState.RUNNING
        return
    if "failed" in states:
        job.state = JobState.FAILED
    elif "cancelled" in states:
        job.state = JobState.CANCELLED
    else:
        job.state = JobState.SUCCEEDED
    job.finished_at = timezone.now()
    job.rate = job.rate if job.state == JobState.SUCCEEDED else None


def _append_log(job: Job, line: str) -> None:
    stamp = time.strftime("%H:%M:%S")
    lines = [*job.log.splitlines(), f"{stamp} {line[:300]}"]
    job.log = "\n".join(lines[-LOG_LINES:])


def job_part_start(*, job_id: int, part: int) -> bool:
    """Called by a task as it starts; False when the job was cancelled meanwhile (skip the work).

    Outside a transaction (a worker's task): the row is read (or this thread's last written copy
    of it taken, ``rows.recall``), then written back only if unchanged (its version), in one
    statement with its event: no lock, no ``BEGIN``/``COMMIT`` (bench/graphs: on every job's
    pickup). A concurrent write (a cancel) makes it read again."""
    if not transaction.get_connection().in_atomic_block:
        for attempt in range(5):
            job = rows.recall(job_id) if attempt == 0 else None
            job = job or rows.versioned_query().first(job=int(job_id))
            if job is None:
                raise NotFound(f"Job {job_id} not found.")
            started = _start(job, part)
            if rows.save(job, durable=started is False, version=job.row_version):
                return started
    with transaction.atomic():
        job = rows.locked(job_id)
        started = _start(job, part)
        rows.save(job, durable=started is False)
        return started


def _write_known(job_id: int, change, *, durable: bool) -> Job | None:
    """``change(job)`` on this thread's last written copy of the row, written back if no one wrote
    the row since (one statement, no lock, no read); None when there is no copy or someone did."""
    job = rows.recall(job_id)
    if job is None:
        return None
    change(job)
    return job if rows.save(job, durable=durable, version=job.row_version) else None


def _start(job: Job, part: int) -> bool:
    entry = job.parts[part]
    if job.cancel_requested:
        entry["state"] = "cancelled"
        _settle(job)
        return False
    entry["state"] = "running"
    entry["done"] = 0
    entry["skipped"] = 0
    if job.started_at is None:
        job.started_at = timezone.now()
    if job.state in (JobState.QUEUED, JobState.FAILED, JobState.CANCELLED):
        job.state = JobState.RUNNING
    _append_log(job, f"part {part + 1}/{len(job.parts)} started")
    return True  # its write need not wait for the disk: lost in a crash, the task runs again


def job_progress(
    *,
    job_id: int,
    part: int,
    done: int,
    total: int | None = None,
    skipped: int | None = None,
    log: str | list[str] | None = None,
) -> None:
    """A task's progress (``done`` of ``total`` in the job's unit), with a log line (or several,
    each stamped) in the same write when ``log`` is given. Raises ``JobCancelled`` when the job
    was cancelled, so the task stops at its next report (one batch). Outside a transaction the
    task's own last write is the base when no one wrote the row since (``_write_known``)."""

    def change(job: Job) -> None:
        for line in [log] if isinstance(log, str) else log or ():
            _append_log(job, str(line))
        entry = job.parts[part]
        entry["done"] = int(done)
        if total is not None:
            entry["total"] = int(total)
        if skipped is not None:
            entry["skipped"] = int(skipped)
        _aggregate(job)

    # progress need not wait for the disk: the next write says it again
    job = None
    if not transaction.get_connection().in_atomic_block:
        job = _write_known(job_id, change, durable=False)
    if job is None:
        with transaction.atomic():
            job = rows.locked(job_id)
            change(job)
            rows.save(job, durable=False)
    if job.cancel_requested:  # read with the row it was written to: a cancel is a write
        raise JobCancelled(f"Job {job_id} was cancelled.")


def job_cancel_requested(*, job_id: int) -> bool:
    return Job.objects.filter(pk=job_id, cancel_requested=True).exists()


@transaction.atomic
def job_log(*, job_id: int, line: str) -> None:
    job = rows.locked(job_id)
    _append_log(job, line)
    rows.save(job, durable=False)


# savepoint=False: inside a caller's transaction (a graph's row) a failure here fails that
# transaction too, so a savepoint's two round trips buy nothing.
@transaction.atomic(savepoint=False)
def job_part_finish(
    *,
    job_id: int,
    part: int,
    state: str,
    error: str = "",
    results: list[dict] | None = None,
    done: int | None = None,
    log: list[str] | None = None,
) -> Job:
    """A task ended: ``state`` is succeeded, failed or cancelled. ``done`` and ``log`` (lines
    stamped before the closing one) let a task's last progress ride with this write. The task's
    own last write is the base when no one wrote the row since (``_write_known``)."""

    def change(job: Job) -> None:
        entry = job.parts[part]
        entry["state"] = state
        if done is not None:
            entry["done"] = int(done)
        for line in log or ():
            _append_log(job, str(line))
        if error:
            job.error = error[:5000]
            _append_log(job, f"part {part + 1} failed: {error.splitlines()[0] if error else ''}")
        elif state == "cancelled":
            _append_log(job, f"part {part + 1} stopped: cancelled")
        else:
            _append_log(job, f"part {part + 1}/{len(job.parts)} done")
        for link in results or []:
            if link not in job.results:
                job.results.append(link)
        _aggregate(job)
        _settle(job)

    job = _write_known(job_id, change, durable=True)
    if job is None:
        job = rows.locked(job_id)
        change(job)
        rows.save(job)
    return job


def _check_can_manage(job: Job, user) -> None:
    if not (user and user.is_authenticated):
        raise PermissionDenied("Sign in to manage jobs.")
    if not (user.is_staff or job.owner_id == user.pk):
        raise PermissionDenied("This job belongs to someone else.")


@transaction.atomic
def job_cancel(*, job_id: int, user) -> Job:
    """Cancel: queued parts never start; running parts stop at their next progress report."""
    from procrastinate.contrib.django import app

    job = rows.locked(job_id)
    _check_can_manage(job, user)
    if not job.is_active:
        raise ValidationFailed(f"job {job.pk} is already {job.state}", field="id")
    job.cancel_requested = True
    for entry in job.parts:
        if entry["state"] == "queued" and app.job_manager.cancel_job_by_id(entry["task_id"]):
            entry["state"] = "cancelled"
    _settle(job)
    if job.is_active:
        job.state = JobState.CANCELLING
    _append_log(job, f"cancel requested by {user.username}")
    rows.save(job)
    return job


@transaction.atomic
def job_retry(*, job_id: int, user) -> Job:
    """Run a failed or cancelled job's unfinished parts again (their tasks resume: written batches
    are skipped)."""
    job = rows.locked(job_id)
    _check_can_manage(job, user)
    if job.state not in (JobState.FAILED, JobState.CANCELLED):
        raise ValidationFailed(
            f"only failed or cancelled jobs can be retried; job {job.pk} is {job.state}", field="id"
        )
    job.cancel_requested = False
    job.error = ""
    job.finished_at = None
    job.state = JobState.QUEUED
    for index, entry in enumerate(job.parts):
        if entry["state"] != "succeeded":
            entry["state"] = "queued"
            entry["task_id"] = _defer(job, index, entry)
    _append_log(job, f"retried by {user.username}")
    rows.save(job)
    return job
