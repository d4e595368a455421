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

PARTS = [
    {"task": "inference.dashboards_shard", "queue": "gpu", "kwargs": {"shard": 0, "name": "a"}, "total": 3},
    {"task": "features.import_saedashboard", "queue": "cpu", "kwargs": {"path": "x/ü"}, "total": 4},
]


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
