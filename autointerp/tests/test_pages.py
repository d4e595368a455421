"""Pages: search switch, the account's LLM key (encrypted, used for that user's requests only),
dashboard Generate / Score forms and score chips."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.test import Client

from autointerp.models import UserLLMKey
from autointerp.tests.llm_server import ScriptedLLM
from features.models import Explanation


@pytest.fixture
def browser(make_user):
    user = make_user()
    client = Client()
    client.force_login(user)
    client.user = user
    return client


def test_search_page_semantic_and_keyword(make_feature, make_source, client):
    source = make_source()
    Explanation.objects.create(
        feature=make_feature(source=source, index=1), description="small furry pets that purr"
    )
    Explanation.objects.create(
        feature=make_feature(source=source, index=2), description="stock market prices"
    )
    call_command("embed_explanations", verbosity=0)
    page = client.get("/search", {"q": "feline animals"}).content.decode()
    assert page.index("small furry pets that purr") < page.index("stock market prices")
    assert 'value="semantic" selected' in page
    page = client.get("/search", {"q": "feline animals", "mode": "keyword"}).content.decode()
    assert "Nothing matches." in page
    assert client.get("/search", {"q": "ab"}).status_code == 400


def test_llm_key_is_encrypted_never_shown_and_used_for_that_user(browser, cat_feature, llm, settings):
    r = browser.post("/account/llm-key/", {"base_url": "not a url", "api_key": "x"})
    assert r.status_code == 400 and "baseUrl" in r.content.decode()
    with ScriptedLLM(answer=lambda m: "[EXPLANATION]: cats") as own:
        r = browser.post(
            "/account/llm-key/",
            {"base_url": own.url, "api_key": "sk-user-secret-9876", "default_model": "mine"},
        )
        assert r.status_code == 302
        row = UserLLMKey.objects.get(user=browser.user)
        assert b"sk-user-secret" not in bytes(row.encrypted_key)
        page = browser.get("/account/llm-key/").content.decode()
        assert "sk-user-secret" not in page and "…9876" in page
        r = browser.post(
            "/autointerp/generate/tiny/0-res-ai/3", {"explanation_type": "eleuther_acts_top20"}, follow=True
        )
        assert "New explanation: cats" in r.content.decode()
        assert own.requests[0]["auth"] == "Bearer sk-user-secret-9876" and not llm.requests
        assert Explanation.objects.get().explainer_model.name == "mine"
    # Another user still gets the server's endpoint.
    from rest_framework.test import APIClient

    from accounts.models import User

    other = APIClient()
    other.force_authenticate(User.objects.create(username="other"))
    llm.answer = lambda m: "[EXPLANATION]: server cats"
    r = other.post(
        "/api/explanation/generate",
        {"modelId": "tiny", "layer": "0-res-ai", "index": 3, "explanationType": "eleuther_acts_top20"},
        format="json",
    )
    assert r.status_code == 200 and llm.requests[0]["auth"] == "Bearer server-key"
    browser.post("/account/llm-key/", {"action": "delete"})
    assert not UserLLMKey.objects.exists()


def test_dashboard_generate_score_and_chips(browser, cat_feature, llm):
    llm.answer = lambda m: "[EXPLANATION]: felines"
    page = browser.get("/tiny/0-res-ai/3").content.decode()
    assert "eleuther_acts_top20" in page and "Generate" in page
    r = browser.post(
        "/autointerp/generate/tiny/0-res-ai/3", {"explanation_type": "eleuther_acts_top20"}, follow=True
    )
    assert "New explanation: felines" in r.content.decode()
    exp = Explanation.objects.get()
    llm.answer = lambda m: '{"match": true, "reason": "ok"}'
    r = browser.post(
        f"/autointerp/score/tiny/0-res-ai/3/{exp.pk}", {"scorer_type": "recall_alt"}, follow=True
    )
    page = r.content.decode()
    # 4 top match (correct), 2 zero + 5 decoys match (wrong): 4 / 11 -> 36.
    assert "Scored 36 (recall_alt)." in page
    assert "36 · recall_alt · scripted-scorer" in page and "<dialog" in page and "decoy" in page
    r = browser.post(f"/autointerp/score/tiny/0-res-ai/3/{exp.pk}", {"scorer_type": "bogus"}, follow=True)
    assert "Could not score" in r.content.decode() and "bogus" in r.content.decode()


def test_search_page_scopes_all_model_release_and_chosen_sources(make_feature, make_source, client):
    """The four scopes of the search page, in keyword and semantic mode."""
    from models_app.models import SourceRelease

    release = SourceRelease.objects.create(name="paper-2026")
    in_release = make_source(model="tiny", set_name="res-rel", layer=0)
    in_release.source_set.release = release
    in_release.source_set.save(update_fields=["release"])
    other_layer = make_source(model="tiny", set_name="res-rel", layer=1)  # same set: also in the release
    other_model = make_source(model="small", set_name="res-x", layer=0)
    for source, index in ((in_release, 1), (other_layer, 2), (other_model, 3)):
        Explanation.objects.create(
            feature=make_feature(source=source, index=index), description=f"cats and kittens {index}"
        )
    call_command("embed_explanations", verbosity=0)

    def found(**params):
        page = client.get("/search", {"q": "cats kittens", **params}).content.decode()
        return {i for i in (1, 2, 3) if f"cats and kittens {i}" in page}

    for mode in ("keyword", "semantic"):
        assert found(mode=mode) == {1, 2, 3}
        assert found(mode=mode, model="tiny") == {1, 2}
        assert found(mode=mode, release="paper-2026") == {1, 2}
        assert found(mode=mode, model="tiny", layers="1-res-rel") == {2}
        assert found(mode=mode, release="nothing-here") == set()
    page = client.get("/search", {"q": "cats kittens", "release": "paper-2026"}).content.decode()
    assert '<option value="paper-2026" selected>' in page


def test_dashboard_shows_each_explanations_average_score(browser, cat_feature, llm, make_feature):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    llm.answer = lambda m: "[EXPLANATION]: felines"
    browser.post("/autointerp/generate/tiny/0-res-ai/3", {"explanation_type": "eleuther_acts_top20"})
    exp = Explanation.objects.get()
    assert "avg " not in browser.get("/tiny/0-res-ai/3").content.decode()  # no scores, no average
    score_url = f"/autointerp/score/tiny/0-res-ai/3/{exp.pk}"
    llm.answer = lambda m: '{"match": true, "reason": "ok"}'
    page = browser.post(score_url, {"scorer_type": "recall_alt"}, follow=True).content.decode()
    assert "avg 36 (1 score)" in page  # 4 / 11
    # Everything answers "no match": the 2 zero texts and 5 decoys are right, the 4 top ones wrong.
    llm.answer = lambda m: '{"match": false, "reason": "no"}'
    page = browser.post(score_url, {"scorer_type": "recall_alt"}, follow=True).content.decode()
    assert "64 · recall_alt" in page and "avg 50 (2 scores)" in page  # (4/11 + 7/11) / 2
    # The average reads the prefetched scores: more explanations and scores, no more queries.
    with CaptureQueriesContext(connection) as one:
        browser.get("/tiny/0-res-ai/3")
    for k in range(3):
        other = Explanation.objects.create(feature=cat_feature, description=f"other {k}")
        other.scores.create(score_type=exp.scores.first().score_type, value=0.1 * (k + 1))
    with CaptureQueriesContext(connection) as many:
        page = browser.get("/tiny/0-res-ai/3").content.decode()
    assert "avg 20 (1 score)" in page
    assert len(many.captured_queries) == len(one.captured_queries)
