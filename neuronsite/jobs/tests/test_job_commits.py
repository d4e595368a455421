"""Which job writes wait for the disk at commit: a part's start, its progress and log lines do not
(``synchronous_commit`` off for their transaction only: lost in a database crash, the task that
wrote them runs again and writes them again; bench/graphs counts a flush per write on a job's
path); the job's creation, its end and a cancel do."""

from __future__ import annotations

import pytest
from django.db import connection, transaction

pytestmark = pytest.mark.django_db


def _setting_after(write) -> str:
    """``synchronous_commit`` as ``write`` leaves the transaction it ran in (rolled back after)."""
    savepoint = transaction.savepoint()
    try:
        write()
        with connection.cursor() as cursor:
            cursor.execute("SHOW synchronous_commit")
            return cursor.fetchone()[0]
    finally:
        transaction.savepoint_rollback(savepoint)


def test_start_progress_and_log_commit_without_waiting_for_the_disk_the_rest_waits(make_user):
    from neuronsite.jobs import services
    from neuronsite.jobs.models import Job

    owner = make_user()
    part = {
        "task": "t",
        "queue": "cpu",
        "kwargs": {},
        "task_id": None,
        "state": "queued",
        "done": 0,
        "total": 4,
    }
    job = Job.objects.create(kind="test", title="t", owner=owner, total=4, parts=[part])
    assert _setting_after(lambda: None) == "on"
    assert _setting_after(lambda: services.job_part_start(job_id=job.pk, part=0)) == "off"
    # running, as a start would leave it (a real start here would leave the setting off for the
    # rest of this test's transaction)
    Job.objects.filter(pk=job.pk).update(state="running", parts=[{**part, "state": "running"}])
    assert _setting_after(lambda: services.job_progress(job_id=job.pk, part=0, done=1, log="a")) == "off"
    assert _setting_after(lambda: services.job_log(job_id=job.pk, line="b")) == "off"
    assert _setting_after(lambda: services.job_cancel(job_id=job.pk, user=owner)) == "on"
    finish = services.job_part_finish
    assert _setting_after(lambda: finish(job_id=job.pk, part=0, state="succeeded", results=[])) == "on"
    assert _setting_after(lambda: finish(job_id=job.pk, part=0, state="failed", error="x")) == "on"
    job.refresh_from_db()  # every write above was rolled back
    assert job.state == "running" and job.log == ""
