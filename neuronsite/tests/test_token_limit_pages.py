"""The pages show the token limit before sending and refuse over-long text themselves (issue 10):
the dashboard's "test your own text", search via inference and steering, in Chromium. Over the
limit the page shows the message and sends no inference request (no websocket frame, no
search call); a short text still runs."""

from __future__ import annotations

import pytest

from features.tests.test_browser import (  # noqa: F401  (pytest fixtures)
    _seed_tiny,
    browser,
    pytestmark,
    server,
    tiny_ui_folders,
)

LIMIT = 24
LONG = "the quick brown fox jumps over the lazy dog " * 8  # far over 24 tokens


@pytest.fixture
def limited_server(monkeypatch, request):
    monkeypatch.setenv("INFERENCE_TOKEN_LIMIT", str(LIMIT))  # read by the server started next
    return request.getfixturevalue("server")


def _watch(page) -> tuple[list, list]:
    frames, posts = [], []
    page.on("websocket", lambda ws: ws.on("framesent", lambda payload: frames.append((ws.url, payload))))
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    return frames, posts


def test_pages_show_the_limit_and_refuse_over_long_text(limited_server, browser, tiny_ui_folders):  # noqa: F811
    _seed_tiny(tiny_ui_folders)
    base = limited_server
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    page.set_default_timeout(60_000)
    frames, posts = _watch(page)

    # dashboard: min(INFERENCE_TOKEN_LIMIT, n_ctx 256 of the local model folder) shown
    page.goto(f"{base}/tiny/1-res-tiny/1")
    assert page.locator("#test-limit").inner_text() == f"Up to {LIMIT} tokens."
    page.get_by_label("Text to run through the model").fill(LONG)
    page.get_by_role("button", name="Test", exact=True).click()
    page.locator("#test-status", has_text=f"the limit is {LIMIT} tokens").wait_for()
    assert not [f for f in frames if "/ws/activation/" in f[0]]
    assert all("/api/tokenize" in url for url in posts)  # only the count was asked for
    page.get_by_label("Text to run through the model").fill("Hi there")
    page.get_by_role("button", name="Test", exact=True).click()
    page.locator("#test-output .t").first.wait_for()
    assert [f for f in frames if "/ws/activation/" in f[0]]

    # steering: a completion prompt over the limit is not sent
    frames.clear()
    page.goto(f"{base}/steer?model=tiny&feature=1-res-tiny:1")
    assert page.locator("#steer-limit").inner_text() == f"Up to {LIMIT} tokens."
    page.locator(".steer-feature").first.wait_for()
    page.locator("#steer-prompt").fill(LONG)
    page.get_by_role("button", name="Steer", exact=True).click()
    page.locator("#steer-status", has_text=f"the limit is {LIMIT} tokens").wait_for()
    assert not [f for f in frames if "/ws/steer/" in f[0]]

    # search via inference: no search request for an over-long text
    posts.clear()
    page.goto(f"{base}/search-inference?model=tiny")
    assert page.locator("#si-limit").inner_text() == f"Up to {LIMIT} tokens."
    page.get_by_label("SAE set").select_option(label="res-tiny")
    page.get_by_label("Text to search").fill(LONG)
    page.get_by_role("button", name="Search", exact=True).click()
    page.locator("#si-status", has_text=f"the limit is {LIMIT} tokens").wait_for()
    assert not [url for url in posts if "/api/search-all" in url]
    ctx.close()
