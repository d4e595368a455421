"""The graph viewer in Chromium (Playwright + Debian's chromium) against daphne and a real job
worker, on the demo's transcoders (trained small on the tiny model, with dashboards): generate →
the job's progress arrives over /ws/jobs/ → the graph draws → hover, click (details from the
batched POST /api/features), pin → group into a supernode, rename it → save a subgraph → reload
its share URL → steer the supernode and see default vs steered. Screenshots in test-artifacts/."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from features.tests.test_browser import ARTIFACTS, CHROMIUM, browser, server  # noqa: F401 (fixtures)

pytestmark = [
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium (make browser)"),
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def demo_set(graph_model, graph_folders, tmp_path):
    from inference.demo.transcoders import demo_transcoders_seed

    return demo_transcoders_seed(
        model_name="gtiny", model_dir=graph_folders["model"], folder=tmp_path / "tc-demo",
        d_transcoder=64, steps=40, n_prompts=48, ctx_len=24, train_prompts=96, log=lambda line: None,
    )  # fmt: skip


@pytest.fixture
def worker(tmp_path):
    from neuronsite.jobs.testing import clear_queue, start_worker, stop

    clear_queue()
    proc = start_worker("graph-ui", tmp_path)
    yield proc
    stop(proc)
    clear_queue()


def test_graph_viewer_journey(demo_set, worker, server, browser, make_user):  # noqa: F811
    from graphs.models import GraphMetadata
    from neuronsite.jobs.models import Job

    make_user(username="grapher", password="a-long-enough-passphrase")
    page = browser.new_context(viewport={"width": 1400, "height": 1000}, bypass_csp=True).new_page()
    page.set_default_timeout(90_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    requests: list[tuple[str, str]] = []
    page.on("request", lambda r: requests.append((r.method, r.url)))
    frames: list[dict] = []
    page.on(
        "websocket", lambda ws: ws.on("framereceived", lambda payload: frames.append(json.loads(payload)))
    )

    page.goto(f"{server}/account/login/")
    page.get_by_label("Username").fill("grapher")
    page.get_by_label("Password").fill("a-long-enough-passphrase")
    page.locator("main form button[type=submit]").click()
    page.wait_for_load_state()

    # Generate: a job on the worker, followed live on the jobs socket, then the graph opens.
    page.goto(f"{server}/gtiny/graph")
    page.get_by_label("Transcoders").select_option("tc-demo")
    page.get_by_label("Prompt").fill("def __init__(self):")
    page.get_by_role("button", name="Generate").click()
    page.wait_for_selector("#graph-progress[data-state='succeeded']")
    page.wait_for_selector("#graph-app[data-ready='1']")
    page.wait_for_selector("circle.gnode.feature")
    job = Job.objects.get(kind="graph")
    assert job.state == "succeeded" and job.owner.username == "grapher"
    pushed = [f["job"] for f in frames if f.get("type") == "job" and f["job"]["id"] == job.pk]
    assert any(j["state"] == "running" and 0 < j["done"] < 1000 for j in pushed)  # live progress
    assert pushed[-1]["state"] == "succeeded" and pushed[-1]["results"][0]["slug"] in page.url
    assert page.locator("#graph-progress").get_attribute("value") == "1000"
    graph = GraphMetadata.objects.get()
    assert graph.source_set_name == "tc-demo" and f"slug={graph.slug}" in page.url
    assert page.locator("circle.gnode.embedding").count() == len(graph.prompt_tokens)
    assert page.locator("line.glink").count() > 0
    assert "replacement" in page.locator("#graph-scores").inner_text()

    # Hover, click: node details come from batched POST /api/features, never per-node GETs.
    features = page.locator("circle.gnode.feature")
    first, second = (
        features.nth(0).get_attribute("data-node-id"),
        features.nth(1).get_attribute("data-node-id"),
    )
    features.nth(0).hover()
    assert page.locator("#graph-tooltip").is_visible() and page.locator("#graph-tooltip").inner_text()
    features.nth(0).click()
    assert f"clickedId={first}" in page.url
    assert page.locator("#graph-node-body td.conn").count() > 0  # input/output connections
    page.wait_for_selector("#graph-activations li")  # the feature's top activations, inline
    assert any(m == "POST" and u.endswith("/api/features") for m, u in requests)
    assert not [u for m, u in requests if "/api/feature/" in u]
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "graph-viewer.png"), full_page=True)

    # Pin two nodes, group them into one supernode box, rename it.
    for node_id in (first, second):
        page.locator(f"circle.gnode[data-node-id='{node_id}']").click(modifiers=["Control"])
        page.wait_for_selector(f"#graph-pinned li[data-node-id='{node_id}']")
    assert "pinnedIds=" in page.url
    page.get_by_label("Supernode name").fill("init group")
    page.get_by_role("button", name="Group pinned").click()
    page.wait_for_selector("g.gsupernode")
    assert page.locator(f"circle.gnode[data-node-id='{first}']").count() == 0  # drawn as the box
    page.locator("#graph-supernodes input.supernode-name").fill("init words")
    page.locator("#graph-supernodes input.supernode-name").press("Enter")
    page.wait_for_function(
        "location.search.includes('init%20words') || location.search.includes('init+words')"
    )
    assert page.locator("g.gsupernode text").text_content() == "init words"
    page.locator("g.gsupernode rect").click()
    assert page.locator("#graph-node-label").inner_text() == "Supernode: init words"
    assert page.locator("#graph-group-members li").count() == 2
    page.screenshot(path=str(ARTIFACTS / "graph-supernode.png"), full_page=True)

    # Save a subgraph; its share URL restores pins and the supernode in another browser.
    page.get_by_label("Subgraph name").fill("my circuit")
    page.get_by_role("button", name="Save subgraph").click()
    share = page.wait_for_selector("#graph-share-link").get_attribute("href")
    assert "subgraph=" in share
    other = browser.new_context(bypass_csp=True).new_page()
    other.set_default_timeout(60_000)
    other.goto(share)
    other.wait_for_selector("#graph-app[data-ready='1']")
    other.wait_for_selector(f"#graph-pinned li[data-node-id='{first}']")
    assert other.locator("g.gsupernode text").text_content() == "init words"
    assert other.locator("#graph-supernodes input.supernode-name").input_value() == "init words"

    # Steer the supernode: default vs steered generations with top tokens.
    page.get_by_role("button", name="Steer supernode").click()
    dialog = page.locator("#graph-steer-dialog")
    assert dialog.is_visible() and dialog.locator("#graph-steer-features li[data-node-id]").count() >= 1
    page.get_by_role("button", name="Run steering").click()
    page.wait_for_function("document.getElementById('graph-steer-default').textContent.length > 0")
    assert page.locator("#graph-steer-default").inner_text().startswith("def __init__(self):")
    assert page.locator("#graph-steer-steered").inner_text().startswith("def __init__(self):")
    assert page.locator("#graph-steer-table tr").count() == 1 + 8  # header + one row per token
    page.screenshot(path=str(ARTIFACTS / "graph-steer.png"), full_page=True)

    # Ungroup: the members are drawn again.
    page.get_by_role("button", name="Close").click()
    page.locator("#graph-node-body").get_by_role("button", name="Ungroup").click()
    page.wait_for_selector(f"circle.gnode[data-node-id='{first}']")
    assert page.locator("g.gsupernode").count() == 0 and "supernodes=" not in page.url
    assert errors == []


def test_cancel_button_stops_a_queued_generation(graph_model, server, browser, make_user):  # noqa: F811
    """No worker runs: the job stays queued until Cancel asks the jobs API to cancel it."""
    from graphs.models import GraphMetadata
    from neuronsite.jobs.models import Job
    from neuronsite.jobs.testing import clear_queue

    clear_queue()
    make_user(username="canceller", password="a-long-enough-passphrase")
    page = browser.new_context(viewport={"width": 1200, "height": 900}, bypass_csp=True).new_page()
    page.set_default_timeout(60_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{server}/account/login/")
    page.get_by_label("Username").fill("canceller")
    page.get_by_label("Password").fill("a-long-enough-passphrase")
    page.locator("main form button[type=submit]").click()
    page.wait_for_load_state()

    page.goto(f"{server}/gtiny/graph")
    cancel = page.get_by_role("button", name="Cancel")
    assert cancel.is_hidden()  # nothing to cancel yet
    page.get_by_label("Prompt").fill("The quick brown fox")
    page.get_by_role("button", name="Generate").click()
    page.wait_for_selector("#graph-progress[data-state='queued']")
    cancel.click()
    page.wait_for_selector("#graph-progress[data-state='cancelled']")
    page.wait_for_function("document.getElementById('graph-status').textContent.includes('cancelled')")
    assert cancel.is_hidden() and page.get_by_role("button", name="Generate").is_enabled()
    job = Job.objects.get(kind="graph")
    assert job.state == "cancelled" and job.cancel_requested and job.owner.username == "canceller"
    assert "cancel requested by canceller" in job.log and not GraphMetadata.objects.exists()
    assert errors == []
    clear_queue()
