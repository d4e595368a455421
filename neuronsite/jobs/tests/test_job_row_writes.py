"""``job_create`` writes the row, defers its tasks and publishes its event in one statement: each
task's arguments carry the job's id, the row's parts carry the tasks' ids, the event is heard
once the job is committed (durably), and in a caller's transaction that rolls back nothing is
queued and no row is left."""

from __future__ import annotations

import json

import psycopg
import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

pytestmark = pytest.mark.django_db(transaction=True)

MARK = "test_job_row_writes"  # in every task's arguments: the fixture below removes them
PARTS = [
    {
        "task": "inference.dashboards_shard",
        "queue": "test-a",
        "kwargs": {"shard": 0, "name": MARK},
        "total": 3,
    },
    {
        "task": "features.import_saedashboard",
        "queue": "test-b",
        "kwargs": {"path": "x/ü", "name": MARK},
        "total": 4,
    },
]


@pytest.fixture(autouse=True)
def _no_tasks_left_behind():
    """The tasks these tests queue are never run: remove them (Procrastinate's table is not
    flushed between tests, and a worker in another test would take them)."""
    yield
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM procrastinate_jobs WHERE args->>'name' = %s", [MARK])


def _tasks(ids: list[int]) -> dict[int, tuple]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, task_name, queue_name, status::text, args::text FROM procrastinate_jobs WHERE id = ANY(%s)",
            [ids],
        )
        return {
            i: (name, queue, status, json.loads(args)) for i, name, queue, status, args in cursor.fetchall()
        }


def test_create_is_one_durable_statement_and_the_tasks_and_row_name_each_other(make_user):
    from neuronsite.jobs.bridge import _connection_params
    from neuronsite.jobs.events import NOTIFY_CHANNEL
    from neuronsite.jobs.models import Job
    from neuronsite.jobs.services import job_create

    owner = make_user()
    with psycopg.connect(**_connection_params(), autocommit=True) as listener:
        listener.execute(f"LISTEN {NOTIFY_CHANNEL}")
        with CaptureQueriesContext(connection) as queries:
            job = job_create(kind="test", title="two parts", parts=PARTS, owner=owner, unit="rows")
        heard = [json.loads(n.payload) for n in listener.notifies(timeout=30, stop_after=1)]

    assert len(queries.captured_queries) == 1  # outside a transaction: its own commit
    assert "synchronous_commit" not in queries.captured_queries[0]["sql"]  # the commit waits for the disk
    stored = Job.objects.get(pk=job.pk)
    assert stored.parts == job.parts and stored.total == 7 and stored.state == "queued"
    assert stored.owner_id == owner.pk and stored.unit == "rows" and stored.created_at is not None
    task_ids = [p["task_id"] for p in stored.parts]
    tasks = _tasks(task_ids)
    for index, (part, task_id) in enumerate(zip(PARTS, task_ids, strict=True)):
        name, queue, status, args = tasks[task_id]
        assert (name, queue, status) == (part["task"], part["queue"], "todo")
        assert args == {"job_id": job.pk, "part": index, **part["kwargs"]}
        assert stored.parts[index]["state"] == "queued" and stored.parts[index]["total"] == part["total"]
    assert heard[0]["job"]["id"] == job.pk and heard[0]["job"]["state"] == "queued"
    assert heard[0]["job"]["owner"] == owner.username and heard[0]["job"]["total"] == 7


def test_create_inside_a_transaction_that_rolls_back_leaves_no_row_and_no_task():
    from neuronsite.jobs.models import Job
    from neuronsite.jobs.services import job_create

    with pytest.raises(RuntimeError), transaction.atomic():
        job = job_create(kind="test", title="rolled back", parts=PARTS)
        task_ids = [p["task_id"] for p in job.parts]
        assert len(_tasks(task_ids)) == 2  # visible inside the transaction
        raise RuntimeError("the caller fails after queueing")
    assert not Job.objects.filter(pk=job.pk).exists()
    assert _tasks(task_ids) == {}


def _in_another_thread(fn) -> None:
    """Run ``fn`` on its own thread (its own database connection) and wait for it to end."""
    import threading

    from django.db import connections

    errors: list[BaseException] = []

    def run():
        try:
            fn()
        except BaseException as exc:  # noqa: BLE001 - re-raised on the test's thread
            errors.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]


def test_a_task_writes_on_its_own_last_write_unless_someone_else_wrote_the_row_since(make_user):
    """A task's progress and end are written on its own last write of the row (one statement, no
    lock, no read) when the row is unchanged; a cancel from elsewhere in between is not lost: the
    next progress write reads the row again, keeps the cancel and stops the task."""
    from neuronsite.jobs import services
    from neuronsite.jobs.models import Job

    owner = make_user()
    job = services.job_create(kind="test", title="t", parts=PARTS, owner=owner)
    assert services.job_part_start(job_id=job.pk, part=0)
    with CaptureQueriesContext(connection) as queries:
        services.job_progress(job_id=job.pk, part=0, done=1, log="one")
    assert len(queries.captured_queries) == 1 and "UPDATE" in queries.captured_queries[0]["sql"]

    _in_another_thread(lambda: services.job_cancel(job_id=job.pk, user=owner))
    with pytest.raises(services.JobCancelled):
        services.job_progress(job_id=job.pk, part=0, done=2, log="two")
    stored = Job.objects.get(pk=job.pk)
    assert stored.cancel_requested and stored.state == "cancelling"
    assert stored.parts[0]["done"] == 2 and stored.parts[1]["state"] == "cancelled"
    log = stored.log
    assert log.index("one") < log.index("cancel requested by") < log.index("two")

    # The part ends on the row as the cancel left it (read again: the copy was stale).
    services.job_part_finish(job_id=job.pk, part=0, state="cancelled")
    stored.refresh_from_db()
    assert stored.state == "cancelled" and stored.cancel_requested and stored.parts[0]["state"] == "cancelled"
