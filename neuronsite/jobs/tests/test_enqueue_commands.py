"""``--enqueue`` on the commands that ``make run`` and curators use (issue 12: "management commands
... can either run inline or enqueue"): ``seed_demo --enqueue`` queues one public demo job whose
progress the home page shows, and never a second one while it is pending; ``generate_dashboards
--enqueue --shards N`` queues one task per shard on the GPU queue. No worker runs here: what is
checked is the job row, its Procrastinate tasks and what the pages and the API show. Also the Job
admin: list, change page and the cancel action."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from neuronsite.jobs.testing import clear_queue


def _tasks(job) -> list[tuple[str, str, str]]:
    from django.db import connection

    ids = [part["task_id"] for part in type(job).objects.get(pk=job.pk).parts]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT task_name, queue_name, status FROM procrastinate_jobs WHERE id = ANY(%s) ORDER BY id",
            [ids],
        )
        return cursor.fetchall()


@pytest.fixture
def queue(db):
    clear_queue()
    yield
    clear_queue()


def test_seed_demo_enqueue_queues_one_public_demo_job_shown_on_the_home_page(
    queue, client, settings, tmp_path
):
    from neuronsite.jobs.models import Job

    out = StringIO()
    call_command("seed_demo", "--enqueue", "--data-dir", str(tmp_path), stdout=out)
    job = Job.objects.get()
    assert f"Queued the demo as job {job.pk}" in out.getvalue()
    assert job.kind == "demo" and job.owner is None and job.state == "queued"
    assert _tasks(job) == [("inference.demo_seed", settings.JOBS_GPU_QUEUE, "todo")]

    again = StringIO()
    call_command("seed_demo", "--enqueue", "--data-dir", str(tmp_path), stdout=again)
    assert f"Demo job {job.pk} is already queued" in again.getvalue()
    assert Job.objects.count() == 1

    home = client.get("/").content.decode()  # anonymous: the demo job is public
    assert job.title in home
    assert [j["id"] for j in client.get("/api/jobs").json()["jobs"]] == [job.pk]


def test_generate_dashboards_enqueue_queues_one_task_per_shard(queue, make_source, make_user, settings):
    from neuronsite.jobs.models import Job

    source = make_source(set_name="res-enq")
    out = StringIO()
    call_command(
        "generate_dashboards",
        "--model",
        source.model.name,
        "--source",
        source.name,
        "--enqueue",
        "--shards",
        "2",
        "--batch-size",
        "16",
        "--features-per-pass",
        "16",
        "--no-umap",
        stdout=out,
    )
    job = Job.objects.get()
    assert f"Queued job {job.pk}" in out.getvalue() and "run_jobs_worker" in out.getvalue()
    assert job.state == "queued" and len(job.parts) == 2 and job.total == 4  # d_sae 64 in batches of 16
    tasks = _tasks(job)
    assert len(tasks) == 2 and {(queue, status) for _, queue, status in tasks} == {
        (settings.JOBS_GPU_QUEUE, "todo")
    }

    with pytest.raises(CommandError, match="shards"):
        call_command(
            "generate_dashboards",
            "--model",
            source.model.name,
            "--source",
            source.name,
            "--enqueue",
            "--shards",
            "0",
        )
    assert Job.objects.count() == 1


def test_the_job_admin_lists_shows_and_cancels_jobs(queue, client, make_user, make_source):
    """The admin (issue 12: "a Jobs page ... and the admin"): list, change page, cancel action."""
    from inference.dashboards.sharding import dashboards_job_create

    staff = make_user(is_staff=True, is_superuser=True)
    job = dashboards_job_create(
        source=make_source(set_name="res-adm"), owner=staff, batch_size=16, features_per_pass=16, umap=False
    )
    client.force_login(staff)
    listing = client.get("/admin/jobs/job/")
    assert listing.status_code == 200 and job.title in listing.content.decode()
    change = client.get(f"/admin/jobs/job/{job.pk}/change/")
    assert change.status_code == 200 and job.title in change.content.decode()
    response = client.post(
        "/admin/jobs/job/", {"action": "cancel_jobs", "_selected_action": [job.pk]}, follow=True
    )
    assert f"Job {job.pk}: cancel requested." in response.content.decode()
    job.refresh_from_db()
    assert job.state == "cancelled" and all(t[2] == "cancelled" for t in _tasks(job))
