"""Web upload: SAEDashboard batch files posted to ``/api/jobs/upload-saedashboard`` become an import
job that a real worker runs, with the command's validation and messages."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from features.tests.saedashboard_synth import write_batches
from neuronsite.jobs.testing import clear_queue, start_worker, stop, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def _files(paths):
    return [SimpleUploadedFile(p.name, p.read_bytes(), content_type="application/json") for p in paths]


def test_upload_checks_its_input_and_imports_through_a_job(tmp_path, make_user, api_client):
    from features.models import Feature
    from models_app.models import Model, SourceSet
    from neuronsite.jobs.models import Job

    clear_queue()
    Model.objects.create(name="synth-model", layers=4)
    paths = write_batches(tmp_path / "in", n_files=2, features_per_file=4, n_acts=3, n_tokens=8)
    alice, bob = make_user(), make_user()
    url = "/api/jobs/upload-saedashboard"

    def post(user, **data):
        api_client.force_authenticate(user)
        return api_client.post(url, data, format="multipart")

    assert post(None, model="synth-model", sourceSet="res-up", files=_files(paths)).status_code == 401
    bad = post(alice, model="synth-model", sourceSet="res-up", files=[SimpleUploadedFile("x.txt", b"{}")])
    assert (
        bad.status_code == 400 and bad.json()["error"] == "files: x.txt: not a SAEDashboard batch-N.json file"
    )
    assert post(alice, model="nope", sourceSet="res-up", files=_files(paths)).status_code == 404
    assert "sourceSet" in post(alice, model="synth-model", files=_files(paths)).json()["error"]
    assert not Job.objects.exists() and not SourceSet.objects.exists()

    created = post(alice, model="synth-model", sourceSet="res-up", files=_files(paths))
    assert created.status_code == 201, created.content
    job_id = created.json()["job"]["id"]
    source_set = SourceSet.objects.get(name="res-up")
    assert source_set.owner == alice and source_set.visibility == "PRIVATE"
    denied = post(bob, model="synth-model", sourceSet="res-up", files=_files(paths))
    assert denied.status_code == 403 and "not yours" in denied.json()["error"]

    doc = json.loads(paths[1].read_text())
    doc["features"][2]["activations"][1]["values"].pop()
    paths[1].write_text(json.dumps(doc))
    broken = post(alice, model="synth-model", sourceSet="res-up", files=_files(paths)).json()["job"]["id"]

    worker = start_worker("upload", tmp_path)
    try:
        wait_until(
            lambda: not Job.objects.filter(state__in=("queued", "running")).exists(),
            what="the imports",
            logs=[tmp_path / "upload.log"],
        )
    finally:
        stop(worker)
    good, bad_job = Job.objects.get(pk=job_id), Job.objects.get(pk=broken)
    assert good.state == "succeeded" and (good.done, good.total) == (2, 2), good.error
    assert Feature.objects.filter(source__source_set=source_set).count() == 8
    assert bad_job.state == "failed"
    assert "batch-1.json" in bad_job.error and "activations[1].values" in bad_job.error
    assert "7 values for 8 tokens" in bad_job.error


def test_a_neuronpedia_export_archive_is_imported_by_a_job_for_staff(tmp_path, make_user, api_client):
    import tarfile

    from django.core.management import call_command

    from features.models import Activation, Feature
    from features.tests.saedashboard_synth import samples_dir
    from models_app.models import Model
    from neuronsite.jobs.models import Job

    clear_queue()
    call_command("import_saedashboard", str(samples_dir()), verbosity=0)
    counts = (Feature.objects.count(), Activation.objects.count())
    export = tmp_path / "export"
    call_command("export_neuronpedia", str(export), model="tiny-pydoc", batch_size=20, verbosity=0)
    archive = tmp_path / "export.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        tf.add(export, arcname=".")
    Model.objects.all().delete()
    staff, alice = make_user(is_staff=True), make_user()
    url = "/api/jobs/upload-neuronpedia"

    def post(user, name, data):
        api_client.force_authenticate(user)
        return api_client.post(url, {"archive": SimpleUploadedFile(name, data)}, format="multipart")

    denied = post(alice, "export.tar.gz", archive.read_bytes())
    assert denied.status_code == 403 and "staff" in denied.json()["error"]
    bad = post(staff, "export.rar", b"x")
    assert bad.status_code == 400 and bad.json()["error"].startswith("archive: ")
    garbage = post(staff, "export.tar.gz", b"not a tar")
    assert garbage.status_code == 400 and "not a readable archive" in garbage.json()["error"]
    created = post(staff, "export.tar.gz", archive.read_bytes())
    assert created.status_code == 201, created.content
    job_id = created.json()["job"]["id"]
    worker = start_worker("archive", tmp_path)
    try:
        wait_until(
            lambda: Job.objects.get(pk=job_id).state in ("succeeded", "failed"),
            what="the archive import",
            logs=[tmp_path / "archive.log"],
        )
    finally:
        stop(worker)
    job = Job.objects.get(pk=job_id)
    assert job.state == "succeeded", job.error
    assert job.done == job.total > 0
    assert (Feature.objects.count(), Activation.objects.count()) == counts
