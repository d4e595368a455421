"""A source page's owner actions (issue 16, item 14): "Generate dashboards" queues the sharded
dashboard job (checked in the Job row and in Procrastinate's queue) and leads to the Jobs page;
"Upload features" leads to the Jobs page's upload form preset to the source set. Nobody else sees
the actions or can post them; bad input is named on the form and queues nothing."""

from __future__ import annotations

import json

from django.db import connection

from neuronsite.jobs.models import Job

URL = "/tiny/0-res-mine/dashboards/generate"
GOOD = {"corpus": "pydoc", "n_prompts": "48", "ctx_len": "16"}


def _queued(job_id: int) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT task_name, queue_name, args FROM procrastinate_jobs WHERE (args->>'job_id')::int = %s",
            [job_id],
        )
        return cursor.fetchall()


def test_owner_generates_dashboards_and_finds_the_upload(client, make_user, make_source, settings):
    owner = make_user()
    make_source(set_name="res-mine", owner=owner)
    client.force_login(owner)

    page = client.get("/tiny/0-res-mine").content.decode()
    assert f'action="{URL}"' in page and 'name="n_prompts"' in page
    assert 'href="/jobs/?model=tiny&amp;sourceSet=res-mine#upload"' in page
    jobs_page = client.get("/jobs/?model=tiny&sourceSet=res-mine").content.decode()
    assert 'type="text" name="model" required placeholder="e.g. gpt2-small" value="tiny"' in jobs_page
    assert 'value="res-mine"' in jobs_page
    assert (
        'href="/jobs/?model=tiny&amp;sourceSet=res-mine#upload"'
        in client.get("/tiny/res-mine").content.decode()
    )

    r = client.post(URL, GOOD)
    assert r.status_code == 302 and r["Location"] == "/jobs/"
    job = Job.objects.get()
    assert (job.kind, job.owner, job.state, job.unit) == ("dashboards", owner, "queued", "batches")
    (part,) = job.parts
    assert part["task"] == "inference.dashboards_shard"
    kwargs = part["kwargs"]
    assert (kwargs["model"], kwargs["source"], kwargs["features"]) == ("tiny", "0-res-mine", "0:64")
    assert (kwargs["corpus"], kwargs["n_prompts"], kwargs["ctx_len"]) == ("pydoc", 48, 16)
    ((task, queue, args),) = _queued(job.pk)
    assert (task, queue) == ("inference.dashboards_shard", settings.JOBS_GPU_QUEUE)
    args = json.loads(args) if isinstance(args, str) else args
    assert (args["n_prompts"], args["ctx_len"], args["corpus"], args["part"]) == (48, 16, "pydoc", 0)
    assert f"Queued job {job.pk}" in client.get("/jobs/").content.decode()


def test_bad_input_is_named_on_the_form_and_queues_nothing(client, make_user, make_source):
    owner = make_user()
    make_source(set_name="res-mine", owner=owner)
    client.force_login(owner)
    cases = [
        ({**GOOD, "n_prompts": "0"}, "Number of prompts must be at least 1."),
        ({**GOOD, "n_prompts": "100001"}, "Number of prompts must be at most 100000."),
        ({**GOOD, "ctx_len": "1"}, "Context length must be at least 2 tokens."),
        ({**GOOD, "corpus": "/etc/passwd"}, "not a file path"),
        ({**GOOD, "corpus": "data/corpus.txt"}, "not a file path"),
    ]
    for data, message in cases:
        r = client.post(URL, data)
        assert r.status_code == 400, data
        assert message in r.content.decode(), data
    assert not Job.objects.exists()


def test_others_see_no_actions_and_cannot_post(client, make_user, make_source):
    from accounts.models import User

    owner, other = make_user(), make_user()
    make_source(set_name="res-mine", owner=owner)
    make_source(set_name="res-hidden", owner=owner, visibility="PRIVATE")

    assert client.post(URL, GOOD).status_code == 302  # anonymous: sign in first
    assert 'id="owner-actions"' not in client.get("/tiny/0-res-mine").content.decode()
    client.force_login(other)
    assert 'id="owner-actions"' not in client.get("/tiny/0-res-mine").content.decode()
    assert 'id="owner-actions"' not in client.get("/tiny/res-mine").content.decode()
    assert client.post(URL, GOOD).status_code == 403
    assert client.get(URL).status_code == 403
    assert client.post("/tiny/0-res-hidden/dashboards/generate", GOOD).status_code == 404
    assert not Job.objects.exists()

    staff = User.objects.create_user(username="admin1", password="x-y-z-w-1234", is_staff=True)
    client.force_login(staff)
    assert 'id="owner-actions"' in client.get("/tiny/0-res-mine").content.decode()
    assert client.post(URL, GOOD).status_code == 302
    assert Job.objects.get().owner == staff
