"""Graph generation as a job, through the API: the synchronous answer run inline when no worker is
alive (still a Job with circuit-tracer's phases as progress), the viewer's queued job, the
"GPUs Busy" answer, a failing job (failed with its reason, nothing written), and the same
API waiting for a real worker process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from graphs.models import GraphMetadata
from neuronsite.jobs.models import Job


def _task_status(job: Job) -> str:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT status FROM procrastinate_jobs WHERE id = %s", [job.parts[0]["task_id"]])
        return cursor.fetchone()[0]


def test_generate_without_a_worker_runs_the_job_inline_with_phase_progress(graph_model, api_user):
    user, client = api_user()
    response = client.post(
        "/api/graph/generate",
        {"modelId": "gtiny", "prompt": "The quick brown fox", "slug": "inl"},
        format="json",
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["url"].endswith("/gtiny/graph?slug=inl") and body["numNodes"] > 0
    assert body["s3url"].endswith("/api/graph/gtiny/inl/json")
    job = Job.objects.get(pk=body["jobId"])
    assert (job.kind, job.state, job.owner, job.unit) == ("graph", "succeeded", user, "‰")
    assert (job.done, job.total) == (1000, 1000) and job.error == ""
    stages = [line.split(" ", 1)[1] for line in job.log.splitlines()]
    order = ["loading model", "precomputed", "forward pass", "logit attribution", "feature attribution"]
    order += ["pruning", "graph files", "done"]
    seen = [next(i for i, s in enumerate(stages) if s.startswith(stage)) for stage in order]
    assert seen == sorted(seen), stages  # circuit-tracer's phases, in order
    assert any("feature nodes" in s for s in stages)
    assert job.results[0]["url"] == "/gtiny/graph?slug=inl" and job.results[0]["numNodes"] == body["numNodes"]
    assert _task_status(job) == "cancelled"  # taken back from the queue: no worker runs it twice
    assert client.get(f"/api/jobs/{job.pk}").json()["job"]["state"] == "succeeded"


def test_a_failing_generation_ends_failed_with_its_reason_and_writes_nothing(graph_model, api_user, settings):
    _, client = api_user()
    settings.GRAPH_MAX_PROMPT_TOKENS = 6  # checked by the engine, inside the job
    response = client.post("/api/graph/generate", {"modelId": "gtiny", "prompt": "word " * 20}, format="json")
    assert response.status_code == 400 and response.json()["error"] == "Prompt Too Long"
    job = Job.objects.get(kind="graph")
    assert job.state == "failed" and job.error == "Prompt Too Long" and job.finished_at
    assert "failed: Prompt Too Long" in job.log
    assert not GraphMetadata.objects.exists()
    graphs_dir = Path(settings.MEDIA_ROOT) / "graphs"
    assert not graphs_dir.exists() or not any(graphs_dir.rglob("*.json.gz"))


def test_viewer_job_is_queued_and_a_full_gpu_queue_answers_503_with_retry_after(
    graph_model, api_user, settings, client
):
    from neuronsite.jobs.testing import clear_queue

    clear_queue()  # the queue depth below counts only this test's tasks
    user, api = api_user()
    anonymous = client.post(
        "/api/graph/generate-job", {"modelId": "gtiny", "prompt": "hi"}, content_type="application/json"
    )
    assert anonymous.status_code in (401, 403) and "error" in anonymous.json()
    bad = api.post(
        "/api/graph/generate-job", {"modelId": "gtiny", "prompt": "hi", "maxNLogits": 99}, format="json"
    )
    assert bad.status_code == 400 and "maxNLogits" in json.dumps(bad.json())
    assert not Job.objects.exists()

    queued = api.post(
        "/api/graph/generate-job", {"modelId": "gtiny", "prompt": "hi", "slug": "q1"}, format="json"
    )
    assert queued.status_code == 202, queued.json()
    body = queued.json()
    assert body["job"]["state"] == "queued" and body["job"]["unit"] == "‰" and body["job"]["total"] == 1000
    assert body["url"].endswith("/gtiny/graph?slug=q1")
    job = Job.objects.get(pk=body["job"]["id"])
    assert job.owner == user and _task_status(job) == "todo"
    taken = api.post(
        "/api/graph/generate-job", {"modelId": "gtiny", "prompt": "hi", "slug": "q1"}, format="json"
    )
    assert taken.status_code == 202  # the slug is only taken once a graph is stored

    settings.GRAPH_GPU_QUEUE_LIMIT = 2
    for path in ("/api/graph/generate", "/api/graph/generate-job"):
        busy = api.post(path, {"modelId": "gtiny", "prompt": "hi"}, format="json")
        assert busy.status_code == 503, busy.json()
        assert busy.json()["error"] == "GPUs Busy" and "2 GPU tasks" in busy.json()["message"]
        assert 5 <= int(busy["Retry-After"]) <= 600
    assert Job.objects.count() == 2 and not GraphMetadata.objects.exists()

    # Cancelling one frees a place in the queue.
    assert api.post(f"/api/jobs/{job.pk}/cancel").json()["job"]["state"] == "cancelled"
    again = api.post("/api/graph/generate-job", {"modelId": "gtiny", "prompt": "hi"}, format="json")
    assert again.status_code == 202


@pytest.mark.django_db(transaction=True)
def test_with_a_worker_the_api_waits_for_the_job_and_reports_its_failure(
    graph_model, api_user, tmp_path, settings
):
    from neuronsite.jobs.testing import clear_queue, start_worker, stop, wait_until

    clear_queue()
    user, client = api_user()
    media = tmp_path / "worker-media"
    worker = start_worker("graphs-w1", tmp_path, MEDIA_ROOT=str(media), GRAPH_MAX_PROMPT_TOKENS="12")
    log = [tmp_path / "graphs-w1.log"]
    try:
        from graphs.services.jobs import workers_alive

        wait_until(workers_alive, what="the worker's heartbeat", logs=log, timeout=120)
        response = client.post(
            "/api/graph/generate", {"modelId": "gtiny", "prompt": "Hello there", "slug": "wk"}, format="json"
        )
        assert response.status_code == 200, response.json()
        job = Job.objects.get(pk=response.json()["jobId"])
        assert job.state == "succeeded"  # the worker ran it
        # Procrastinate marks its own row after the task returns, in the worker's next transaction:
        # it may still read "doing" when the API has answered from the job's row
        wait_until(lambda: _task_status(job) == "succeeded", what="Procrastinate's row", logs=log, timeout=60)
        graph = GraphMetadata.objects.get(slug="wk")
        assert graph.owner == user and (media / graph.file.name).exists()
        assert response.json()["numNodes"] > 0

        failing = client.post(
            "/api/graph/generate", {"modelId": "gtiny", "prompt": "word " * 20}, format="json"
        )
        assert failing.status_code == 400 and failing.json()["error"] == "Prompt Too Long", failing.json()
        failed = Job.objects.get(pk=failing.json()["jobId"])
        assert failed.state == "failed" and failed.error == "Prompt Too Long"
        assert GraphMetadata.objects.count() == 1

        _still_running_answers_202_with_a_job_url_for_that_caller_only(client, settings, log)
    finally:
        stop(worker)
        clear_queue()


def _still_running_answers_202_with_a_job_url_for_that_caller_only(owner_client, settings, log):
    """The 202 answer, made deterministic: the test holds a lock on the graph table, so the worker
    starts the job but cannot store its graph until the test lets go (no clock involved: the API
    answers 202 the moment it sees the job running, ``GRAPH_GENERATE_WAIT_SECONDS = 0``)."""
    import psycopg
    from rest_framework.test import APIClient

    from neuronsite.jobs.bridge import _connection_params
    from neuronsite.jobs.testing import wait_until

    settings.GRAPH_GENERATE_WAIT_SECONDS = 0
    settings.GRAPH_GENERATE_PICKUP_SECONDS = 120
    anonymous, stranger = APIClient(), APIClient()
    lock = psycopg.connect(**_connection_params())
    try:
        lock.execute(f"LOCK TABLE {GraphMetadata._meta.db_table} IN EXCLUSIVE MODE")
        response = anonymous.post(
            "/api/graph/generate",
            {"modelId": "gtiny", "prompt": "Hello again", "slug": "held"},
            format="json",
        )
        assert response.status_code == 202, response.json()
        body = response.json()
        assert body["url"].endswith("/gtiny/graph?slug=held") and "still running" in body["message"]
        job_url = body["jobUrl"].split("://", 1)[1].split("/", 1)[1]
        assert job_url.startswith(f"api/graph/job/{body['jobId']}?token=")
        seen = anonymous.get(f"/{job_url}")
        assert seen.status_code == 200 and seen.json()["job"]["state"] == "running", seen.json()
        # Others cannot read it: not without the token, not with a wrong one, not through /api/jobs.
        assert stranger.get(f"/api/graph/job/{body['jobId']}").status_code == 404
        assert stranger.get(f"/api/graph/job/{body['jobId']}?token=x{job_url[-20:]}").status_code == 404
        assert stranger.get(f"/api/jobs/{body['jobId']}").status_code == 404
        assert owner_client.get(f"/api/graph/job/{body['jobId']}").status_code == 404
        assert not GraphMetadata.objects.filter(slug="held").exists()
    finally:
        lock.rollback()  # let the worker store the graph
        lock.close()
    job = wait_until(
        lambda: Job.objects.filter(pk=body["jobId"], state="succeeded").first(), what="the held job", logs=log
    )
    assert job.owner is None and GraphMetadata.objects.get(slug="held").owner is None
    done = anonymous.get(f"/{job_url}").json()["job"]
    assert done["state"] == "succeeded" and done["results"][0]["url"] == "/gtiny/graph?slug=held"


def test_job_mode_without_a_worker_withdraws_the_job_and_answers_gpus_busy(graph_model, api_user, settings):
    _, client = api_user()
    settings.GRAPH_GENERATE_MODE = "job"  # never run in the web process
    settings.GRAPH_GENERATE_WAIT_SECONDS = 0
    response = client.post("/api/graph/generate", {"modelId": "gtiny", "prompt": "hi"}, format="json")
    assert response.status_code == 503 and response.json()["error"] == "GPUs Busy"
    assert int(response["Retry-After"]) >= 5
    job = Job.objects.get(kind="graph")
    assert job.state == "cancelled" and "no GPU worker took the job" in job.error
    assert _task_status(job) == "cancelled" and not GraphMetadata.objects.exists()


def test_a_failing_progress_listener_stops_the_generation_and_frees_the_engine(graph_model):
    """What a cancelled job relies on: the listener's exception stops circuit-tracer at its next
    batch, reaches the caller, writes nothing, and leaves the cached model as it was."""
    from graphs.services import graph_generate
    from inference.graphs.engine import _cache

    class Stop(Exception):
        pass

    seen: list[str] = []

    def listener(stage: str, fraction: float, detail: str) -> None:
        seen.append(stage)
        if stage == "feature attribution":
            raise Stop()

    with pytest.raises(Stop):
        graph_generate(
            user=None, model_name="gtiny", prompt="The quick brown fox", slug="s1", progress=listener
        )
    assert seen[-1] == "feature attribution" and "pruning" not in seen
    assert not GraphMetadata.objects.exists()
    (model,) = _cache.values()
    assert "setup_attribution" not in vars(model) and "run_forward_pass" not in vars(model)
    graph = graph_generate(user=None, model_name="gtiny", prompt="The quick brown fox", slug="s2")
    assert graph.num_nodes > 0
