"""The linter and steer panels in Chromium (Playwright + Debian's chromium), on a test-only page
that includes the two partials inside ``#monitor`` as the monitor page does, served by
pytest-django's live server with a real tiny model and SAE and a scripted embeddings endpoint.

linter: "monitor:concepts" → clusters listed → click one → "monitor:highlight" carries its features
and positions; steer: type a concept → preview table → add a spec → regenerate → default and
steered differ; with every spec off, regenerating asks for one. Screenshots go to test-artifacts/."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from django.http import HttpResponse
from django.template import engines
from django.urls import include, path

from inference.tests.conftest import tiny_folders  # noqa: F401  (fixture)
from monitor.tests.test_steer_search import bag_of_words

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"

pytestmark = [
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium (make browser)"),
    pytest.mark.django_db(transaction=True),
]

PAGE = """{% extends "base.html" %}{% block content %}
<div id="monitor" data-model-id="tiny" data-conversation-id="">
{% include "monitor/_linter.html" %}{% include "monitor/_steer.html" %}
</div>{% endblock %}"""


def panels_page(request):
    return HttpResponse(engines["django"].from_string(PAGE).render({}, request))


urlpatterns = [path("monitor-panels-test", panels_page), path("", include("neuronsite.urls"))]


@pytest.fixture
def browser():
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


@pytest.fixture
def world(settings, tiny_folders):  # noqa: F811
    """Model ``tiny`` (instruct) with ``1-res-tiny``; explanations with (bag-of-words) embeddings
    from a scripted OpenAI-compatible endpoint (which also names clusters): four about cats,
    three about money, two loners."""
    from autointerp.tests.llm_server import ScriptedLLM
    from features.models import Explanation, Feature
    from inference.testing import register_tiny

    def name_cluster(messages):
        first = [line for line in messages[-1]["content"].splitlines() if line.startswith("- ")][0]
        return json.dumps({"name": f"About {first[2:].split()[0]}", "score": 4})

    server = ScriptedLLM(embed=bag_of_words, answer=name_cluster).start()
    settings.ROOT_URLCONF = __name__
    settings.OPENAI_BASE_URL = server.url
    settings.OPENAI_API_KEY = "server-key"
    settings.AUTOINTERP_EXPLAINER_MODEL = "scripted-namer"
    settings.EXPLANATION_EMBEDDER = "openai"
    settings.EXPLANATION_EMBEDDING_MODEL = "scripted-embed"
    _, _, (source,) = register_tiny(
        model_name="tiny",
        model_folder=tiny_folders["model"],
        sae_folders={1: tiny_folders["sae1"]},
        create_features=True,
        instruct=True,
    )
    texts = {
        9: "cats and kittens",
        10: "cats purring",
        11: "cats sleeping cats",
        12: "kittens cats",
        20: "money and banks",
        21: "money markets",
        22: "money money",
        30: "weather",
        31: "sport",
    }
    for index, text in texts.items():
        Feature.objects.filter(source=source, index=index).update(activation_quantiles={"0.9999999": 40.0})
        feature = Feature.objects.get(source=source, index=index)
        # the scripted embedder's vectors serve both the search and the linter
        Explanation.objects.create(
            feature=feature,
            description=text,
            embedding=bag_of_words(text),
            embedding_model="openai:scripted-embed",
        )
    yield {"source": source, "texts": texts}
    server.close()


def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_linter_and_steer_panels(live_server, world, browser):
    context = browser.new_context(bypass_csp=True, viewport={"width": 1200, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{live_server.url}/monitor-panels-test")
    page.wait_for_function("() => window.NeuronsiteMonitor && window.NeuronsiteMonitor.steerRanges")

    # linter: concepts in → clusters out → click → highlight event
    concepts = [
        {"source": "1-res-tiny", "index": index, "layer": 1, "position": 2 + (index % 3), "token": "x"}
        for index in world["texts"]
    ]
    page.evaluate(
        """(concepts) => {
            window.__highlights = [];
            document.addEventListener('monitor:highlight', e => window.__highlights.push(e.detail));
            document.dispatchEvent(new CustomEvent("monitor:concepts", {detail: {conversationId: null, concepts}}));
        }""",
        concepts,
    )
    page.wait_for_selector("#linter-messages .linter-msg")
    names = page.locator("#linter-messages .linter-msg .name").all_text_contents()
    assert len(names) >= 1
    assert "About cats" in names
    assert "named by scripted-namer" in page.locator("#linter-status").text_content()
    page.locator("#linter-messages .linter-msg").first.click()
    page.wait_for_function("() => window.__highlights.length === 1")
    detail = page.evaluate("() => window.__highlights[0]")
    assert detail["features"] and all(f["source"] == "1-res-tiny" for f in detail["features"])
    assert detail["tokens"] == sorted({2 + (f["index"] % 3) for f in detail["features"]})
    _shot(page, "monitor-linter-panel")

    # steer: live preview → spec → regenerate
    page.fill("#steer-topk", "4")
    page.fill("#steer-description", "cats")
    page.wait_for_selector("#steer-preview tbody tr")
    cells = page.locator("#steer-preview tbody tr td:nth-child(3)").all_text_contents()
    assert sorted(cells) == sorted(t for t in world["texts"].values() if "cats" in t)
    page.fill("#steer-strength", "1")
    page.click("#steer-add-spec")
    assert page.locator("#steer-specs li .what").count() == 1
    page.fill("#steer-prompt-text", "The meaning of life is")
    page.select_option("#steer-chat-mode", "completion")
    page.fill("#steer-temperature", "0")
    page.fill("#steer-ntokens", "10")
    page.click("#steer-regenerate")
    page.wait_for_function("() => document.getElementById('steer-out-steered').textContent.length > 0")
    default = page.locator("#steer-out-default").text_content()
    steered = page.locator("#steer-out-steered").text_content()
    assert default.startswith("The meaning of life is") and steered != default
    _shot(page, "monitor-steer-panel")
    # a spec toggled off is not sent; with none left on, the panel asks for one
    page.locator("#steer-specs li input[type=checkbox]").uncheck()
    page.click("#steer-regenerate")
    page.wait_for_function(
        "() => /enable at least one/.test(document.getElementById('steer-run-status').textContent)"
    )
    assert errors == []
