"""The feature page's snippets as data drawn by the browser (features/snippet_data.py,
features/static/features/snippets.js): the data carries what the server's renderer
(``neuronsite_tokens.activation_snippets``, still used by the "show more" fragments) shows, the
browser's renderer builds the same DOM from it, and no token text can leave the JSON block."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from types import SimpleNamespace

import pytest

from features import snippet_data as sd
from features.templatetags.neuronsite_tokens import activation_snippets
from features.tests.test_browser import browser, server  # noqa: F401  (pytest fixtures)

JS = Path(__file__).resolve().parents[1] / "static" / "features" / "snippets.js"
XSS = ["</script><script>window.__x=1</script>", "<img src=x onerror=window.__x=2>", "&lt;b&gt;", "\u2028"]
POOL = [
    "Ġthe",
    "a",
    "Ċ",
    "ĠĊ",
    "Ġ",
    "ĉ",
    "▁word",
    "x>y",
    "\u3000",
    "\x1c",
    "\ufeff",
    None,
    "",
    "  ",
    "é",
    "â",
    "Ģ",
    "ľ",
    "ð",
    "Ł",
    "ĺ",
    "ðŁĺ",
    *XSS,
]  # fmt: skip  (byte-level pieces of “ and 😀, lone pieces, Python/JS whitespace differences)


def _value(rng):
    r = rng.random()
    if r < 0.3:
        return 0.0
    if r < 0.34:  # non-finite, negative zero, ties of the 2- and 3-decimal formats, huge
        return rng.choice([math.nan, math.inf, -math.inf, -0.0, 0.0625, 0.125, 0.375, 1e22, -0.1875, 2.5e-4])
    if r < 0.45:
        return rng.choice([k / 16 for k in range(-40, 40)])
    return rng.uniform(-2, 5) * rng.choice([1, 1, 0.001, 1000])


def _random_groups(rng, n_groups=3):
    groups = []
    for _ in range(n_groups):
        acts = []
        for _ in range(rng.randint(0, 4)):
            n = rng.randint(0, 40)
            tokens = [rng.choice(POOL) for _ in range(n)]
            values = [_value(rng) for _ in range(max(0, n + rng.choice([0, 0, 0, -2, 3])))]
            if rng.random() < 0.05:
                values = None
            finite = [v for v in values or () if math.isfinite(v)]
            acts.append(
                SimpleNamespace(
                    tokens=tokens,
                    values=values,
                    max_value=rng.choice([max(finite, default=0.0), 0.0, math.nan, 2.5]),
                    max_value_token_index=rng.choice([0, 3, -1, 100]),
                    qualifying_token_index=rng.choice([None, 1, 5, 50, -3]),
                )
            )
        groups.append({"activations": acts})
    return groups


def _cases(seed: int, count: int):
    rng = random.Random(seed)
    for _ in range(count):
        yield _random_groups(rng), rng.choice([None, 0.0, 1.0, 2.5, 0.001, math.nan, -1.0, 4])


def _page_data(groups, scale) -> dict:
    block = f'<script type="application/json" id="snippet-data">{sd.snippet_data(groups, scale)}</script>'
    return sd.page_data(block)


def test_the_data_carries_what_the_server_renderer_shows():
    for groups, scale in _cases(seed=7, count=400):
        want = [str(activation_snippets(g["activations"], scale)) for g in groups]
        assert sd.render_html(_page_data(groups, scale)) == want


def test_the_json_block_cannot_be_closed_by_token_text():
    groups = [{"activations": [SimpleNamespace(tokens=XSS, values=[1.0, 0.5, 0.0, 2.0], max_value=2.0,
                                               max_value_token_index=3, qualifying_token_index=None)]}]  # fmt: skip
    text = str(sd.snippet_data(groups, 2.0))
    for bad in ("<", ">", "&", "\u2028", "\u2029"):
        assert bad not in text
    assert json.loads(text)["t"] == XSS  # the escapes are JSON's: the texts come back as they were


def test_non_finite_numbers_travel_as_strings():
    act = SimpleNamespace(tokens=["a", "b", "c"], values=[math.nan, math.inf, -math.inf], max_value=math.nan,
                          max_value_token_index=0, qualifying_token_index=None)  # fmt: skip
    data = sd.snippet_rows([{"activations": [act]}], None)
    assert data["g"][0][0][1] == ["NaN", "Infinity", "-Infinity"]
    assert data["g"][0][0][4] == {"s": "NaN"}  # the page's scale is missing: the row's own


@pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="needs Debian's chromium (make browser)")
def test_the_browser_builds_the_server_renderers_dom():
    """snippets.js on random snippets (a fixed seed) in Chromium: each group's DOM equals the
    server's HTML parsed by the same browser."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--headless", "--no-sandbox"])
        try:
            page = browser.new_page()
            dialogs = []
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            checked = 0
            for groups, scale in _cases(seed=11, count=60):
                boxes = "".join(f'<div class="snips" data-snips="{i}"></div>' for i in range(len(groups)))
                data = sd.snippet_data(groups, scale)
                page.set_content(
                    f'<body>{boxes}<script type="application/json" id="snippet-data">{data}</script>'
                )
                page.add_script_tag(path=str(JS))
                got = page.evaluate(
                    "() => [...document.querySelectorAll('[data-snips]')].map(b => b.innerHTML)"
                )
                want = page.evaluate(
                    "(htmls) => htmls.map(h => { const t = document.createElement('template');"
                    " t.innerHTML = h; return t.innerHTML; })",
                    [str(activation_snippets(g["activations"], scale)) for g in groups],
                )
                assert got == want
                checked += sum(len(g["activations"]) for g in groups)
            assert checked > 200
            assert page.evaluate("() => window.__x") is None and not dialogs
            # Python's float format: ties to even, no exponent, signed zero, non-finite
            cases = [0.0625, 0.1875, -0.0625, 1e22, -0.0, 0.0005, 2.675, 1 / 3, math.nan, math.inf]
            for d in (2, 3):
                js = page.evaluate(
                    f"(xs) => xs.map(x => Neuronsite.formatFixed(Number(x), {d}))",
                    [repr(x) if math.isfinite(x) else str(x).replace("inf", "Infinity").replace("nan", "NaN")
                     for x in cases],
                )  # fmt: skip
                assert js == [f"{x:.{d}f}" for x in cases]
        finally:
            browser.close()


@pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="needs Debian's chromium (make browser)")
@pytest.mark.django_db(transaction=True)
def test_feature_page_draws_its_snippets_and_token_text_stays_text(server, browser):  # noqa: F811
    """The real page (daphne, CSP on): each group's snippets drawn by snippets.js equal the
    server's renderer's HTML for the same rows; payloads in token text stay text; the embed
    page draws them too."""
    from django.contrib.auth.models import AnonymousUser

    from features import selectors_fast
    from features.models import Activation, Feature
    from features.tests.test_browser import _shot
    from models_app.models import Model, Source, SourceSet

    m = Model.objects.create(name="tiny", layers=2, d_model=16, inference_enabled=False)
    ss = SourceSet.objects.create(model=m, name="res-x", type="sae")
    src = Source.objects.create(model=m, source_set=ss, name="0-res-x", layer=0, inference_enabled=False)
    f = Feature.objects.create(source=src, index=0, max_act_approx=2.0)
    words = [f"Ġw{i}" for i in range(40)]
    Activation.objects.create(
        feature=f, tokens=[*XSS, "Ġsaid", "Ġâ", "Ģľ", "hi", "ðŁ", "ĺĢ", "Ġ", "ĉ", "Ċ"],
        values=[1.0, 0.5, 0.0, 2.0, 0.0, 0.2, 0.9, 0.0, 0.1, 0.0, 0.4, 0.0, -0.3], max_value=2.0,
        max_value_token_index=3,
    )  # fmt: skip
    values = [0.0] * 40
    values[30], values[5], values[8] = 3.0, 0.2, -0.0625
    Activation.objects.create(
        feature=f, tokens=words, values=values, max_value=3.0, max_value_token_index=30,
        bin_min=0.0, bin_max=0.6, bin_contains=0.011, qualifying_token_index=5,
    )  # fmt: skip
    groups = selectors_fast.feature_dashboard_get(
        model_name="tiny", source_name="0-res-x", index=0, user=AnonymousUser(), per_group=15
    ).activation_groups
    want = [str(activation_snippets(g["activations"], 2.0)) for g in groups]
    assert len(want) == 2 and all(want)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(120_000)  # a busy 2-core machine
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    errors = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    for path in ("/tiny/0-res-x/0", "/tiny/0-res-x/0?embed=true"):
        page.goto(f"{server}{path}")
        page.locator("[data-snips] .snip").first.wait_for()
        got = page.evaluate(
            "() => [...document.querySelectorAll('[data-snips]')].map(b => { const c = b.cloneNode(true);"
            " c.querySelectorAll('.more, .copy').forEach(e => e.remove());"
            " c.querySelectorAll('.snip').forEach(s => ['tabindex', 'aria-label', 'aria-describedby']"
            ".forEach(a => s.removeAttribute(a))); return c.innerHTML; })"
        )
        parsed = page.evaluate(
            "(hs) => hs.map(h => { const t = document.createElement('template'); t.innerHTML = h; return t.innerHTML; })",
            want,
        )
        assert got == parsed
        # the tokens as a reader sees them: payloads as text, joined UTF-8 pieces, the centre marked
        top = page.locator("details.group").first.locator(".snip").first
        assert top.locator(".t").nth(0).inner_text() == XSS[0]
        assert top.locator(".t.q").inner_text() == XSS[3]
        assert top.locator(".t", has_text="“").get_attribute("title") == "0.900"
        assert page.locator(".snip .t.n").first.get_attribute("title") in ("-0.300", "-0.062")
        assert page.evaluate("() => window.__x") is None
        assert page.locator("main img, main script").count() == 0
    _shot(page, "snippets-embed")
    page.goto(f"{server}/tiny/0-res-x/0")
    page.locator("[data-snips] .snip").first.wait_for()
    _shot(page, "snippets-feature")
    assert dialogs == [] and errors == []


def test_same_data_on_miss_hit_and_after_the_token_cache_bound(monkeypatch):
    monkeypatch.setattr(sd, "_TOKENS", {})
    monkeypatch.setattr(sd, "_TOKENS_MAX", 6)
    groups, scale = next(_cases(seed=3, count=1))
    first = sd.snippet_rows(groups, scale)  # misses: fills the cache (past its bound: emptied)
    assert sd.snippet_rows(groups, scale) == first
    sd.snippet_rows(_random_groups(random.Random(4)), 1.0)  # other tokens
    assert sd.snippet_rows(groups, scale) == first
    assert len(sd._TOKENS) <= 6 + len(first["t"])
