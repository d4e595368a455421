"""The Jobs API, page and socket through their public interfaces (no worker: these check who sees
and may change what, the error shapes, and that progress reaches a socket after commit)."""

from __future__ import annotations

import asyncio
import threading

import pytest


@pytest.fixture
def job_for(make_source):
    from inference.dashboards.sharding import dashboards_job_create

    def make(owner=None, **kw):
        source = make_source(set_name=f"res-{owner.username if owner else 'none'}{kw.pop('suffix', '')}")
        return dashboards_job_create(
            source=source, owner=owner, batch_size=16, features_per_pass=16, umap=False, **kw
        )

    return make


def test_jobs_are_visible_to_their_owner_and_staff_only(job_for, make_user, api_client):
    alice, bob, staff = make_user(), make_user(), make_user(is_staff=True)
    job = job_for(alice, shards=2)
    assert job.total == 4 and len(job.parts) == 2  # d_sae 64 in batches (and passes) of 16, two shards
    api_client.force_authenticate(alice)
    assert [j["id"] for j in api_client.get("/api/jobs").json()["jobs"]] == [job.pk]
    body = api_client.get(f"/api/jobs/{job.pk}").json()["job"]
    assert body["state"] == "queued" and body["owner"] == alice.username and body["unit"] == "batches"
    api_client.force_authenticate(bob)
    assert api_client.get("/api/jobs").json()["jobs"] == []
    missing = api_client.get(f"/api/jobs/{job.pk}")
    assert missing.status_code == 404 and "not found" in missing.json()["error"]
    assert api_client.post(f"/api/jobs/{job.pk}/cancel").status_code == 404
    api_client.force_authenticate(staff)
    assert [j["id"] for j in api_client.get("/api/jobs").json()["jobs"]] == [job.pk]
    api_client.force_authenticate(None)
    assert api_client.get("/api/jobs").json()["jobs"] == []
    anon = api_client.post(f"/api/jobs/{job.pk}/cancel")
    assert anon.status_code == 401 and "error" in anon.json()


def test_cancel_before_start_cancels_its_queued_tasks_and_retry_queues_them_again(
    job_for, make_user, api_client
):
    from django.db import connection

    alice = make_user()
    job = job_for(alice, shards=2)
    api_client.force_authenticate(alice)
    bad = api_client.post(f"/api/jobs/{job.pk}/retry")
    assert bad.status_code == 400 and "only failed or cancelled jobs" in bad.json()["error"]
    cancelled = api_client.post(f"/api/jobs/{job.pk}/cancel").json()["job"]
    assert cancelled["state"] == "cancelled" and cancelled["finished_at"]
    ids = [p["task_id"] for p in type(job).objects.get(pk=job.pk).parts]
    with connection.cursor() as cursor:
        cursor.execute("SELECT status FROM procrastinate_jobs WHERE id = ANY(%s)", [ids])
        assert {row[0] for row in cursor.fetchall()} == {"cancelled"}
    again = api_client.post(f"/api/jobs/{job.pk}/cancel")
    assert again.status_code == 400 and "already cancelled" in again.json()["error"]
    retried = api_client.post(f"/api/jobs/{job.pk}/retry").json()["job"]
    assert retried["state"] == "queued" and retried["error"] == ""
    new_ids = [p["task_id"] for p in type(job).objects.get(pk=job.pk).parts]
    assert set(new_ids).isdisjoint(ids)
    with connection.cursor() as cursor:
        cursor.execute("SELECT status, queue_name FROM procrastinate_jobs WHERE id = ANY(%s)", [new_ids])
        assert set(cursor.fetchall()) == {("todo", "gpu")}


def test_bad_input_for_a_generation_job_names_the_field(make_source):
    from inference.dashboards.sharding import dashboards_job_create
    from neuronsite.errors import ValidationFailed
    from neuronsite.jobs.models import Job

    source = make_source()
    with pytest.raises(ValidationFailed, match="outside 0:64") as exc:
        dashboards_job_create(source=source, features="10:999")
    assert exc.value.field == "features"
    with pytest.raises(ValidationFailed, match="at least 1"):
        dashboards_job_create(source=source, shards=0)
    assert not Job.objects.exists()


def test_shards_cut_on_pass_windows():
    from inference.dashboards.sharding import shard_ranges

    assert shard_ranges(0, 48, unit=8, shards=4) == [(0, 16), (16, 32), (32, 40), (40, 48)]
    assert shard_ranges(0, 10, unit=8, shards=4) == [(0, 8), (8, 10)]
    assert shard_ranges(5, 6, unit=8, shards=3) == [(5, 6)]


def test_jobs_page_lists_own_jobs_with_progress_bars_and_buttons(
    job_for, make_user, client, django_assert_max_num_queries
):
    alice = make_user()
    for i in range(3):
        job_for(alice, suffix=str(i))
    client.force_login(alice)
    with django_assert_max_num_queries(8):
        html = client.get("/jobs/").content.decode()
    assert html.count('class="job-bar"') == 3 and html.count("job-cancel") == 3
    assert client.get("/").status_code == 200
    response = client.post(f"/jobs/{job_for(alice, suffix='x').pk}/cancel", follow=True)
    assert "cancel requested" in response.content.decode()


def test_progress_reaches_the_owners_socket_after_commit(transactional_db, job_for, make_user):
    from channels.testing import WebsocketCommunicator

    from neuronsite.jobs import services
    from neuronsite.jobs.consumers import JobConsumer

    alice, bob = make_user(), make_user()
    job = job_for(alice)

    async def scenario():
        sockets = {}
        for user in (alice, bob):
            ws = WebsocketCommunicator(JobConsumer.as_asgi(), "/ws/jobs/")
            ws.scope["user"] = user
            assert (await ws.connect())[0]
            assert (await ws.receive_json_from(timeout=10))["type"] == "ready"
            sockets[user.username] = ws

        def report():
            services.job_part_start(job_id=job.pk, part=0)
            services.job_progress(job_id=job.pk, part=0, done=3)

        thread = threading.Thread(target=report)
        thread.start()
        await asyncio.get_running_loop().run_in_executor(None, thread.join)
        ws = sockets[alice.username]
        seen = []
        while not seen or seen[-1]["done"] != 3:
            frame = await ws.receive_json_from(timeout=10)
            assert frame["type"] == "job" and frame["job"]["id"] == job.pk
            seen.append(frame["job"])
        assert await sockets[bob.username].receive_nothing(timeout=0.3)
        for s in sockets.values():
            await s.disconnect()
        return seen

    seen = asyncio.run(scenario())
    assert seen[-1]["state"] == "running" and seen[-1]["percent"] == 75
    assert "part 1/1 started" in "\n".join(seen[-1]["log"])
