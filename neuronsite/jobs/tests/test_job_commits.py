"""Which job writes wait for the disk at commit: a part's start, its progress and log lines do not
(``synchronous_commit`` off for their own transaction only: lost in a database crash, the task
that wrote them runs again and writes them again; bench/graphs counts a flush per write on a
job's path); the job's creation, its end, a cancel, and any job write made inside a caller's own
transaction do."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

pytestmark = pytest.mark.django_db(transaction=True)


def _waits_for_disk(write) -> bool:
    with CaptureQueriesContext(connection) as queries:
        write()
    return not any("set_config('synchronous_commit', 'off'" in q["sql"] for q in queries.captured_queries)


def _synchronous_commit() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        return cursor.fetchone()[0]


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
    assert not _waits_for_disk(lambda: services.job_part_start(job_id=job.pk, part=0))
    assert not _waits_for_disk(lambda: services.job_progress(job_id=job.pk, part=0, done=1, log="a"))
    assert not _waits_for_disk(lambda: services.job_log(job_id=job.pk, line="b"))
    assert _synchronous_commit() == "on"  # for that transaction only

    def inside_a_callers_transaction():
        with transaction.atomic():
            services.job_progress(job_id=job.pk, part=0, done=2)
            assert _synchronous_commit() == "on"

    assert _waits_for_disk(inside_a_callers_transaction)
    assert _waits_for_disk(lambda: services.job_part_finish(job_id=job.pk, part=0, state="succeeded"))
    job.refresh_from_db()
    assert job.state == "succeeded" and job.done == 2 and "a" in job.log and "b" in job.log

    other = Job.objects.create(kind="test", title="t", owner=owner, total=4, parts=[part])
    assert _waits_for_disk(lambda: services.job_cancel(job_id=other.pk, user=owner))
