"""The job row's hot reads and writes, in as few round trips as possible (bench/graphs times
them on every graph job: its creation, a part's start, progress and end). ``services`` holds what
they mean; this module holds how they reach PostgreSQL:

- ``insert_with_tasks``: the row, its Procrastinate tasks and its event in one statement;
- ``save``: ``job.save()`` and its event in one statement, optionally only if the row is
  unchanged since it was read (``versioned_query``: the row with its ``xmin``);
- ``locked``: the row locked with its owner, compiled once (``neuronsite.compiled_query``)."""

from __future__ import annotations

import json
import threading
from typing import Any

from django.db import transaction
from django.db.backends.postgresql.psycopg_any import Jsonb

from neuronsite.compiled_query import compiled, sentinel_int
from neuronsite.errors import NotFound
from neuronsite.jobs.events import (
    NOTIFY_CHANNEL,
    job_event,
    job_event_sent_on_commit,
    layer_is_shared,
)
from neuronsite.jobs.models import Job

# The transaction's commit does not wait for its WAL to reach the disk (PostgreSQL's
# ``synchronous_commit = off`` for this transaction only): a crash of the database server may
# lose the last fraction of a second of such commits, never half of one.
_EPHEMERAL_SQL = "set_config('synchronous_commit', 'off', true)"

# Placeholders: {columns} / {values} are the job row's other columns and their parameters,
# {notify} the event's NOTIFY (or nothing, with a shared channel layer).
_CREATE_SQL = """
WITH new_job AS MATERIALIZED (
    SELECT nextval(pg_get_serial_sequence(%(table)s, %(pk_column)s)) AS id
), task AS MATERIALIZED (
    SELECT deferred.id, deferred.ord
    FROM new_job, unnest(procrastinate_defer_jobs_v1(ARRAY(
        SELECT ROW(d.queue_name, d.task_name, d.priority, d.lock, d.queueing_lock,
                   d.args || jsonb_build_object('job_id', new_job.id), d.scheduled_at
               )::procrastinate_job_to_defer_v1
        FROM unnest(%(tasks)s::procrastinate_job_to_defer_v1[]) WITH ORDINALITY AS d
        ORDER BY d.ordinality
    ))) WITH ORDINALITY AS deferred(id, ord)
), inserted AS (
    INSERT INTO {table} ({pk}, {columns}, {parts})
    SELECT new_job.id, {values}, (
        SELECT jsonb_agg(part.entry || jsonb_build_object('task_id', task.id) ORDER BY part.ord)
        FROM jsonb_array_elements(%(parts)s::jsonb) WITH ORDINALITY AS part(entry, ord)
        JOIN task ON task.ord = part.ord
    )
    FROM new_job
    RETURNING {pk}, {parts}
)
SELECT inserted.{pk}, inserted.{parts}{notify} FROM inserted
"""
_NOTIFY_SQL = (
    ", pg_notify(%(channel)s, jsonb_set(%(event)s::jsonb, '{{job,id}}', to_jsonb(inserted.{pk}))::text)"
)


