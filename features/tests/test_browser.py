"""The real pages in Chromium (Playwright + Debian's chromium), served by daphne (HTTP and
websockets) in a subprocess against this test database, with a real tiny model and SAE.

sign up -> browse to a feature -> vote -> comment -> add to a list -> test custom text (values
equal sae_lens on TransformerLens' cache) -> steer (both columns fill) -> open the share link ->
search via inference -> open the shared search URL. XSS payloads render as text. Screenshots go
to test-artifacts/."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
ROOT = Path(__file__).resolve().parents[2]
CUSTOM_TEXT = "The quick brown fox jumps over the lazy dog."

pytestmark = [
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium (make browser)"),
    pytest.mark.django_db(transaction=True),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(django_db_setup, django_db_blocker):
    """daphne on a free port, using this test database (the embedded server is shared)."""
    from django.db import connection

    with django_db_blocker.unblock():
        db_name = connection.settings_dict["NAME"]
    port = _free_port()
    env = {
        **os.environ,
        "EMBEDDED_DB_NAME": db_name,
        "DEBUG": "false",
        "DJANGO_SETTINGS_MODULE": "neuronsite.settings",
    }
    daphne = shutil.which("daphne", path=str(Path(sys.executable).parent)) or "daphne"
    ARTIFACTS.mkdir(exist_ok=True)
    log = open(ARTIFACTS / f"daphne-{port}.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(
        [daphne, "-b", "127.0.0.1", "-p", str(port), "neuronsite.asgi:application"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"daphne exited: see {log.name}") from None
            time.sleep(0.2)
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture
def browser():
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield b
        b.close()


@pytest.fixture(scope="session")
def tiny_ui_folders(tmp_path_factory):
    from inference.testing import build_tiny_model, build_tiny_sae

    root = tmp_path_factory.mktemp("tiny-ui")
    return {
        "model": build_tiny_model(root / "model", n_layers=2, d_model=32, seed=0),
        "sae1": build_tiny_sae(root / "sae1", d_in=32, d_sae=64, hook_name="blocks.1.hook_resid_pre", seed=2),
    }


def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _no_dialogs(page) -> list:
    seen: list = []
    page.on("dialog", lambda d: (seen.append(d.message), d.dismiss()))
    return seen


def _unlabelled_controls(page) -> list[str]:
    """Visible form controls without an accessible name, and buttons without text."""
    return page.evaluate(
        """() => Array.from(document.querySelectorAll('input, select, textarea, button')).filter(e => {
            if (e.type === 'hidden' || e.offsetParent === null) return false;
            if (e.tagName === 'BUTTON') return !(e.textContent.trim() || e.getAttribute('aria-label'));
            return !(e.labels && e.labels.length) && !e.getAttribute('aria-label');
        }).map(e => e.outerHTML.slice(0, 120))"""
    )


def _direct_values(folders, text: str, index: int):
    """Feature ``index`` of the SAE on ``text`` with the libraries used directly."""
    import json

    import torch
    from sae_lens import SAE
    from safetensors.torch import load_file
    from transformer_lens import HookedTransformer, HookedTransformerConfig
    from transformers import AutoTokenizer

    raw = json.loads((folders["model"] / "config.json").read_text())
    raw["dtype"] = torch.float32
    raw["device"] = "cpu"
    model = HookedTransformer(
        HookedTransformerConfig.from_dict(raw),
        tokenizer=AutoTokenizer.from_pretrained(str(folders["model"])),
        move_to_device=False,
    )
    model.load_state_dict(load_file(str(folders["model"] / "model.safetensors")), strict=False)
    model.eval()
    sae = SAE.load_from_disk(folders["sae1"], device="cpu")
    try:
        sae.fold_W_dec_norm()
    except NotImplementedError:
        pass
    with torch.no_grad():
        _, cache = model.run_with_cache(text)
        acts = sae.encode(cache["blocks.1.hook_resid_pre"])[0, :, index]
    return acts[1:].tolist()  # BOS dropped, as the API does


def _seed_tiny(folders):
    from features.models import Activation, Explanation, Feature
    from inference.testing import register_tiny

    model, source_set, sources = register_tiny(
        model_name="tiny",
        model_folder=folders["model"],
        sae_folders={1: folders["sae1"]},
        create_features=True,
    )
    source = sources[0]
    for i in range(6):
        f = Feature.objects.get(source=source, index=i)
        f.max_act_approx = 2.0
        f.frac_nonzero = 0.01 * (i + 1)
        f.freq_hist_data_bar_values = [0.2, 0.6, 1.0, 1.4]
        f.freq_hist_data_bar_heights = [9, 5, 2, 1]
        f.logits_hist_data_bar_values = [-0.5, 0.0, 0.5]
        f.logits_hist_data_bar_heights = [2, 6, 3]
        f.pos_str, f.pos_values = ["Ġdog", "Ġcat"], [0.9, 0.7]
        f.neg_str, f.neg_values = ["Ġthe"], [-0.4]
        f.topk_cos_sim_indices, f.topk_cos_sim_values = [i, (i + 1) % 6], [1.0, 0.42]
        f.save()
        Explanation.objects.create(feature=f, description=f"words about animals #{i}")
        Activation.objects.create(
            feature=f,
            tokens=["The", "Ġquick", "Ġbrown", "Ġfox", "Ċ", "Ġjumps"],
            values=[0.0, 0.3, 1.8, 0.6, 0.0, 0.1],
            max_value=1.8,
            max_value_token_index=2,
        )
    return model, source


def test_researcher_journey(server, browser, tiny_ui_folders):
    from features.models import Comment, List, ListItem, Vote

    model, source = _seed_tiny(tiny_ui_folders)
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    page.set_default_timeout(45_000)
    dialogs = _no_dialogs(page)

    # sign up
    page.goto(f"{server}/account/signup/")
    page.get_by_label("Username").fill("researcher")
    page.get_by_label("Password", exact=True).fill("a-long-enough-passphrase")
    page.get_by_label("Password confirmation").fill("a-long-enough-passphrase")
    _shot(page, "01-signup")
    page.get_by_role("button", name="Sign up").click()
    page.wait_for_url(f"{server}/")
    assert page.get_by_role("link", name="researcher").is_visible()
    _shot(page, "02-home")
    assert _unlabelled_controls(page) == []

    # browse: home -> source -> feature 1
    page.get_by_role("link", name="1-res-tiny").first.click()
    page.wait_for_url(f"{server}/tiny/1-res-tiny")
    _shot(page, "03-source")
    page.get_by_role("link", name="1", exact=True).click()
    page.wait_for_url(f"{server}/tiny/1-res-tiny/1")
    assert page.get_by_text("words about animals #1").is_visible()
    assert page.locator(".snip .t.a").count() >= 3
    assert page.locator("svg.hist").count() == 2
    assert _unlabelled_controls(page) == []

    # vote
    vote = page.get_by_role("button", name="Vote for explanation: words about animals #1")
    vote.click()
    page.get_by_role("button", name="Remove your vote for explanation: words about animals #1").wait_for()
    assert Vote.objects.filter(user__username="researcher").count() == 1

    # comment
    page.get_by_label("Add a comment").fill("Fires on animal words.")
    page.get_by_role("button", name="Post comment").click()
    page.locator("#comments-body").get_by_text("Fires on animal words.").wait_for()
    assert Comment.objects.get().text == "Fires on animal words."

    # add to a new list
    page.get_by_label("or new list").fill("Animals")
    page.get_by_role("button", name="Add", exact=True).click()
    page.locator("#lists-body").get_by_role("link", name="Animals").wait_for()
    assert ListItem.objects.filter(list__name="Animals", feature__index=1).exists()

    # test custom text over the websocket: values equal sae_lens on TransformerLens' cache
    page.get_by_label("Text to run through the model").fill(CUSTOM_TEXT)
    page.get_by_role("button", name="Test", exact=True).click()
    page.locator("#test-output .t").first.wait_for()
    shown = [
        float(v) for v in page.locator("#test-output .t").evaluate_all("els => els.map(e => e.dataset.value)")
    ]
    expected = _direct_values(tiny_ui_folders, CUSTOM_TEXT, 1)
    assert len(shown) == len(expected)
    assert max(abs(a - b) for a, b in zip(shown, expected, strict=True)) <= 1e-3  # shown with 3 decimals
    _shot(page, "04-feature-dashboard")

    # keyboard: on a fresh load the first Tab reaches the skip link, the next ones the nav links
    page.reload()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Neuronsite"

    # the list page, run the list's test text
    page.goto(f"{server}/list/{List.objects.get(name='Animals').pk}/")
    page.get_by_label("Test text across the list").fill(CUSTOM_TEXT)
    page.get_by_role("button", name="Run").click()
    page.locator(".test-cell .t").first.wait_for()
    _shot(page, "05-list")

    # steer from the dashboard shortcut: both columns fill, then the share link reloads them
    page.goto(f"{server}/tiny/1-res-tiny/3")
    page.locator("#feature-head").get_by_role("link", name="Steer").click()
    page.wait_for_url("**/steer?**")
    assert page.locator(".steer-feature").count() == 1
    page.get_by_label("Prompt").fill("The quick brown")
    page.get_by_text("Settings", exact=True).click()
    page.get_by_label("Tokens").fill("12")
    page.get_by_role("button", name="Steer", exact=True).click()
    page.get_by_role("status").filter(has_text="Done").wait_for()
    default_text = page.locator("#out-default").inner_text()
    steered_text = page.locator("#out-steered").inner_text()
    assert default_text.startswith("The quick brown") and steered_text.startswith("The quick brown")
    assert len(default_text) > len("The quick brown") and len(steered_text) > len("The quick brown")
    share = page.locator("#steer-share").input_value()
    assert "?id=" in share
    _shot(page, "06-steer")
    page2 = ctx.new_page()
    page2.set_default_timeout(60_000)
    page2.goto(share)
    page2.get_by_role("status").filter(has_text="Shared result loaded").wait_for()
    assert page2.locator("#out-default").inner_text() == default_text
    assert page2.locator("#out-steered").inner_text() == steered_text
    assert page2.locator("#steer-prompt").input_value() == "The quick brown"
    page2.close()

    # search via inference, then open the shared URL
    page.goto(f"{server}/search-inference?model=tiny")
    page.get_by_label("Text to search").fill(CUSTOM_TEXT)
    page.get_by_role("button", name="Search", exact=True).click()
    page.locator("#si-results tbody tr").first.wait_for()
    rows = page.locator("#si-results tbody tr").count()
    assert rows == 20
    assert page.locator("#si-heatmap td.v").count() > 0
    assert "?id=" in page.url
    first_feature = page.locator("#si-results tbody tr a").first.inner_text()
    _shot(page, "07-search-inference")
    # sort by a token
    page.locator("#si-heatmap thead button").nth(3).click()
    page.locator("#si-heatmap thead button[aria-pressed=true]").wait_for()
    shared = ctx.new_page()
    shared.set_default_timeout(60_000)
    shared.goto(page.url)
    shared.locator("#si-results tbody tr").first.wait_for()
    assert shared.locator("#si-results tbody tr").count() == 20
    assert shared.get_by_label("Text to search").input_value() == CUSTOM_TEXT
    assert shared.locator("#si-heatmap thead button[aria-pressed=true]").count() == 1
    shared.close()
    assert first_feature.startswith("1-res-tiny / ")

    # top-k by token
    page.locator("#topk-text").fill(CUSTOM_TEXT)
    page.get_by_role("button", name="Top-k by token").click()
    page.locator("#topk-results tr").first.wait_for()
    _shot(page, "08-topk")
    assert dialogs == []


def test_xss_payloads_render_as_text(server, browser, make_user):
    from features.models import Activation, Comment, Explanation, Feature, List, ListItem
    from models_app.models import Model, Source, SourceSet

    m = Model.objects.create(name="tiny", layers=2, d_model=16, inference_enabled=False)
    ss = SourceSet.objects.create(model=m, name="res-x", type="sae")
    src = Source.objects.create(model=m, source_set=ss, name="0-res-x", layer=0, inference_enabled=False)
    f = Feature.objects.create(source=src, index=0, max_act_approx=1.0)
    user = make_user(username="mallory")
    script = "<script>alert('comment')</script>"
    onerror = "<img src=x onerror=\"alert('expl')\">"
    Comment.objects.create(feature=f, user=user, text=script)
    Explanation.objects.create(feature=f, description=onerror)
    lst = List.objects.create(owner=user, name="<img src=y onerror=alert('list')>", visibility="PUBLIC")
    ListItem.objects.create(list=lst, feature=f, note="<svg onload=alert('note')>")
    Activation.objects.create(
        feature=f,
        tokens=["<img", " src=z onerror=alert('tok')>", "<script>alert(3)</script>"],
        values=[1.0, 0.5, 0.0],
    )
    page = browser.new_page()
    dialogs = _no_dialogs(page)
    page.goto(f"{server}/tiny/0-res-x/0")
    assert page.get_by_text(script).is_visible()
    assert page.get_by_text(onerror).first.is_visible()
    assert page.locator("#activations").inner_text().count("onerror=alert('tok')") == 1
    assert page.locator("#lists-body").get_by_text("<img src=y onerror=alert('list')>").is_visible()
    assert page.locator("main img").count() == 0 and page.locator("main script").count() == 0
    _shot(page, "09-xss-feature")
    page.goto(f"{server}/list/{lst.pk}/")
    assert page.get_by_role("heading", name="<img src=y onerror=alert('list')>").is_visible()
    assert page.get_by_text("<svg onload=alert('note')>").is_visible()
    page.goto(f"{server}/search?q=onerror&mode=keyword")
    assert page.get_by_text(onerror).is_visible()
    _shot(page, "10-xss-search")
    page.wait_for_timeout(300)
    assert dialogs == []
