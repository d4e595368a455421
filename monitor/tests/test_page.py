"""The monitor page: server side (cookie, conversation, includes, data attributes) and, in Chromium,
chat → table fills → hovering a token narrows it → clicking an answer token shows attributions."""

from __future__ import annotations

import pytest

from features.tests.test_browser import CHROMIUM, _shot, browser, server  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db


def test_page_renders_root_and_sets_cookie(mtiny, client):
    from monitor.models import Conversation

    r = client.get("/mtiny/monitor")
    assert r.status_code == 200
    html = r.content.decode()
    assert 'id="monitor"' in html and 'data-model-id="mtiny"' in html
    assert "data-conversation-id=" in html and "monitor/chat.js" in html
    key = r.cookies["neuronsite_monitor"].value
    assert key
    # Visiting writes nothing: the conversation is created by the first message.
    assert 'data-conversation-id=""' in html and 'data-mode="chat"' in html
    assert Conversation.objects.count() == 0
    first = client.post(
        "/api/monitor/conversation/new", {"modelId": "mtiny"}, content_type="application/json"
    )
    assert first.status_code == 201
    # The same visitor gets the same conversation back.
    import re

    html = client.get("/mtiny/monitor").content.decode()
    again = client.get("/mtiny/monitor").content.decode()
    ids = [re.search(r'data-conversation-id="(\d+)"', h).group(1) for h in (html, again)]
    assert ids[0] == ids[1] == str(first.json()["id"])
    assert "(empty)" not in html and f"Conversation #{ids[0]} (no messages yet)" in html
    # ?new=1 is a fresh page, still without a row until its first message.
    assert 'data-conversation-id=""' in client.get("/mtiny/monitor?new=1").content.decode()
    assert Conversation.objects.count() == 1
    assert client.get("/monitor").url == "/mtiny/monitor"
    # ?c= opens one of the visitor's conversations; someone else's is a 404.
    other = client.post(
        "/api/monitor/conversation/new", {"modelId": "mtiny"}, content_type="application/json"
    )
    cid = other.json()["id"]
    assert f'data-conversation-id="{cid}"' in client.get(f"/mtiny/monitor?c={cid}").content.decode()
    assert f'<option value="{ids[0]}"' in client.get(f"/mtiny/monitor?c={cid}").content.decode()
    from django.test import Client

    assert Client().get(f"/mtiny/monitor?c={cid}").status_code == 404
    assert client.get("/nope/monitor").status_code == 404
    assert 'href="/monitor"' in client.get("/").content.decode()


def test_plain_model_page_says_completion_mode(plain_model, client):
    html = client.get("/mplain/monitor").content.decode()
    assert "not an instruct model" in html and "completion mode" in html
    assert 'data-mode="completion"' in html


@pytest.mark.parametrize("signed_in", [False, True])
def test_a_page_visit_writes_nothing(mtiny, client, make_user, signed_in):
    from monitor.models import Conversation, SteeringSpec

    if signed_in:
        client.force_login(make_user())
    before = (Conversation.objects.count(), SteeringSpec.objects.count())
    for url in ("/mtiny/monitor", "/mtiny/monitor?new=1", "/monitor"):
        assert client.get(url, follow=True).status_code == 200
    assert (Conversation.objects.count(), SteeringSpec.objects.count()) == before


def test_source_picker_names_each_source(mtiny, client):
    html = client.get("/mtiny/monitor").content.decode()
    assert "(empty)" not in html
    for source in mtiny["sources"]:
        assert f'value="{source.name}" checked' in html
        assert source.hook_name in html and f"layer {source.layer}" in html
        if source.d_sae:
            assert f"{source.d_sae} latents" in html