def insert_with_tasks(job: Job) -> None:
    """``job_create``'s statement: the row (its id from its sequence, so that the tasks' arguments
    and the row can name each other in one statement), the tasks as Procrastinate's own defer
    function writes them (``procrastinate_defer_jobs_v1``, with the defaults each task is
    configured with), the event."""
    from procrastinate import types as procrastinate_types
    from procrastinate.contrib.django import app

    connection = transaction.get_connection()
    tasks = []
    for index, part in enumerate(job.parts):
        template = (
            app.tasks[part["task"]].configure(queue=part["queue"]).make_new_job(part=index, **part["kwargs"])
        )
        tasks.append(
            procrastinate_types.JobToDefer(
                queue_name=template.queue,
                task_name=template.task_name,
                priority=template.priority,
                lock=template.lock,
                queueing_lock=template.queueing_lock,
                args=Jsonb(template.task_kwargs),
                scheduled_at=template.scheduled_at,
            )
        )
    quote = connection.ops.quote_name
    meta = Job._meta
    fields = [f for f in meta.concrete_fields if f.name not in (meta.pk.name, "parts")]
    params: dict[str, Any] = {
        "table": quote(meta.db_table),
        "pk_column": meta.pk.column,
        "tasks": tasks,
        "parts": Jsonb(job.parts),
    }
    for i, field in enumerate(fields):
        params[f"v{i}"] = field.get_db_prep_save(field.pre_save(job, True), connection)
    event = job_event(job)  # its id is filled in by the statement (and below)
    notify = ""
    if not layer_is_shared():
        notify = _NOTIFY_SQL.format(pk=quote(meta.pk.column))
        params.update(channel=NOTIFY_CHANNEL, event=json.dumps(event))
    sql = _CREATE_SQL.format(
        table=quote(meta.db_table),
        pk=quote(meta.pk.column),
        parts=quote(meta.get_field("parts").column),
        columns=", ".join(quote(f.column) for f in fields),
        values=", ".join(f"%(v{i})s" for i in range(len(fields))),
        notify=notify,
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        pk, stored_parts = cursor.fetchone()[:2]
    job.pk = pk
    job.parts = stored_parts if isinstance(stored_parts, list) else json.loads(stored_parts)
    job._state.adding = False
    job._state.db = connection.alias
    event["job"]["id"] = pk
    job_event_sent_on_commit(event)


def _locked_query():
    """``_locked``'s lookup compiled once (``neuronsite.compiled_query``): every progress write
    runs it, and its compile (the job and its owner's columns, the lock) cost ~2 ms of CPU."""

    def build():
        sentinels = {"job": sentinel_int(1)}
        qs = Job.objects.select_for_update(of=("self",)).select_related("owner").filter(pk=sentinels["job"])
        return qs.order_by("pk")[:1], sentinels

    return compiled("jobs.locked", build)


def locked(job_id: int) -> Job:
    job = _locked_query().first(job=int(job_id))
    if job is None:
        raise NotFound(f"Job {job_id} not found.")
    return job


def versioned_query():
    """The job row with its owner and its row version (``xmin``), unlocked: ``job_part_start``
    writes it back only if the version is unchanged (``save(version=…)``)."""

    def build():
        from django.db.models.expressions import RawSQL

        sentinels = {"job": sentinel_int(1)}
        table = _quote(Job._meta.db_table)
        qs = (
            Job.objects.select_related("owner")
            .annotate(row_version=RawSQL(f"{table}.xmin::text", ()))
            .filter(pk=sentinels["job"])
        )
        return qs.order_by("pk")[:1], sentinels

    return compiled("jobs.versioned", build)


def _quote(name: str) -> str:
    return transaction.get_connection().ops.quote_name(name)


def save(job: Job, *, durable: bool = True, version: str | None = None) -> bool:
    """``job.save()`` and the job's event (``NOTIFY``; the channel layer on commit) in one statement (one
    round trip instead of two, and none of ``save()``'s per-call compile; bench/graphs: on every
    job's start, progress and end). With ``version`` (the row's ``xmin`` as read) the row is
    written only if no one wrote it since: returns False and writes nothing otherwise."""
    connection = transaction.get_connection()
    if not durable and connection.savepoint_ids:  # not the outermost atomic block
        durable = True
    quote = connection.ops.quote_name
    meta = Job._meta
    fields = [f for f in meta.concrete_fields if f is not meta.pk]
    params: dict[str, Any] = {"pk": job.pk}
    sets = []
    for i, field in enumerate(fields):
        params[f"v{i}"] = field.get_db_prep_save(field.pre_save(job, False), connection)
        sets.append(f"{quote(field.column)} = %(v{i})s")
    where = f"{quote(meta.pk.column)} = %(pk)s"
    if version is not None:
        where += " AND xmin::text = %(version)s"
        params["version"] = version
    event = job_event(job)
    extra = []
    if not layer_is_shared():
        extra.append("pg_notify(%(channel)s, %(event)s)")
        params.update(channel=NOTIFY_CHANNEL, event=json.dumps(event))
    if not durable:
        extra.append(_EPHEMERAL_SQL)
    sql = (
        f"WITH updated AS (UPDATE {quote(meta.db_table)} SET {', '.join(sets)} WHERE {where} "
        f"RETURNING xmin::text AS version) SELECT {', '.join(['updated.version', *extra])} FROM updated"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return False
    job.row_version = row[0]
    _known.job = job
    job_event_sent_on_commit(event)
    return True


# This thread's last written copy of a job row (with its version): a task's next write (progress,
# its end) changes that copy and writes it back if the row is unchanged, instead of reading it
# again under a lock first (bench/graphs: a round trip and a compile per write). A write by anyone
# else (a cancel, another part's progress) changes the version: the writer then reads the row.
_known = threading.local()


def recall(job_id: int) -> Job | None:
    """This thread's last written copy of job ``job_id`` (taken: a write that fails must not leave
    a half-changed copy behind), or None."""
    job = getattr(_known, "job", None)
    if job is None or job.pk != int(job_id):
        return None
    _known.job = None
    return job
