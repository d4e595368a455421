"""The researcher pass in Chromium (issue 16): multi-line test text keeps its lines and shows
them as ↵, token values in a real tooltip reachable by keyboard, a copy button per snippet,
visible leading spaces in the logit tables, interval groups shown at their qualifying token.
Screenshots go to test-artifacts/."""

from __future__ import annotations

from features.tests.test_browser import (  # noqa: F401  (pytest fixtures)
    _seed_tiny,
    _shot,
    browser,
    pytestmark,
    server,
    tiny_ui_folders,
)

MULTILINE = "The quick brown fox\njumps over\n\nthe lazy dog."


def test_multiline_text_tooltips_copy_and_logits(server, browser, tiny_ui_folders):  # noqa: F811
    from features.models import Activation, Feature

    _model, source = _seed_tiny(tiny_ui_folders)
    feature = Feature.objects.get(source=source, index=1)
    tokens = [f"Ġw{i}" for i in range(30)]
    values = [0.0] * 30
    values[3], values[25] = 0.3, 2.0  # qualifying token 3 in 0.0–0.4; the max far away
    Activation.objects.create(
        feature=feature,
        tokens=tokens,
        values=values,
        max_value=2.0,
        max_value_token_index=25,
        bin_min=0.0,
        bin_max=0.4,
        bin_contains=0.0123,
        qualifying_token_index=3,
    )
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    ctx.grant_permissions(["clipboard-read", "clipboard-write"])
    page = ctx.new_page()
    page.set_default_timeout(45_000)
    page.goto(f"{server}/tiny/1-res-tiny/1")

    # the logit tables show a leading space
    assert page.locator("table.logits td").first.inner_text() == "·dog"
    # the interval group: percentage of tokens, row led by the qualifying token's value
    group = page.locator("details.group", has_text="Interval 0.000 – 0.400")
    assert "contains 1.23% of tokens" in group.locator("summary").inner_text()
    assert group.locator(".snip .mx").inner_text() == "0.300"
    assert group.locator(".snip .t.q").inner_text() == " w3"

    # multi-line test text: the newlines reach the model and come back as ↵ tokens
    box = page.get_by_label("Text to run through the model")
    box.fill(MULTILINE)
    assert box.input_value() == MULTILINE
    box.press("Control+Enter")  # submits; Enter alone adds a line
    page.locator("#test-output .t").first.wait_for()
    shown = page.locator("#test-output").inner_text()
    assert shown.count("↵") >= 3 and "jumps" in shown
    assert page.locator("#test-output .t.nl").count() >= 2
    _shot(page, "h01-dashboard-multiline-text")

    # keyboard: Tab into the top snippet, arrows walk the tokens, the tooltip shows each value
    top = page.locator("details.group").first.locator(".snip").first
    top.focus()
    tip = page.locator("#token-tip")
    tip.wait_for(state="visible")
    assert "activation 1.800" in tip.inner_text()  # starts on the marked (max) token
    page.keyboard.press("ArrowRight")
    assert tip.inner_text() == "\u201c fox\u201d   activation 0.600"
    assert page.locator(".snip .t.cur").count() == 1
    _shot(page, "h02-token-tooltip")
    page.keyboard.press("Escape")
    assert tip.is_hidden()

    # copy: the snippet's text with its newline restored
    top.locator(".copy").click()
    top.locator(".copy", has_text="Copied").wait_for()
    copied = top.locator(".copy").get_attribute("data-copied")
    assert copied == "The quick brown fox\n jumps"
    # the embed-code generator: toggles rewrite the code, the preview honours them
    page.locator("#embed-gen summary").click()
    page.get_by_label("plots").uncheck()
    page.get_by_label("Height").fill("450")
    code = page.get_by_label("Embed code").input_value()
    assert "embed=true&amp;embedplots=false" in code and "height:450px" in code
    preview = page.locator("#embed-preview").get_attribute("href")
    assert preview.endswith("/tiny/1-res-tiny/1?embed=true&embedplots=false")
    _shot(page, "h03-embed-generator")
    page.goto(preview)
    assert page.locator("svg.hist").count() == 0 and page.locator(".snip").count() >= 1
    ctx.close()

    # a phone: the nav wraps inside the screen, nothing scrolls sideways
    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = phone.new_page()
    page.goto(f"{server}/tiny/1-res-tiny/1")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert page.get_by_role("link", name="Sign up").is_visible()
    # touch: a tap on a token shows its value
    page.locator(".snip .t.a").first.tap()
    assert "activation" in page.locator("#token-tip").inner_text()
    _shot(page, "h04-phone-dashboard")
    phone.close()
