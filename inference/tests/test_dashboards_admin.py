"""The admin page that queues a dashboard generation job and shows its progress (a real job
worker process, ``manage.py run_jobs_worker``, against this test database)."""

from __future__ import annotations

import importlib

import pytest
from django.urls import clear_url_caches


@pytest.fixture
def admin_urls(settings, tmp_path):
    import inference.admin_dashboards  # noqa: F401 - registers the page (inference/admin.py imports it)
    import neuronsite.urls

    settings.DATA_DIR = tmp_path
    importlib.reload(neuronsite.urls)
    clear_url_caches()
    yield
    clear_url_caches()


def test_admin_starts_a_generation_and_shows_its_progress(
    transactional_db, admin_urls, client, make_user, tmp_path
):
    from features.models import Feature
    from inference.testing import build_tiny_model, build_tiny_sae, register_tiny
    from neuronsite.jobs.models import Job
    from neuronsite.jobs.testing import clear_queue, start_worker, stop, wait_until

    clear_queue()
    base = __import__("pathlib").Path(__import__("tempfile").mkdtemp())
    hook = "blocks.0.hook_resid_pre"
    model_dir = build_tiny_model(base / "m", n_ctx=16, vocab_size=300)
    sae_dir = build_tiny_sae(base / "s", d_in=32, d_sae=16, hook_name=hook)
    _, _, (source,) = register_tiny(model_name="admin-tiny", model_folder=model_dir, sae_folders={0: sae_dir})
    staff = make_user(is_staff=True, is_superuser=True)
    client.force_login(staff)

    page = client.get("/admin/dashboards/")
    assert page.status_code == 200 and "No generation started yet" in page.content.decode()
    bad = client.post(
        "/admin/dashboards/", {"source": source.pk, "corpus": "pydoc", "n_prompts": 0, "ctx_len": 16}
    )
    assert bad.status_code == 200 and "greater than or equal to 1" in bad.content.decode()

    response = client.post(
        "/admin/dashboards/",
        {"source": source.pk, "corpus": "pydoc", "n_prompts": 16, "ctx_len": 16, "features": "", "shards": 1},
    )
    assert response.status_code == 302
    job = Job.objects.get()
    assert job.owner == staff and job.kind == "dashboards"
    assert '<td class="status">queued</td>' in client.get("/admin/dashboards/").content.decode()
    worker = start_worker("admin", tmp_path)
    try:
        wait_until(lambda: Job.objects.get().state in ("succeeded", "failed"), logs=[tmp_path / "admin.log"])
    finally:
        stop(worker)
    html = client.get("/admin/dashboards/").content.decode()
    assert '<td class="status">succeeded</td>' in html, html[-3000:]
    assert "1/1 batches" in html
    assert Feature.objects.filter(source=source).count() == 16

    anonymous = client.__class__().get("/admin/dashboards/")
    assert anonymous.status_code == 302  # admin login required
