"""Model -> SAE set -> generated dashboards, all from the browser (issue 16, item 14): sign in,
add a model from a local folder (/model/new), add an SAE set whose layer loads from a local SAE
folder (/sae/new), "Generate dashboards" on the source page, a real job worker process runs the
job, the Jobs page follows its progress live, and the feature pages show dashboards. Screenshots
of each page go to test-artifacts/ (j01-...)."""

from __future__ import annotations

from features.tests.test_browser import (  # noqa: F401  (pytest fixtures)
    _no_dialogs,
    _shot,
    _unlabelled_controls,
    browser,
    pytestmark,
    server,
)

PASSWORD = "a-long-enough-passphrase"


def test_model_sae_set_and_generated_dashboards_from_the_browser(server, browser, tmp_path):  # noqa: F811
    from accounts.models import User
    from features.models import Activation, Feature
    from inference.testing import build_tiny_model, build_tiny_sae
    from models_app.models import Source
    from neuronsite.jobs.models import Job
    from neuronsite.jobs.testing import clear_queue, start_worker, stop

    clear_queue()
    model_dir = build_tiny_model(tmp_path / "model", n_layers=1, d_model=32, n_ctx=32, vocab_size=300)
    sae_dir = build_tiny_sae(tmp_path / "sae", d_in=32, d_sae=24, hook_name="blocks.0.hook_resid_pre")
    user = User(username="builder")
    user.set_password(PASSWORD)
    user.save()

    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    page.set_default_timeout(60_000)
    dialogs = _no_dialogs(page)
    page.goto(f"{server}/account/login/?next=/")
    page.get_by_label("Username").fill("builder")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{server}/")

    # the model, loaded from a local folder
    page.get_by_role("link", name="+ Add New Model").click()
    page.get_by_label("Model id").fill("journey")
    page.get_by_label("Display name").fill("Journey tiny")
    page.get_by_label("Layers").fill("1")
    page.get_by_label("or local folder").fill(str(model_dir))
    page.get_by_label("Visibility").select_option("PUBLIC")
    assert _unlabelled_controls(page) == []
    _shot(page, "j01-model-new")
    page.get_by_role("button", name="Create model").click()
    page.wait_for_url(f"{server}/journey")
    _shot(page, "j02-model-page")

    # the SAE set: layer 0 from a local SAE folder (its cfg.json gives d_sae and the hook)
    assert page.locator(".muted.small").first.inner_text() == "journey · 1 layer · local folder"
    page.get_by_role("link", name="+ Add SAEs to this model").click()
    assert page.get_by_label("Model", exact=True).input_value() == "journey"
    page.get_by_label("SAE set id").fill("res-j")
    page.get_by_label("How to load each layer").fill(f"0 {sae_dir}")
    page.get_by_label("Visibility").select_option("PUBLIC")
    _shot(page, "j03-sae-new")
    page.get_by_role("button", name="Create SAE set").click()
    page.wait_for_url(f"{server}/journey/res-j")
    source = Source.objects.get(model__name="journey", name="0-res-j")
    assert (source.d_sae, source.hook_name, source.local_path) == (
        24,
        "blocks.0.hook_resid_pre",
        str(sae_dir),
    )
    _shot(page, "j04-source-set")

    # the source page: generate dashboards on a small corpus slice
    page.get_by_role("link", name="0-res-j", exact=True).first.click()
    page.wait_for_url(f"{server}/journey/0-res-j")
    form = page.locator("#dashboards-generate-form")
    form.get_by_label("Number of prompts").fill("24")
    form.get_by_label("Context length (tokens)").fill("16")
    _shot(page, "j05-source-generate")
    form.get_by_role("button", name="Generate dashboards").click()
    page.wait_for_url(f"{server}/jobs/")
    job = Job.objects.get(kind="dashboards")
    card = page.locator(f'[data-job-id="{job.pk}"]')
    assert card.locator(".job-state").inner_text() == "queued"
    page.wait_for_selector("body[data-jobs-live]", state="attached")
    # the page's own stylesheet applies (the CSP refuses inline style elements)
    assert page.locator("#jobs").evaluate("e => getComputedStyle(e).listStyleType") == "none"
    assert card.locator("progress").bounding_box()["width"] > 0.9 * card.bounding_box()["width"] - 60
    _shot(page, "j06-jobs-queued")

    worker = start_worker("journey", tmp_path)
    try:
        # the page follows the worker's progress without a reload: the card turns succeeded
        page.wait_for_selector(f'[data-job-id="{job.pk}"][data-state="succeeded"]', timeout=240_000)
    except Exception:
        print((tmp_path / "journey.log").read_text()[-4000:])
        raise
    finally:
        stop(worker)
    job.refresh_from_db()
    assert job.done == job.total > 0
    assert card.locator("progress").get_attribute("value") == str(job.total)
    assert card.locator(".job-count").inner_text().startswith(f"{job.total} / {job.total}")
    _shot(page, "j07-jobs-succeeded")

    # every latent has a dashboard; the busiest feature's page shows its snippets and plots
    assert Feature.objects.filter(source=source).count() == 24
    busiest = (
        Feature.objects.filter(source=source, activations__isnull=False).order_by("-max_act_approx").first()
    )
    assert busiest is not None and Activation.objects.filter(feature=busiest).count() > 0
    page.goto(f"{server}/journey/0-res-j")
    _shot(page, "j08-source-with-features")
    page.goto(f"{server}/journey/0-res-j/{busiest.index}")
    assert page.locator(".snip").count() > 0
    assert page.locator("svg.hist").count() >= 1
    assert page.locator("table.logits td").count() > 0
    _shot(page, "j09-feature-dashboard")
    assert dialogs == []
    ctx.close()
