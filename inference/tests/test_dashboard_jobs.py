"""Dashboard generation as a job on real worker processes (``manage.py run_jobs_worker``):
sharded over two workers = a single run; a SIGKILLed worker's shard resumes on another with the
same rows; a cancelled job stops within one batch and can be retried."""

from __future__ import annotations

import signal

import pytest
from django.core.management import call_command

from neuronsite.jobs.testing import clear_queue, start_worker, stop, wait_until

HOOK = "blocks.1.hook_resid_pre"
D_SAE = 48


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    from inference.testing import build_tiny_model, build_tiny_sae

    base = tmp_path_factory.mktemp("jobdash")
    model = build_tiny_model(base / "model", n_ctx=32, vocab_size=300)
    sae = build_tiny_sae(base / "sae", d_in=32, d_sae=D_SAE, hook_name=HOOK, model_name="job-tiny")
    return model, sae


@pytest.fixture
def sources(transactional_db, folders):
    from inference.testing import register_tiny

    clear_queue()
    out = {}
    for name in ("ref", "jobs"):
        _, _, (source,) = register_tiny(
            model_name="job-tiny",
            model_folder=folders[0],
            sae_folders={1: folders[1]},
            set_name=f"res-{name}",
        )
        out[name] = source
    return out


def _rows(source) -> list[tuple]:
    """Every stored value of a source's dashboards, without ids and source names."""
    from features.models import Activation, Feature

    skip = {"id", "source", "source_id", "created_at", "updated_at"}
    f_fields = [f.attname for f in Feature._meta.concrete_fields if f.attname not in skip]
    a_fields = [f.attname for f in Activation._meta.concrete_fields if f.attname not in skip | {"feature_id"}]
    feats = list(Feature.objects.filter(source=source).order_by("index").values_list(*f_fields))
    acts = sorted(
        Activation.objects.filter(feature__source=source).values_list("feature__index", *a_fields), key=repr
    )
    return [*feats, *acts]


ARGS = {"n_prompts": 24, "ctx_len": 16, "batch_size": 8, "features_per_pass": 8, "umap": False}


def _reference(source, batch: int = 8):
    call_command(
        "generate_dashboards", "--model", "job-tiny", "--source", source.name, "--n-prompts", "24",
        "--ctx-len", "16", "--batch-size", str(batch), "--features-per-pass", str(batch), "--no-umap", verbosity=0,
    )  # fmt: skip
    return _rows(source)


def _job(job_id):
    from neuronsite.jobs.models import Job

    return Job.objects.get(pk=job_id)


def test_four_shards_on_two_workers_give_the_rows_of_a_single_run(sources, tmp_path):
    from features.models import ImportLedger
    from inference.dashboards.sharding import dashboards_job_create

    expected = _reference(sources["ref"])
    job = dashboards_job_create(source=sources["jobs"], shards=4, **ARGS)
    assert [p["kwargs"]["features"] for p in job.parts] == ["0:16", "16:32", "32:40", "40:48"]
    assert job.total == 6 and job.state == "queued"
    workers = [start_worker(f"w{i}", tmp_path) for i in range(2)]
    try:
        done = wait_until(
            lambda: _job(job.pk).state in ("succeeded", "failed"),
            what="the sharded job",
            logs=[tmp_path / "w0.log", tmp_path / "w1.log"],
        )
    finally:
        stop(*workers)
    assert done
    job = _job(job.pk)
    assert job.state == "succeeded", job.error
    assert (job.done, job.total) == (6, 6)
    assert {p["state"] for p in job.parts} == {"succeeded"}
    assert _rows(sources["jobs"]) == expected
    keys = sorted(ImportLedger.objects.filter(key__contains="res-jobs").values_list("key", flat=True))
    assert len(keys) == 6 == len(set(keys))


def test_a_killed_worker_is_replaced_and_the_rows_are_the_same(sources, tmp_path):
    from features.models import Feature, ImportLedger
    from inference.dashboards.sharding import dashboards_job_create

    expected = _reference(sources["ref"], batch=2)
    # one shard of small batches and passes: the kill lands mid-shard
    job = dashboards_job_create(
        source=sources["jobs"], shards=1, **{**ARGS, "batch_size": 2, "features_per_pass": 2}
    )
    ledger = ImportLedger.objects.filter(key__contains="res-jobs")
    first = start_worker("first", tmp_path)
    try:
        wait_until(lambda: ledger.count() >= 3, what="a few batches", logs=[tmp_path / "first.log"])
        first.send_signal(signal.SIGKILL)
        first.wait()
        written = ledger.count()
        assert written < D_SAE // 2, "the shard finished before the kill; the test proves nothing"
        assert _job(job.pk).state == "running"
        second = start_worker("second", tmp_path)
        wait_until(
            lambda: _job(job.pk).state in ("succeeded", "failed"),
            what="the job after the restart",
            logs=[tmp_path / "second.log"],
        )
    finally:
        stop(first, *([second] if "second" in locals() else []))
    job = _job(job.pk)
    assert job.state == "succeeded", job.error
    assert ledger.count() == D_SAE // 2
    assert Feature.objects.filter(source=sources["jobs"]).count() == D_SAE
    assert _rows(sources["jobs"]) == expected


def test_a_cancelled_job_stops_within_one_batch_and_a_retry_finishes_it(
    sources, tmp_path, make_user, api_client
):
    from django.db import connections

    from features.models import ImportLedger
    from inference.dashboards.services import ledger_key
    from inference.dashboards.sharding import dashboards_job_create

    owner = make_user()
    job = dashboards_job_create(
        source=sources["jobs"], owner=owner, shards=1, **{**ARGS, "batch_size": 1, "features_per_pass": 1}
    )
    ledger = ImportLedger.objects.filter(key__contains="res-jobs")
    api_client.force_authenticate(owner)
    # A second connection holds the third batch's ledger lock until the cancel is sent: the worker
    # writes two batches and waits there, so the cancel lands mid-run however fast the worker is
    # (it once finished all 48 batches between the poll and the cancel).
    holder = connections.create_connection("default")
    holder.ensure_connection()
    holder.set_autocommit(False)
    with holder.cursor() as cursor:
        key = ledger_key(sources["jobs"], 2, 3)
        cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [key])
    worker = start_worker("w", tmp_path)
    try:
        wait_until(lambda: ledger.count() >= 2, what="two batches", logs=[tmp_path / "w.log"])
        response = api_client.post(f"/api/jobs/{job.pk}/cancel")
        assert response.status_code == 200, response.content
        at_cancel = ledger.count()
        assert at_cancel == 2
        holder.rollback()  # the worker goes on: the batch in flight, then the cancel
        assert response.json()["job"]["state"] == "cancelling"
        wait_until(lambda: _job(job.pk).state == "cancelled", what="the cancel", logs=[tmp_path / "w.log"])
        stopped = _job(job.pk)
        assert ledger.count() <= at_cancel + 1  # the batch in flight, no more
        assert ledger.count() < D_SAE
        assert "cancelled" in stopped.log
        assert api_client.post(f"/api/jobs/{job.pk}/cancel").status_code == 400  # already cancelled

        again = api_client.post(f"/api/jobs/{job.pk}/retry")
        assert again.status_code == 200 and again.json()["job"]["state"] == "queued"
        wait_until(lambda: _job(job.pk).state == "succeeded", what="the retry", logs=[tmp_path / "w.log"])
    finally:
        stop(worker)
        holder.close()
    assert ledger.count() == D_SAE
    assert (_job(job.pk).done, _job(job.pk).total) == (D_SAE, D_SAE)
