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
    page.set_default_timeout(120_000)  # the first inference loads the model: slow on a busy 2-core machine
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

    # UMAP: hover reads an explanation, a dragged box selects, the selection goes into a new list
    from accounts.models import User
    from features.models import ListItem

    for f in Feature.objects.filter(source=source):
        f.umap_x, f.umap_y, f.umap_cluster = float(f.index % 8), float(f.index // 8), f.index % 3
        f.save(update_fields=["umap_x", "umap_y", "umap_cluster"])
    user = User(username="mapper")
    user.set_password("a-long-enough-passphrase")
    user.save()
    ctx = browser.new_context(
        viewport={"width": 1280, "height": 900}, bypass_csp=True
    )  # Playwright polls with eval
    page = ctx.new_page()
    page.set_default_timeout(120_000)  # the first inference loads the model: slow on a busy 2-core machine
    page.goto(f"{server}/account/login/?next=/tiny/1-res-tiny/umap")
    page.get_by_label("Username").fill("mapper")
    page.get_by_label("Password").fill("a-long-enough-passphrase")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/umap")
    page.wait_for_function("document.getElementById('umap-page').dataset.ready === 'true'")
    assert page.locator("#umap-status").inner_text() == "64 features · 3 clusters"
    canvas = page.locator("#umap-canvas")
    bb = canvas.bounding_box()
    scale = bb["width"] / 1100

    # feature 1 sits at x=1, y=0: the 8 x 8 grid spans the canvas (14 px padding)
    def at(x, y):  # data coordinates -> page pixels (the canvas keeps its 1100 x 620 aspect)
        return bb["x"] + (14 + x * (1100 - 28) / 7) * scale, bb["y"] + (14 + (7 - y) * (620 - 28) / 7) * scale

    page.mouse.move(*at(1, 0))
    assert page.locator("#umap-tip").inner_text().startswith("1 — words about animals #1")
    # drag a box around the first two rows (features 0-15), starting inside the canvas
    x0, y0 = at(-0.08, 1.4)
    x1, y1 = at(7.08, -0.1)
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move((x0 + x1) / 2, (y0 + y1) / 2)
    page.mouse.move(x1, y1)
    page.mouse.up()
    assert page.locator("#umap-count").inner_text() == "16 features"
    page.get_by_label("or new list").fill("Map picks")
    page.get_by_role("button", name="Add selected").click()
    page.locator("#umap-list-link").wait_for()
    _shot(page, "h05b-umap-selection")
    picked = sorted(ListItem.objects.filter(list__name="Map picks").values_list("feature__index", flat=True))
    assert picked == list(range(16))

    # model -> SAE set from the browser, the service's errors on the form
    page.goto(f"{server}/")
    page.get_by_role("link", name="+ Add New Model").click()
    page.get_by_label("Model id").fill("tiny")  # taken
    page.get_by_label("Layers").fill("2")
    page.get_by_role("button", name="Create model").click()
    page.get_by_text("Model 'tiny' already exists.").wait_for()
    page.get_by_label("Model id").fill("my-model")
    page.get_by_label("TransformerLens name").fill("gpt2-small")
    page.get_by_label("Visibility").select_option("PUBLIC")
    _shot(page, "h08-model-new")
    page.get_by_role("button", name="Create model").click()
    page.wait_for_url(f"{server}/my-model")
    page.goto(f"{server}/sae/new?model=my-model")
    page.get_by_label("SAE set id").fill("res-mine")
    page.get_by_label("Hook name").fill("blocks.{layer}.hook_resid_post")
    page.get_by_label("How to load each layer").fill(
        "0 my-release blocks.0.hook_resid_post\n1 my-release blocks.1.hook_resid_post"
    )
    _shot(page, "h09-sae-new")
    page.get_by_role("button", name="Create SAE set").click()
    page.wait_for_url(f"{server}/my-model/res-mine")
    assert page.get_by_role("link", name="1-res-mine").is_visible()

    # a steering vector uploaded from the steer page joins the features to steer with
    page.goto(f"{server}/steer?model=tiny")
    page.locator("#vector-upload summary").click()
    page.get_by_label("Label", exact=True).fill("all ones")
    page.get_by_label("Layer", exact=True).fill("1")
    page.get_by_label("Default strength").fill("3")
    page.get_by_label("Vector (d_model numbers").fill(", ".join(["1"] * 32))
    page.get_by_role("button", name="Upload and add").click()
    page.locator("#vec-status", has_text="added").wait_for()
    row = page.locator(".steer-feature")
    assert row.count() == 1 and "all ones" in row.inner_text()
    assert row.locator(".strength-num").input_value() == "3"
    page.get_by_label("Vector (d_model numbers").fill("[1, 2]")
    page.get_by_role("button", name="Upload and add").click()
    page.locator("#vec-status", has_text="Error").wait_for()
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


def test_search_via_inference_topk_and_steering_pages(server, browser, tiny_ui_folders):  # noqa: F811
    from features.models import Explanation, Feature
    from inference.testing import register_tiny

    _model, source = _seed_tiny(tiny_ui_folders)
    Explanation.objects.bulk_create(
        Explanation(feature=f, description=f"latent {f.index} words")
        for f in Feature.objects.filter(source=source, index__gte=6)
    )
    # a second SAE set on the same model: its layers must not show while res-tiny is chosen
    register_tiny(
        model_name="tiny",
        model_folder=tiny_ui_folders["model"],
        sae_folders={1: tiny_ui_folders["sae1"]},
        set_name="res-other",
    )
    ctx = browser.new_context(
        viewport={"width": 1280, "height": 900}, bypass_csp=True
    )  # Playwright polls with eval
    page = ctx.new_page()
    page.set_default_timeout(120_000)  # the first inference loads the model: slow on a busy 2-core machine
    page.goto(f"{server}/search-inference?model=tiny")
    page.get_by_label("SAE set").select_option(label="res-tiny")
    assert page.get_by_label("1-res-tiny").is_visible()
    assert page.locator(".si-layer", has_text="1-res-other").is_hidden()
    page.get_by_label("1-res-tiny").check()
    page.get_by_label("Text to search").fill("The quick brown fox\njumps over the lazy dog.")
    page.get_by_label("Hide features denser than").fill("0.9")
    page.get_by_role("button", name="Search", exact=True).click()
    page.locator("#si-results tbody tr").first.wait_for()
    assert "not found" not in page.locator("#si-status").inner_text()
    # sort by token 3: the value column becomes the value at that token
    page.locator("#si-heatmap thead button").nth(3).click()
    page.locator("#si-heatmap thead button[aria-pressed=true]").wait_for()
    page.locator("#si-results th", has_text="At sorted tokens").wait_for()
    rows = page.locator("#si-results tbody tr")
    for i in range(min(3, rows.count())):
        row = rows.nth(i)
        shown = float(row.locator(".si-value").inner_text())
        at_token = float(row.locator(".snip .t").nth(3).get_attribute("data-value"))
        assert abs(shown - at_token) <= 1e-3
    # activation-weighted heatmap
    page.get_by_label("Show").select_option("sum")
    cells = page.locator("#si-heatmap td.v").evaluate_all("tds => tds.map(t => t.textContent)")
    assert cells[0] == "0" and any("." in c for c in cells)  # BOS ignored; activations summed
    page.locator("#si-csv").click()
    csv = page.locator("#si-csv").get_attribute("data-exported")
    assert csv.startswith("model,source,index,explanation,max_value,value_at_sorted_tokens,t0:")
    assert csv.count("\r\n") == rows.count() + 1
    _shot(page, "h05-search-inference")

    # top-k by token: 10 per token, explanations on the chips
    page.locator("#topk-source").select_option("1-res-tiny")
    page.get_by_label("Per token").select_option("10")
    page.locator("#topk-text").fill("The quick brown fox")
    page.get_by_role("button", name="Top-k by token").click()
    page.locator("#topk-results tr").first.wait_for()
    counts = page.locator("#topk-results tr").evaluate_all(
        "rs => rs.map(r => r.querySelectorAll('.pill').length)"
    )
    assert max(counts) > 5 and max(counts) <= 10
    assert page.locator("#topk-results .pill .ex").count() > 0
    _shot(page, "h06-topk")

    # the dashboard's live cos-sim match against another source (the same SAE weights here, so
    # the feature finds itself first, at cosine 1)
    page.goto(f"{server}/tiny/1-res-tiny/1")
    page.locator("#cossim-match summary").click()
    page.locator("#cossim-target option[value='1-res-other']").wait_for(state="attached")
    page.locator("#cossim-target").select_option("1-res-other")
    page.get_by_role("button", name="Match").click()
    page.locator("#cossim-results li").first.wait_for()
    assert page.locator("#cossim-results li").count() == 10
    assert page.locator("#cossim-results li").first.inner_text() == "1-res-other / 1 1.000"

    # steering: the default strength comes from the feature's activation scale (2 x max 2.0)
    page.goto(f"{server}/steer?model=tiny&feature=1-res-tiny:1")
    row = page.locator(".steer-feature")
    row.wait_for()
    page.wait_for_function("!document.querySelector('.steer-feature').dataset.pending")
    assert row.locator(".strength-num").input_value() == "4"
    assert row.locator(".strength").get_attribute("min") == "-300"
    assert page.locator("#steer-mode-chat").is_disabled() and page.locator("#steer-chat-note").is_visible()
    page.get_by_label("Strength of 1-res-tiny / 1").fill("12.5")
    assert row.locator(".strength").input_value() == "12.5"
    page.get_by_label("Prompt").fill("The quick brown")
    page.get_by_text("Settings", exact=True).click()
    assert int(page.get_by_label("Tokens").get_attribute("max")) <= 256
    page.get_by_label("Tokens").fill("8")
    page.get_by_role("button", name="Steer", exact=True).click()
    page.get_by_role("status").filter(has_text="Done").wait_for()
    assert page.locator("#out-default .prompt").inner_text() == "The quick brown"
    assert page.locator("#out-steered .prompt").inner_text() == "The quick brown"
    # per-token top-5 log-probs: a chip per generated token; focusing one shows its table
    view = page.locator("#lp-steered-view")
    view.locator("summary").click()
    chips = view.locator(".lp-tok")
    assert 1 <= chips.count() <= 8 and page.locator("#lp-default .lp-tok").count() >= 1
    chips.first.click()  # hover, focus and tap all show the chip's table
    rows = view.locator(".lp-table tr")
    rows.last.wait_for()
    assert rows.count() == 6  # header + 5 candidates
    assert view.locator(".lp-table caption").inner_text().startswith("Token 1:")
    assert float(rows.nth(1).locator("td").nth(1).inner_text()) <= 0
    _shot(page, "h07-steer")
    # the share link (a stored result, no live token events) shows the same per-token log-probs
    live = page.locator("#lp-steered .lp-tok").all_text_contents()
    assert "?id=" in page.url
    page.reload()
    page.get_by_role("status").filter(has_text="Shared result loaded.").wait_for()
    assert page.locator("#lp-steered .lp-tok").all_text_contents() == live
    assert page.locator("#lp-default .lp-tok").count() >= 1
    view = page.locator("#lp-steered-view")
    view.locator("summary").click()
    view.locator(".lp-tok").first.click()
    assert view.locator(".lp-table tr").count() == 6
    assert view.locator(".lp-table caption").inner_text().startswith("Token 1:")
    _shot(page, "h07b-steer-share-link-logprobs")
    ctx.close()
