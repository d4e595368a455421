"""Content-Security-Policy and framing (issue 10): the headers on pages, embeds and the API, and
the real pages in Chromium (served by daphne) with no CSP violation reported while they load and
run their scripts."""

from __future__ import annotations

from pathlib import Path

import pytest

from features.tests.test_browser import CHROMIUM, browser, server  # noqa: F401 (fixtures)
from neuronsite.fields import Visibility


def _directives(header: str) -> dict[str, str]:
    return {part.split()[0]: " ".join(part.split()[1:]) for part in header.split(";") if part.strip()}


def test_pages_and_api_carry_the_policy_and_only_embeds_may_be_framed(client, make_feature):
    make_feature(index=0)
    page = client.get("/tiny/0-res-test/0")
    csp = _directives(page["Content-Security-Policy"])
    assert csp["script-src"] == "'self'" and "unsafe-inline" not in csp["script-src"]
    assert csp["style-src-elem"] == "'self'" and csp["frame-ancestors"] == "'none'"
    assert csp["object-src"] == "'none'"
    assert page["X-Frame-Options"] == "DENY"

    embed = client.get("/tiny/0-res-test/0?embed=true")
    assert embed.status_code == 200
    assert "X-Frame-Options" not in embed
    assert _directives(embed["Content-Security-Policy"])["frame-ancestors"] == "*"

    api = client.get("/api/feature/tiny/0-res-test/0")
    assert "Content-Security-Policy" in api and api["X-Frame-Options"] == "DENY"
    docs = client.get("/api/docs/")
    assert docs.status_code == 200 and b"<script>" not in docs.content  # Swagger UI's init is a file
    assert _directives(docs["Content-Security-Policy"])["script-src"] == "'self'"


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium (make browser)")
@pytest.mark.django_db(transaction=True)
def test_pages_run_in_chromium_without_csp_violations(server, browser, make_user, make_feature):  # noqa: F811
    from features.models import Activation, List, ListItem

    feature = make_feature(index=0)
    Activation.objects.create(
        feature=feature,
        tokens=["a", "Ġb", "Ġc"],
        values=[0.0, 1.5, 0.2],
        max_value=1.5,
        max_value_token_index=1,
    )
    user = make_user(username="csp", password="a-long-passphrase-9")
    lst = List.objects.create(owner=user, name="csp list", visibility=Visibility.PUBLIC)
    ListItem.objects.create(list=lst, feature=feature)

    context = browser.new_context()
    page = context.new_page()
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    page.add_init_script(
        "document.addEventListener('securitypolicyviolation', e =>"
        " console.error('Content Security Policy violation: ' + e.violatedDirective + ' ' + e.blockedURI))"
    )
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.accept()))

    page.goto(f"{server}/account/login/")
    page.fill("#id_username", "csp")
    page.fill("#id_password", "a-long-passphrase-9")
    page.click("button[type=submit]:has-text('Sign in')")
    page.wait_for_url(f"{server}/")
    for path in (
        "/",
        "/tiny/0-res-test/0",
        "/tiny/0-res-test/0?embed=true",
        "/steer",
        "/search",
        f"/list/{lst.pk}/",
        "/account/",
        "/api/docs/",
    ):
        response = page.goto(f"{server}{path}")
        assert response is not None and response.status < 400, path
        page.wait_for_load_state("networkidle")
    # Scripts ran under the policy: htmx is live and the moved inline handlers work.
    page.goto(f"{server}/list/{lst.pk}/")
    assert page.evaluate("typeof window.htmx") == "object"
    assert page.evaluate("window.htmx.config.allowEval") is False
    page.click("#share-url")
    assert page.evaluate("document.activeElement.selectionEnd - document.activeElement.selectionStart") > 0
    page.locator("form[data-confirm]").locator("xpath=ancestor::details/summary").click()
    page.click("form[data-confirm] button[type=submit]")  # asks first; the dialog is accepted
    page.wait_for_load_state("networkidle")
    assert dialogs == ["Delete this list?"]
    assert not List.objects.filter(pk=lst.pk).exists()
    assert violations == []
    context.close()
