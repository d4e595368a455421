"""The graph viewer's controls in Chromium (Playwright + Debian's chromium) against daphne, on a
graph stored by the service (``gtiny`` + its transcoders, every feature with a dashboard density):
the density filter, label edits kept in the URL (``clerps``), full screen, embed mode, and the
featured graph and subgraph lists. Each test asserts what changes on screen."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from features.tests.test_browser import CHROMIUM, browser, server  # noqa: F401 (fixtures)
from graphs.tests.conftest import D_TRANSCODER

pytestmark = [
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium (make browser)"),
    pytest.mark.django_db(transaction=True),
]

PASSWORD = "a-long-enough-passphrase"
PROMPT = "The quick brown fox jumps over"


@pytest.fixture
def stored(graph_model, make_user, settings):
    """A featured graph ``gtiny/view`` owned by ``owner``; each feature's density is known. Its
    file goes where the daphne process reads files (the project's MEDIA_ROOT), removed after."""
    from features.models import Feature
    from graphs import storage
    from graphs.models import GraphMetadata
    from graphs.services import graph_generate
    from neuronsite import settings as project_settings

    settings.MEDIA_ROOT = str(project_settings.MEDIA_ROOT)
    owner = make_user(username="owner", password=PASSWORD)
    Feature.objects.bulk_create(
        Feature(source=source, index=i, frac_nonzero=((i * 37 + source.layer * 11) % 64) / 64)
        for source in graph_model["set"].sources.all()
        for i in range(D_TRANSCODER)
    )
    row = graph_generate(user=owner, model_name="gtiny", prompt=PROMPT, source_set_name="tc", slug="view")
    GraphMetadata.objects.filter(pk=row.pk).update(is_featured=True)
    data = json.loads(
        gzip.decompress(storage.graph_file_bytes(GraphMetadata.objects.get(pk=row.pk).file.name))
    )
    yield {"owner": owner, "data": data}
    for name in GraphMetadata.objects.values_list("file", flat=True):
        storage.graph_file_delete(name)


def _page(browser, **kw):  # noqa: F811
    page = browser.new_context(viewport={"width": 1400, "height": 1000}, bypass_csp=True, **kw).new_page()
    page.set_default_timeout(60_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return page, errors


def _login(page, base: str, username: str) -> None:
    page.goto(f"{base}/account/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.locator("main form button[type=submit]").click()
    page.wait_for_load_state()


def _open(page, url: str) -> None:
    page.goto(url)
    page.wait_for_selector("#graph-app[data-ready='1']")


def _query(page) -> dict:
    return {k: v[0] for k, v in parse_qs(urlparse(page.url).query).items()}


def _features_shown(data: dict, *, density: float, pruning: float = 0.6) -> int:
    return sum(
        1
        for n in data["nodes"]
        if n["feature_type"] == "cross layer transcoder"
        and not (n.get("influence") is not None and n["influence"] > pruning)
        and not (n.get("density") is not None and n["density"] > density)
    )


def test_density_filter_hides_dense_features_and_is_kept_in_the_url(stored, server, browser):  # noqa: F811
    data = stored["data"]
    densities = [n["density"] for n in data["nodes"] if n["feature_type"] == "cross layer transcoder"]
    assert len(densities) >= 4 and min(densities) < 0.4 < max(densities)  # the filter has work to do
    page, errors = _page(browser)
    _open(page, f"{server}/gtiny/graph?slug=view")
    features = page.locator("circle.gnode.feature")
    assert features.count() == _features_shown(data, density=1.0)

    page.locator("#graph-density").fill("0.4")
    expected = _features_shown(data, density=0.4)
    assert 0 < expected < _features_shown(data, density=1.0)
    page.wait_for_function(f"document.querySelectorAll('circle.gnode.feature').length === {expected}")
    assert page.locator("#graph-density-value").inner_text() == "0.40"
    assert _query(page)["densityThreshold"] == "0.40"
    shown = {features.nth(i).get_attribute("data-node-id") for i in range(features.count())}
    by_id = {n["node_id"]: n for n in data["nodes"]}
    assert all(by_id[i]["density"] <= 0.4 for i in shown)
    # Embeddings and logits are never filtered.
    assert page.locator("circle.gnode.embedding").count() == len(data["metadata"]["prompt_tokens"])

    # The URL restores the filter.
    _open(page, page.url)
    assert page.locator("#graph-density").input_value() == "0.4"
    assert page.locator("circle.gnode.feature").count() == expected
    assert not errors


def test_a_label_edit_shows_at_once_and_rides_in_the_url_as_clerps(stored, server, browser):  # noqa: F811
    page, errors = _page(browser)
    _open(page, f"{server}/gtiny/graph?slug=view")
    node = page.locator("circle.gnode.feature").first
    node_id = node.get_attribute("data-node-id")
    layer, index, _ = node_id.split("_")
    node.click()
    before = page.locator("#graph-node-label").inner_text()
    assert before and before != "a fox detector"

    edit = page.get_by_label("Edit label")
    edit.fill("a fox detector")
    edit.press("Enter")
    page.wait_for_function("document.getElementById('graph-node-label').textContent === 'a fox detector'")
    assert json.loads(_query(page)["clerps"]) == [[f"{layer}_{index}", "a fox detector"]]
    page.locator(f"circle.gnode[data-node-id='{node_id}']").hover()
    assert "a fox detector" in page.locator("#graph-tooltip").inner_text()

    # Another browser opening the URL sees the edited label.
    other, other_errors = _page(browser)
    _open(other, page.url)
    assert other.locator("#graph-node-label").inner_text() == "a fox detector"
    assert other.get_by_label("Edit label").input_value() == "a fox detector"

    # Clearing the edit brings the stored label back and drops clerps from the URL.
    edit.fill("")
    edit.press("Enter")
    page.wait_for_function(
        f"document.getElementById('graph-node-label').textContent === {json.dumps(before)}"
    )
    assert "clerps" not in _query(page)
    assert not errors and not other_errors


def test_full_screen_shows_the_viewer_alone(stored, server, browser):  # noqa: F811
    page, errors = _page(browser)
    _open(page, f"{server}/gtiny/graph?slug=view")
    assert page.evaluate("document.fullscreenElement") is None
    page.get_by_role("button", name="Full screen").click()
    page.wait_for_function("document.fullscreenElement && document.fullscreenElement.id === 'graph-app'")
    assert page.locator("circle.gnode.feature").count() > 0
    page.evaluate("document.exitFullscreen()")
    page.wait_for_function("document.fullscreenElement === null")
    assert not errors


def test_embed_mode_draws_the_graph_without_the_site_chrome(stored, server, browser):  # noqa: F811
    page, errors = _page(browser)
    _login(page, server, "owner")
    _open(page, f"{server}/gtiny/graph?slug=view")
    assert page.locator("header.top").is_visible() and page.locator("#graph-generate").is_visible()
    page.get_by_role("link", name="Embed link").click()
    page.wait_for_function("document.getElementById('graph-share').textContent.includes('embed=true')")
    embed_url = page.locator("#graph-share").inner_text()
    assert _open(page, embed_url) is None and _query(page)["embed"] == "true"
    assert page.locator("header.top").count() == 0  # no site header
    assert page.locator("#graph-generate").count() == 0 and page.locator("#graph-lists").count() == 0
    assert "embed" in (page.locator("body").get_attribute("class") or "")
    assert page.locator("circle.gnode.feature").count() == _features_shown(stored["data"], density=1.0)
    page.locator("circle.gnode.feature").first.click()  # still interactive; the URL keeps embed
    assert _query(page)["embed"] == "true" and "clickedId" in _query(page)
    assert not errors


def test_featured_graphs_and_subgraphs_are_listed_for_everyone(stored, server, browser, make_user):  # noqa: F811
    owner_page, errors = _page(browser)
    _login(owner_page, server, "owner")
    _open(owner_page, f"{server}/gtiny/graph?slug=view")
    owner_page.locator("#graph-lists summary").click()
    featured = owner_page.locator("#graph-lists .graph-lists > div:has(> h3:text-is('Featured')) li")
    assert featured.all_inner_texts() == ["view"]

    # The owner saves a featured subgraph and a private one; both are listed for the owner.
    first = owner_page.locator("circle.gnode.feature").first.get_attribute("data-node-id")
    owner_page.locator(f"circle.gnode[data-node-id='{first}']").click(modifiers=["Control"])
    owner_page.get_by_label("Subgraph name").fill("the fox circuit")
    owner_page.get_by_label("Featured").check()
    owner_page.get_by_role("button", name="Save subgraph").click()
    owner_page.wait_for_selector("#graph-sub-list li:has-text('the fox circuit ★')")
    owner_page.get_by_label("Featured").uncheck()
    owner_page.get_by_role("button", name="Clear").click()
    owner_page.locator(f"circle.gnode[data-node-id='{first}']").click(modifiers=["Control"])
    owner_page.get_by_label("Subgraph name").fill("my draft")
    owner_page.get_by_role("button", name="Save subgraph").click()
    owner_page.wait_for_selector("#graph-sub-list li:has-text('my draft')")
    assert sorted(owner_page.locator("#graph-sub-list li").all_inner_texts()) == [
        "my draft",
        "the fox circuit ★",
    ]

    # Someone else (signed out) sees the featured graph and only the featured subgraph.
    visitor, visitor_errors = _page(browser)
    _open(visitor, f"{server}/gtiny/graph?slug=view")
    visitor.wait_for_selector("#graph-sub-list li")
    assert visitor.locator("#graph-sub-list li").all_inner_texts() == ["the fox circuit ★"]
    visitor.locator("#graph-lists summary").click()
    assert visitor.locator(
        "#graph-lists .graph-lists > div:has(> h3:text-is('Featured')) li"
    ).all_inner_texts() == ["view"]
    # Its link opens the subgraph: the pinned node comes back.
    visitor.locator("#graph-sub-list a").click()
    visitor.wait_for_selector("#graph-app[data-ready='1']")
    visitor.wait_for_selector(f"#graph-pinned li[data-node-id='{first}']")
    assert "subgraph=" in visitor.url
    assert not errors and not visitor_errors