@pytest.mark.skipif(
    not __import__("pathlib").Path(CHROMIUM).exists(), reason="needs Debian's chromium (make browser)"
)
@pytest.mark.django_db(transaction=True)
def test_monitor_in_the_browser(mtiny, server, browser):  # noqa: F811
    context = browser.new_context(bypass_csp=True)
    page = context.new_page()
    errors: list = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{server}/mtiny/monitor")
    got_event = page.evaluate_handle(
        "() => { window.__concepts = null; document.addEventListener('monitor:concepts', e => { window.__concepts = e.detail; }); }"
    )
    assert got_event is not None
    page.fill("#monitor-input", "What is a class in Python?")
    page.click("#monitor-send")
    # The first request loads torch, the model and the SAEs in the server: allow for a busy machine.
    page.wait_for_function(
        "() => window.__concepts && window.__concepts.concepts.length > 0", timeout=240_000
    )
    assert page.locator("#monitor-messages .msg-assistant").count() == 1
    total = page.locator("#monitor-concepts tbody tr").count()
    assert total > 0
    detail = page.evaluate("() => window.__concepts")
    # Hover the token with the fewest distinct active features (but at least one).
    per_pos: dict = {}
    for c in detail["concepts"]:
        per_pos.setdefault(c["position"], set()).add((c["source"], c["index"]))
    pos, feats = min(per_pos.items(), key=lambda kv: len(kv[1]))
    assert len(feats) < total
    page.hover(f"#monitor-tokens .tok[data-position='{pos}']")
    page.wait_for_function(
        f"() => document.querySelectorAll('#monitor-concepts tbody tr').length === {len(feats)}"
    )
    positions = page.eval_on_selector_all(
        "#monitor-concepts tbody tr", "rows => rows.map(r => r.dataset.position)"
    )
    assert set(positions) == {str(pos)}
    # Drag over a range: the table keeps the features active on those tokens only.
    lo, hi = 2, 5
    page.hover(f"#monitor-tokens .tok[data-position='{lo}']")
    page.mouse.down()
    page.hover(f"#monitor-tokens .tok[data-position='{hi}']")
    page.mouse.up()
    in_range = {(c["source"], c["index"]) for c in detail["concepts"] if lo <= c["position"] <= hi}
    page.wait_for_function(
        f"() => document.querySelectorAll('#monitor-concepts tbody tr').length === {len(in_range)}"
    )
    got = page.eval_on_selector_all(
        "#monitor-concepts tbody tr", "rows => rows.map(r => Number(r.dataset.position))"
    )
    assert all(lo <= p <= hi for p in got)
    assert page.locator("#monitor-tokens .tok.selected").count() == hi - lo + 1
    assert page.get_attribute("#monitor", "data-selection") == "[2,3,4,5]"
    page.keyboard.press("Escape")
    # Keyword filter: nothing has an explanation here, so a keyword empties the table.
    page.mouse.move(0, 0)
    page.fill("#monitor-filter", "zebra")
    page.wait_for_function("() => document.querySelectorAll('#monitor-concepts tbody tr').length === 0")
    page.fill("#monitor-filter", "")
    # Click an answer token: attribution mode.
    answer = [t["position"] for t in detail["tokens"] if t["role"] == "assistant" and not t["special"]]
    page.click(f"#monitor-tokens .tok[data-position='{answer[-1]}']")
    page.wait_for_function(
        "() => document.getElementById('monitor-table-title').textContent.startsWith('Attribution')"
    )
    page.wait_for_function("() => document.querySelectorAll('#monitor-concepts tbody tr').length > 0")
    assert page.locator("#monitor-col-value").text_content() == "Attribution"
    rows = page.eval_on_selector_all(
        "#monitor-concepts tbody tr", "rows => rows.map(r => Number(r.dataset.position))"
    )
    assert rows and all(p < answer[-1] for p in rows)
    # A highlight event from another panel marks tokens.
    page.evaluate(
        "() => document.dispatchEvent(new CustomEvent('monitor:highlight', {detail: {tokens: [1, 2], features: []}}))"
    )
    assert page.locator("#monitor-tokens .tok.highlight").count() == 2
    _shot(page, "monitor")
    assert not errors
    context.close()


@pytest.mark.skipif(
    not __import__("pathlib").Path(CHROMIUM).exists(), reason="needs Debian's chromium (make browser)"
)
@pytest.mark.django_db(transaction=True)
def test_phone_width_page_fits_the_screen(mtiny, server, browser):  # noqa: F811
    """At 390 px nothing but the tables (which scroll inside their cards) is wider than the screen."""
    context = browser.new_context(bypass_csp=True, viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.goto(f"{server}/mtiny/monitor")
    wide = page.evaluate(
        """() => { const w = document.documentElement.clientWidth; const out = [];
          for (const e of document.querySelectorAll('body *')) { const r = e.getBoundingClientRect();
            if (r.right > w + 1 && r.width > 0 && !e.closest('.monitor-table-scroll, .steer-preview-wrap'))
              out.push(e.tagName + '#' + e.id); }
          return {width: w, scroll: document.documentElement.scrollWidth, wide: out}; }"""
    )
    _shot(page, "monitor-phone")
    context.close()
    assert wide["wide"] == [] and wide["scroll"] <= wide["width"], wide
