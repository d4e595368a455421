"""The graph viewer in Chromium (Playwright + Debian's chromium) against daphne: generate on the
tiny model → the graph draws → hover, click, pin → save a subgraph → reload its share URL →
steer and see default vs steered."""

from __future__ import annotations

from pathlib import Path

import pytest

from features.tests.test_browser import ARTIFACTS, CHROMIUM, browser, server  # noqa: F401 (fixtures)

pytestmark = [
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium (make browser)"),
    pytest.mark.django_db(transaction=True),
]


def test_graph_viewer_journey(graph_model, server, browser, make_user):  # noqa: F811
    make_user(username="grapher", password="a-long-enough-passphrase")
    page = browser.new_context(viewport={"width": 1400, "height": 1000}, bypass_csp=True).new_page()
    page.set_default_timeout(60_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    page.goto(f"{server}/account/login/")
    page.get_by_label("Username").fill("grapher")
    page.get_by_label("Password").fill("a-long-enough-passphrase")
    page.locator("main form button[type=submit]").click()
    page.wait_for_load_state()

    page.goto(f"{server}/gtiny/graph")
    page.get_by_label("Prompt").fill("The quick brown fox")
    page.get_by_role("button", name="Generate").click()
    page.wait_for_selector("#graph-app[data-ready='1']")
    page.wait_for_selector("circle.gnode.feature")
    assert "slug=graph-" in page.url
    from graphs.models import GraphMetadata

    tokens = GraphMetadata.objects.get().prompt_tokens
    assert page.locator("circle.gnode.embedding").count() == len(tokens)  # one per prompt token
    assert page.locator("line.glink").count() > 0
    assert "replacement" in page.locator("#graph-scores").inner_text()

    feature = page.locator("circle.gnode.feature").first
    node_id = feature.get_attribute("data-node-id")
    feature.hover()
    assert page.locator("#graph-tooltip").is_visible()
    assert page.locator("#graph-tooltip").inner_text().startswith("feature ")

    feature.click()
    assert page.locator("#graph-node-label").inner_text()
    assert f"clickedId={node_id}" in page.url
    assert page.locator("#graph-node-body td.conn").count() > 0  # input/output connections
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "graph-viewer.png"), full_page=True)

    page.locator(f"circle.gnode[data-node-id='{node_id}']").click(modifiers=["Control"])
    page.wait_for_selector(f"#graph-pinned li[data-node-id='{node_id}']")
    assert "pinnedIds=" in page.url

    page.get_by_label("Supernode name").fill("fox group")
    page.get_by_role("button", name="Group pinned").click()
    page.get_by_label("Rename supernode").fill("fox words")
    page.get_by_label("Rename supernode").press("Enter")
    page.wait_for_function("location.search.includes('fox%20words') || location.search.includes('fox+words')")

    page.get_by_label("Subgraph name").fill("my circuit")
    page.get_by_role("button", name="Save subgraph").click()
    share = page.wait_for_selector("#graph-share-link").get_attribute("href")
    assert "subgraph=" in share

    other = browser.new_context(bypass_csp=True).new_page()
    other.set_default_timeout(60_000)
    other.goto(share)
    other.wait_for_selector("#graph-app[data-ready='1']")
    other.wait_for_selector(f"#graph-pinned li[data-node-id='{node_id}']")
    assert other.locator(f"circle.gnode.pinned[data-node-id='{node_id}']").count() == 1
    assert other.get_by_label("Rename supernode").input_value() == "fox words"

    page.get_by_role("button", name="Steer").click()
    page.wait_for_function("document.getElementById('graph-steer-default').textContent.length > 0")
    assert page.locator("#graph-steer-default").inner_text().startswith("The quick brown fox")
    assert page.locator("#graph-steer-steered").inner_text().startswith("The quick brown fox")
    assert errors == []
