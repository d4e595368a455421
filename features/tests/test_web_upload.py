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


def _tar(folder, archive):
    import tarfile

    with tarfile.open(archive, "w:gz") as tf:
        tf.add(folder, arcname=".")
    return archive.read_bytes()


def test_an_owner_imports_a_neuronpedia_export_into_their_own_source_set(tmp_path, make_user, api_client):
    """Issue 12, item 5: not only staff. An archive goes into a source set its uploader owns; it may
    only touch that model / source set (other sets, other models, a source of another set are
    refused with a message naming the folder); the model is left alone and what the export
    credits to others is credited to the uploader, with no account made for their names."""
    import gzip
    import json as jsonlib

    from django.core.management import call_command

    from accounts.models import User
    from features.models import Activation, Explanation, Feature
    from features.tests.saedashboard_synth import samples_dir
    from models_app.models import Model, Source, SourceSet
    from neuronsite.jobs.models import Job

    clear_queue()
    call_command("import_saedashboard", str(samples_dir()), verbosity=0)
    model = Model.objects.get(name="tiny-pydoc")
    alice, bob = make_user(), make_user()
    ghost = make_user(username="ghost-author")
    feature = Feature.objects.filter(source__name="0-res-demo").order_by("index").first()
    Explanation.objects.create(feature=feature, description="words about ghosts", author=ghost)
    counts = (Feature.objects.count(), Activation.objects.count())
    export = tmp_path / "export"
    call_command("export_neuronpedia", str(export), model="tiny-pydoc", batch_size=20, verbosity=0)
    archive = _tar(export, tmp_path / "export.tar.gz")
    # the data goes; the model and its set stay, now owned by alice (so the model's row is hers to keep)
    Feature.objects.filter(source__model=model).delete()
    ghost.delete()
    SourceSet.objects.filter(model=model, name="res-demo").update(owner=alice)
    model_before = Model.objects.filter(pk=model.pk).values().get()
    users_before = set(User.objects.values_list("username", flat=True))
    url = "/api/jobs/upload-neuronpedia"

    def post(user, data=archive, **fields):
        api_client.force_authenticate(user)
        return api_client.post(
            url, {"archive": SimpleUploadedFile("export.tar.gz", data), **fields}, format="multipart"
        )

    whole = post(alice)  # the whole export (creates what it describes): staff only
    assert whole.status_code == 403 and "Give model and sourceSet" in whole.json()["error"]
    assert "sourceSet" in post(alice, model="tiny-pydoc").json()["error"]
    theirs = post(bob, model="tiny-pydoc", sourceSet="res-demo")
    assert theirs.status_code == 403 and "not yours" in theirs.json()["error"]
    elsewhere = post(bob, model="tiny-pydoc", sourceSet="res-bob")  # a new set of bob's: not what it touches
    assert elsewhere.status_code == 400
    assert elsewhere.json()["error"] == (
        "archive: tiny-pydoc/0-res-demo: the archive writes into tiny-pydoc/res-demo (0-res-demo); this upload "
        "may only import into tiny-pydoc/res-bob"
    )
    assert not SourceSet.objects.filter(name="res-bob").exists()  # nothing half-written

    # a folder claiming alice's set for a source of another set is refused too
    other = SourceSet.objects.create(model=model, name="res-other", owner=bob)
    Source.objects.create(model=model, source_set=other, name="3-res-other", layer=3)
    sneaky = tmp_path / "sneaky" / "tiny-pydoc" / "3-res-other"
    (sneaky / "features").mkdir(parents=True)
    (sneaky / "source.jsonl").write_text(jsonlib.dumps({"id": "3-res-other", "setName": "res-demo"}) + "\n")
    with gzip.open(sneaky / "features" / "batch-0.jsonl.gz", "wt") as fh:
        fh.write(jsonlib.dumps({"modelId": "tiny-pydoc", "layer": "3-res-other", "index": 0}) + "\n")
    refused = post(
        alice, _tar(tmp_path / "sneaky", tmp_path / "sneaky.tar.gz"), model="tiny-pydoc", sourceSet="res-demo"
    )
    assert refused.status_code == 400
    assert "source tiny-pydoc/3-res-other belongs to another source set" in refused.json()["error"]
    assert not Job.objects.exists()

    created = post(alice, model="tiny-pydoc", sourceSet="res-demo")
    assert created.status_code == 201, created.content
    job = Job.objects.get(pk=created.json()["job"]["id"])
    assert job.owner == alice and job.title.endswith("into tiny-pydoc/res-demo")
    worker = start_worker("owner-archive", tmp_path)
    try:
        wait_until(
            lambda: Job.objects.get(pk=job.pk).state in ("succeeded", "failed"),
            what="the owner's archive import",
            logs=[tmp_path / "owner-archive.log"],
        )
    finally:
        stop(worker)
    job.refresh_from_db()
    assert job.state == "succeeded", job.error
    assert (Feature.objects.count(), Activation.objects.count()) == counts
    explanation = Explanation.objects.get(description="words about ghosts")
    assert explanation.author == alice  # credited to the uploader
    assert set(User.objects.values_list("username", flat=True)) == users_before  # no "ghost-author" made
    assert Model.objects.filter(pk=model.pk).values().get() == model_before
    assert set(SourceSet.objects.filter(model=model).values_list("name", flat=True)) == {
        "res-demo",
        "res-other",
    }
