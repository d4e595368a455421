"""Every page a researcher opens, walked in Chromium (issue 16, "we will walk the pages again"):
signed in, at desktop and phone widths. Each page answers 200, logs no console error, breaks no
Content-Security-Policy rule (inline styles/scripts/handlers are refused by the site's CSP and
then silently do nothing), loads every script, stylesheet and image it asks for, and does not
scroll sideways. Screenshots go to test-artifacts/ (w-...)."""

from __future__ import annotations

import json
from pathlib import Path

from features.tests.test_browser import (  # noqa: F401  (pytest fixtures)
    _seed_tiny,
    _shot,
    browser,
    pytestmark,
    server,
    tiny_ui_folders,
)

PASSWORD = "a-long-enough-passphrase"
SAEBENCH = Path(__file__).resolve().parents[2] / "models_app" / "tests" / "saebench"


def _seed_walk(folders):
    from accounts.models import User
    from features.models import Comment, Feature, List, ListItem
    from models_app import services
    from models_app.models import SourceRelease

    model, source = _seed_tiny(folders)
    user = User(username="walker")
    user.set_password(PASSWORD)
    user.save()
    release = SourceRelease.objects.create(
        name="tiny-release", description="A tiny release for the walk.", urls=["https://example.org/paper"]
    )
    source.source_set.release = release
    source.source_set.owner = user
    source.source_set.save(update_fields=["release", "owner"])
    for f in Feature.objects.filter(source=source):
        f.umap_x, f.umap_y, f.umap_cluster = float(f.index % 8), float(f.index // 8), f.index % 3
        f.save(update_fields=["umap_x", "umap_y", "umap_cluster"])
    feature = Feature.objects.get(source=source, index=1)
    lst = List.objects.create(owner=user, name="Walk picks", default_test_text="line one\nline two")
    ListItem.objects.create(list=lst, feature=feature, note="an animal feature")
    Comment.objects.create(feature=feature, user=user, text="Looks like animals to me.")
    for name in ("tiny-release_blocks.0.hook_resid_pre_core_eval_results.json",
                 "tiny-release_blocks.0.hook_resid_pre_absorption_first_letter_eval_results.json"):  # fmt: skip
        services.evals_import(model=model, data=json.loads((SAEBENCH / name).read_text()), source=source)
    return model, source, lst


def _watch(page) -> dict:
    """Problems the page reports, collected into ``holder["now"]`` (swapped per page, together
    with ``holder["started"]``, the requests the current page issued). A request of the previous
    page that our next ``goto`` cancels (Chromium fetches the favicon after ``load`` and aborts it
    on navigation) is not the new page's problem; any other failed request is."""
    holder: dict = {"now": [], "started": set()}

    def add(text):
        holder["now"].append(text)

    def failed(r):
        if r.failure == "net::ERR_ABORTED" and r not in holder["started"]:
            return
        add(f"request failed: {r.url} {r.failure}")

    page.on("request", lambda r: holder["started"].add(r))
    page.on("console", lambda m: add(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: add(f"page error: {e}"))
    page.on("requestfailed", failed)
    page.on(
        "response",
        lambda r: (
            add(f"HTTP {r.status}: {r.url}")
            if r.status >= 400 and r.request.resource_type in ("script", "stylesheet", "image", "font")
            else None
        ),
    )
    return holder


def test_every_page_loads_cleanly_for_a_researcher(server, browser, tiny_ui_folders):  # noqa: F811
    model, source, lst = _seed_walk(tiny_ui_folders)
    pages = [
        ("home", "/"),
        ("model", "/tiny"),
        ("source-set", "/tiny/res-tiny"),
        ("source", "/tiny/1-res-tiny"),
        ("feature", "/tiny/1-res-tiny/1"),
        ("umap", "/tiny/1-res-tiny/umap"),
        ("evals", "/tiny/evals"),
        ("release", "/release/tiny-release"),
        ("search", "/search?q=animals&mode=keyword"),
        ("search-inference", "/search-inference?model=tiny"),
        ("steer", "/steer?model=tiny&feature=1-res-tiny:1"),
        ("lists", "/lists/"),
        ("list", f"/list/{lst.pk}/"),
        ("profile", "/user/walker/"),
        ("account", "/account/"),
        ("jobs", "/jobs/"),
        ("model-new", "/model/new"),
        ("sae-new", "/sae/new"),
        ("generate", "/tiny/1-res-tiny/dashboards/generate"),
        ("embed", "/tiny/1-res-tiny/1?embed=true"),
        ("graph", "/tiny/graph"),
        ("graph-validate", "/graph/validate"),
    ]
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    page.set_default_timeout(45_000)
    page.goto(f"{server}/account/login/")
    page.get_by_label("Username").fill("walker")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{server}/")
    page.wait_for_load_state("networkidle")
    found: dict[str, list[str]] = {}
    holder = _watch(page)
    for name, path in pages:
        problems = holder["now"] = []
        holder["started"] = set()
        response = page.goto(f"{server}{path}")
        page.wait_for_load_state("networkidle")
        if response.status != 200:
            problems.append(f"page answered {response.status}")
        wide = page.evaluate("document.documentElement.scrollWidth")
        if wide > 1280:
            problems.append(f"scrolls sideways: {wide}px wide")
        _shot(page, f"w-{name}")
        if problems:
            found[path] = problems
    ctx.close()

    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = phone.new_page()
    for name, path in pages:
        if name == "graph":  # the graph viewer (graphs app) is a desktop tool; not walked on a phone
            continue
        page.goto(f"{server}{path}")
        wide = page.evaluate("document.documentElement.scrollWidth")
        if wide > 390:
            culprits = page.evaluate(
                """() => {
                    const clipped = e => { for (let p = e.parentElement; p; p = p.parentElement)
                        if (getComputedStyle(p).overflowX !== 'visible') return true; return false; };
                    return Array.from(document.querySelectorAll('body *'))
                        .filter(e => e.getBoundingClientRect().right > 391 && !clipped(e))
                        .slice(0, 3).map(e => e.tagName + '.' + e.className + ': ' + (e.textContent || '').slice(0, 40));
                }"""
            )
            found.setdefault(path, []).append(f"phone: scrolls sideways: {wide}px wide: {culprits}")
        _shot(page, f"w-phone-{name}")
    phone.close()
    assert found == {}, json.dumps(found, indent=1)
