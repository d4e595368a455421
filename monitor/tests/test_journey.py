"""The integrated monitor journey in Chromium (issue 15's Playwright check), on the real page
/{model}/monitor served by daphne (websockets) with a tiny instruct model and two SAEs whose
features all carry explanations with embeddings from a scripted OpenAI-compatible server (which
also names the linter's clusters):

chat → the table fills → hovering a token narrows it → the linter shows clusters → clicking an
answer token shows attributions → steering by a description changes the steered answer and leaves
the default one unchanged. Screenshots: test-artifacts/monitor-journey-*.png."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from features.tests.test_browser import ARTIFACTS, CHROMIUM, browser  # noqa: F401 - browser is a fixture
from monitor.tests.test_steer_search import bag_of_words

pytestmark = [
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium (make browser)"),
    pytest.mark.django_db(transaction=True),
]

# Words no other test searches for: deleted rows stay in the HNSW index until vacuumed and would
# crowd other tests' nearest-neighbour candidates for the same words.
WORDS = ("planets", "rivers", "music")


def _text(index: int) -> str:
    """Three families of explanations (by index mod 3): close within a family, far across."""
    word = WORDS[index % 3]
    return f"{word} {word} variant{index}"


@pytest.fixture
def namer():
    from autointerp.tests.llm_server import ScriptedLLM

    def name_cluster(messages):
        first = [line for line in messages[-1]["content"].splitlines() if line.startswith("- ")][0]
        return json.dumps({"name": f"About {first[2:].split()[0]}", "score": 4})

    server = ScriptedLLM(embed=bag_of_words, answer=name_cluster).start()
    yield server
    server.close()


@pytest.fixture
def explained(mtiny):
    from features.models import Explanation, Feature

    rows = [
        Explanation(
            feature=f,
            description=_text(f.index),
            embedding=bag_of_words(_text(f.index)),
            embedding_model="openai:scripted-embed",
        )
        for f in Feature.objects.filter(source__in=mtiny["sources"])
    ]
    Explanation.objects.bulk_create(rows)
    return mtiny


@pytest.fixture
def journey_server(django_db_setup, django_db_blocker, namer):
    """daphne on a free port over this test database, its LLM settings pointed at ``namer``."""
    from neuronsite.jobs.testing import start_web, stop

    ARTIFACTS.mkdir(exist_ok=True)
    proc, address = start_web(
        ARTIFACTS,
        DEBUG="false",
        OPENAI_BASE_URL=namer.url,
        OPENAI_API_KEY="server-key",
        AUTOINTERP_EXPLAINER_MODEL="scripted-namer",
        EXPLANATION_EMBEDDER="openai",
        EXPLANATION_EMBEDDING_MODEL="scripted-embed",
    )
    yield f"http://{address}"
    stop(proc)


def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"monitor-journey-{name}.png"), full_page=True)


def test_monitor_journey(explained, journey_server, browser):  # noqa: F811
    context = browser.new_context(bypass_csp=True, viewport={"width": 1300, "height": 1000})
    page = context.new_page()
    errors: list = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{journey_server}/mtiny/monitor")
    page.evaluate(
        """() => { window.__concepts = null; window.__conversation = null; window.__selection = null;
        document.addEventListener('monitor:concepts', e => { window.__concepts = e.detail; });
        document.addEventListener('monitor:conversation', e => { window.__conversation = e.detail; });
        document.addEventListener('monitor:selection', e => { window.__selection = e.detail; }); }"""
    )
    # 1. chat → the table fills (the first request loads torch, the model and the SAEs).
    page.fill("#monitor-ntokens", "8")
    page.fill("#monitor-temperature", "0")
    page.fill("#monitor-input", "What is a class in Python?")
    page.click("#monitor-send")
    page.wait_for_function(
        "() => window.__concepts && window.__concepts.concepts.length > 0", timeout=240_000
    )
    detail = page.evaluate("() => window.__concepts")
    total = page.locator("#monitor-concepts tbody tr").count()
    assert total > 0
    explanations = page.locator("#monitor-concepts tbody tr td:nth-child(6)").all_text_contents()
    assert explanations and all(e.split()[0] in WORDS for e in explanations)
    # The steer panel follows the conversation (the page announces it).
    conv = page.evaluate("() => window.__conversation")
    assert [m["role"] for m in conv["messages"]] == ["user", "assistant"]
    assert "Regenerates the conversation's last answer" in page.locator("#steer-source-note").text_content()
    _shot(page, "1-chat")

    # 2. hovering a token narrows the table to that token's features.
    per_pos: dict = {}
    for c in detail["concepts"]:
        per_pos.setdefault(c["position"], set()).add((c["source"], c["index"]))
    pos, feats = min(per_pos.items(), key=lambda kv: len(kv[1]))
    assert len(feats) < total
    page.hover(f"#monitor-tokens .tok[data-position='{pos}']")
    page.wait_for_function(
        f"() => document.querySelectorAll('#monitor-concepts tbody tr').length === {len(feats)}"
    )
    shown = page.eval_on_selector_all(
        "#monitor-concepts tbody tr", "rows => rows.map(r => r.dataset.position)"
    )
    assert set(shown) == {str(pos)}
    _shot(page, "2-hover")
    page.mouse.move(0, 0)

    # 3. the linter shows clusters, named by the scripted LLM; clicking one highlights its tokens.
    page.wait_for_selector("#linter-messages .linter-msg", timeout=60_000)
    names = page.locator("#linter-messages .linter-msg .name").all_text_contents()
    assert names and all(n in {f"About {w}" for w in WORDS} for n in names)
    page.locator("#linter-messages .linter-msg").first.click()
    page.wait_for_function("() => document.querySelectorAll('#monitor-tokens .tok.highlight').length > 0")
    _shot(page, "3-linter")

    # A dragged token range reaches the steer panel as its prompt ranges (same positions).
    page.hover("#monitor-tokens .tok[data-position='1']")
    page.mouse.down()
    page.hover("#monitor-tokens .tok[data-position='3']")
    page.mouse.up()
    page.wait_for_function("() => window.__selection && window.__selection.positions.length === 3")
    assert not page.locator("#steer-use-selection").is_hidden()
    page.click("#steer-use-selection")
    assert page.input_value("#steer-ranges") == "1-3"
    page.keyboard.press("Escape")

    # 4. clicking an answer token shows attributions.
    answer = [t["position"] for t in detail["tokens"] if t["role"] == "assistant" and not t["special"]]
    page.click(f"#monitor-tokens .tok[data-position='{answer[-1]}']")
    page.wait_for_function(
        "() => document.getElementById('monitor-table-title').textContent.startsWith('Attribution')"
    )
    page.wait_for_function("() => document.querySelectorAll('#monitor-concepts tbody tr').length > 0")
    assert page.locator("#monitor-col-value").text_content() == "Attribution"
    _shot(page, "4-attribution")

    # 5. steer by a description: the steered answer changes, the default one does not.
    page.fill("#steer-topk", "6")
    page.fill("#steer-description", "planets")
    page.wait_for_selector("#steer-preview tbody tr")
    cells = page.locator("#steer-preview tbody tr td:nth-child(3)").all_text_contents()
    assert cells and all(c.startswith("planets") for c in cells)
    page.fill("#steer-ranges", "")
    page.select_option("#steer-mode", "add")
    page.fill("#steer-strength", "20")
    page.click("#steer-add-spec")
    page.wait_for_selector("#steer-specs li .what")  # saved with the conversation (POST)
    assert page.locator("#steer-specs li .what").count() == 1
    page.fill("#steer-temperature", "0")
    page.fill("#steer-ntokens", "8")
    page.click("#steer-regenerate")
    page.wait_for_function(
        "() => document.getElementById('steer-out-steered').textContent.length > 0", timeout=120_000
    )
    default = page.locator("#steer-out-default").text_content()
    steered = page.locator("#steer-out-steered").text_content()
    assert steered != default
    # "Unchanged": the default equals the unsteered answer to the same messages, and the
    # conversation itself is as it was.
    reference = page.evaluate(
        """async (msgs) => {
            const csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
            const r = await fetch('/api/monitor/steer', {method: 'POST', credentials: 'same-origin',
              headers: {'Content-Type': 'application/json', 'X-CSRFToken': csrf},
              body: JSON.stringify({modelId: 'mtiny', messages: msgs, nTokens: 8, temperature: 0, seed: 0,
                specs: [{mode: 'suppress', features: [{source: '0-res-tiny', index: 0}]}]})});
            return await r.json();
        }""",
        conv["messages"][:1],
    )
    assert default == (
        reference["DEFAULT"]["raw"] if isinstance(reference["DEFAULT"], dict) else reference["DEFAULT"]
    )
    after = page.evaluate(
        "async (id) => (await (await fetch('/api/monitor/conversation/' + id, {credentials: 'same-origin'})).json()).messages",
        conv["conversationId"],
    )
    assert after == conv["messages"]
    _shot(page, "5-steer")

    # The spec was saved with the conversation: it is back after a reload, and its toggle is saved.
    from monitor.models import SteeringSpec

    page.reload()
    page.wait_for_selector("#steer-specs li .what")
    assert page.locator("#steer-specs li .what").count() == 1
    with page.expect_response(lambda r: r.request.method == "PATCH") as patched:
        page.locator("#steer-specs li input[type=checkbox]").uncheck()
    assert patched.value.ok
    assert list(SteeringSpec.objects.values_list("conversation_id", "enabled", "mode")) == [
        (conv["conversationId"], False, "add")
    ]
    assert not errors
    context.close()
