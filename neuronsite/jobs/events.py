"""Live job events: every job write (``neuronsite.jobs.rows``) publishes the job's state in its
own statement and calls ``job_event_sent_on_commit``; after the transaction commits the state goes
to the channel-layer groups that ``JobConsumer`` connections joined (Zulip's
``send_event_on_commit``). With the in-memory layer (one machine, no ``REDIS_URL``) the event is
also published with PostgreSQL ``NOTIFY`` so that a worker process reaches the web process
(see ``neuronsite.jobs.bridge``)."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction

NOTIFY_CHANNEL = "neuronsite_jobs"
GROUP_PUBLIC = "jobs.public"
GROUP_STAFF = "jobs.staff"


def group_for_user(user_id: int) -> str:
    return f"jobs.user.{user_id}"


def job_payload(job) -> dict:
    eta = job.eta_seconds
    return {
        "id": job.pk,
        "kind": job.kind,
        "title": job.title,
        "owner": job.owner.username if job.owner_id and job.owner else None,
        "state": job.state,
        "unit": job.unit,
        "done": job.done,
        "total": job.total,
        "percent": job.percent,
        "rate": round(job.rate, 3) if job.rate else None,
        "eta_seconds": round(eta, 1) if eta is not None else None,
        "log": job.log.splitlines()[-10:],
        "results": job.results,
        "error": job.error,
        "cancel_requested": job.cancel_requested,
        "created_at": job.created_at.isoformat() if job.created_at else None,
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
    }


def job_groups(job) -> list[str]:
    groups = [GROUP_STAFF]
    if job.owner_id:
        groups.append(group_for_user(job.owner_id))
    if job.public:
        groups.append(GROUP_PUBLIC)
    return groups


def layer_is_shared() -> bool:
    backend = settings.CHANNEL_LAYERS.get("default", {}).get("BACKEND", "")
    return "InMemory" not in backend


def job_event(job) -> dict:
    return {"type": "job.update", "job": job_payload(job), "groups": job_groups(job)}


def job_event_sent_on_commit(event: dict) -> None:
    """The channel-layer half of a job write: the writing statement itself published ``event``
    with ``NOTIFY`` (``rows.save``, ``rows.insert_with_tasks``: delivered on commit, dropped on
    rollback); this hands it to the channel layer once the transaction commits."""
    transaction.on_commit(lambda: group_send(event))


def group_send(event: dict) -> None:
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    if layer is None:
        return
    groups = event["groups"]
    if not layer_is_shared():
        # The in-memory layer sends only to this process's members: with none in these groups (a
        # job worker, a command) there is nothing to send, so skip the async_to_sync hop (a thread
        # and an event loop per event; graphs: bench/graphs counts it in every job).
        members = getattr(layer, "groups", None)
        if isinstance(members, dict):
            groups = [g for g in groups if members.get(g)]
    message = {"type": event["type"], "job": event["job"]}
    for group in groups:
        async_to_sync(layer.group_send)(group, message)


async def group_send_async(event: dict) -> None:
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    message = {"type": event["type"], "job": event["job"]}
    for group in event["groups"]:
        await layer.group_send(group, message)
