"""A job whose task really fails (issue 12: "failed jobs show their error and can be retried"): a
real worker process runs a web upload whose batch file is broken; the job ends failed with the
importer's message on the API and the Jobs page; a retry from the API queues it again and the
worker runs it a second time (it fails again: logged twice). No torch: the importer fails first."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from features.tests.saedashboard_synth import write_batches
from neuronsite.jobs.testing import clear_queue, start_worker, stop, wait_until

pytestmark = pytest.mark.django_db(transaction=True)

MESSAGE = "7 values for 8 tokens"


def _job(job_id):
    from neuronsite.jobs.models import Job

    return Job.objects.get(pk=job_id)


def test_a_failed_job_shows_its_error_and_a_retry_runs_it_again(make_user, api_client, client, tmp_path):
    from models_app.models import Model

    clear_queue()
    Model.objects.create(name="retry-model", layers=4)
    (path,) = write_batches(tmp_path / "in", n_files=1, features_per_file=2, n_acts=2, n_tokens=8)
    doc = json.loads(path.read_text())
    doc["features"][1]["activations"][0]["values"].pop()
    path.write_text(json.dumps(doc))
    alice = make_user()
    api_client.force_authenticate(alice)
    created = api_client.post(
        "/api/jobs/upload-saedashboard",
        {
            "model": "retry-model",
            "sourceSet": "res-retry",
            "files": [SimpleUploadedFile(path.name, path.read_bytes(), content_type="application/json")],
        },
        format="multipart",
    )
    assert created.status_code == 201, created.content
    job_id = created.json()["job"]["id"]
    worker = start_worker("fails", tmp_path)
    try:
        wait_until(lambda: _job(job_id).state == "failed", what="the failure", logs=[tmp_path / "fails.log"])
        body = api_client.get(f"/api/jobs/{job_id}").json()["job"]
        assert body["state"] == "failed" and MESSAGE in body["error"], body
        client.force_login(alice)
        assert MESSAGE in client.get("/jobs/").content.decode()

        retried = api_client.post(f"/api/jobs/{job_id}/retry")
        assert retried.status_code == 200, retried.json()
        assert retried.json()["job"]["state"] == "queued" and retried.json()["job"]["error"] == ""
        wait_until(
            lambda: _job(job_id).log.count("part 1 failed") == 2,
            what="the retried task to run and fail again",
            logs=[tmp_path / "fails.log"],
        )
    finally:
        stop(worker)
        clear_queue()
    job = _job(job_id)
    assert job.state == "failed" and MESSAGE in job.error
