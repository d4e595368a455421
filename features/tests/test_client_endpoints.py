"""Endpoints of Neuronpedia's documented API added for issue 11, through HTTP (DRF client):
``POST /api/features``, ``/api/activation/get``, ``GET /api/explanation/{id}``,
``/api/explanation/export`` (JSONL), ``POST /api/list/comment/new``, ``/api/user/bookmarks``."""

import json

import pytest

from accounts.services import api_key_create
from features.models import (
    Activation,
    Bookmark,
    Explanation,
    ExplanationScore,
    ExplanationScoreType,
    ExplanationType,
    List,
    ListComment,
)
from neuronsite.fields import Visibility


@pytest.fixture
def authed(api_client, make_user):
    user = make_user(username="carol")
    _key, clear = api_key_create(user=user)
    api_client.credentials(HTTP_X_API_KEY=clear)
    api_client.user = user
    return api_client


def _explain(feature, text: str, score: float | None = None) -> Explanation:
    etype, _ = ExplanationType.objects.get_or_create(name="oai_token-act-pair")
    exp = Explanation.objects.create(feature=feature, description=text, type=etype)
    if score is not None:
        stype, _ = ExplanationScoreType.objects.get_or_create(name="recall_alt")
        ExplanationScore.objects.create(explanation=exp, score_type=stype, value=score, details={"n": 3})
    return exp


def _act(feature, peak: float, **kw) -> Activation:
    return Activation.objects.create(
        feature=feature, tokens=["a", "b"], values=[0.0, peak], max_value=peak, max_value_token_index=1, **kw
    )


def test_features_batch_in_request_order_skipping_unknown(api_client, make_feature, make_source):
    f1 = make_feature(index=1)
    f2 = make_feature(source=f1.source, index=2)
    hidden = make_feature(source=make_source(layer=1, visibility=Visibility.PRIVATE), index=1)
    for peak in (1.0, 3.0, 2.0):
        _act(f2, peak)
    _explain(f2, "second")
    body = [
        {"modelId": "tiny", "layer": "0-res-test", "index": 2, "maxActsToReturn": 2},
        {"modelId": "tiny", "layer": "0-res-test", "index": 99},
        {"modelId": "tiny", "layer": hidden.source.name, "index": 1},
        {"modelId": "tiny", "layer": "0-res-test", "index": "1"},
    ]
    r = api_client.post("/api/features", body, format="json")
    assert r.status_code == 200, r.content
    got = r.json()
    assert [(f["layer"], f["index"]) for f in got] == [("0-res-test", "2"), ("0-res-test", "1")]
    assert [a["maxValue"] for a in got[0]["activations"]] == [3.0, 2.0]
    assert [e["description"] for e in got[0]["explanations"]] == ["second"]
    same = api_client.get("/api/feature/tiny/0-res-test/1").json()
    assert got[1] == same
    # Neuronpedia's body is a bare array; {"features": [...]} works too; an empty array is [].
    assert api_client.post("/api/features", {"features": body[:1]}, format="json").json()[0]["index"] == "2"
    assert api_client.post("/api/features", [], format="json").json() == []


def test_features_batch_query_count_is_constant(api_client, make_feature, django_assert_max_num_queries):
    first = make_feature(index=0)
    for i in range(1, 40):
        f = make_feature(source=first.source, index=i)
        _act(f, 1.0)
        _explain(f, f"e{i}", score=0.5)
    body = [{"modelId": "tiny", "layer": "0-res-test", "index": i} for i in range(40)]
    with django_assert_max_num_queries(12):
        r = api_client.post("/api/features", body, format="json")
    assert r.status_code == 200 and len(r.json()) == 40


@pytest.mark.parametrize(
    "body, field",
    [
        ({"features": [{"modelId": "tiny", "index": 1}]}, "layer"),
        ([{"modelId": "tiny", "layer": "0-res-test", "index": "x"}], "index"),
        ([{"modelId": "tiny", "layer": "0-res-test", "index": 1}] * 257, "features"),
        ("not a list", "features"),
    ],
)
def test_features_batch_bad_input(api_client, make_feature, body, field):
    make_feature(index=1)
    r = api_client.post("/api/features", body, format="json")
    assert r.status_code == 400
    assert field in r.json()["error"]


def test_activation_get(api_client, make_feature):
    feature = make_feature(index=4)
    _act(feature, 1.0)
    _act(feature, 2.0, bin_min=-1, bin_max=2.0, bin_contains=-1)
    r = api_client.post(
        "/api/activation/get", {"modelId": "tiny", "source": "0-res-test", "index": 4}, format="json"
    )
    assert r.status_code == 200, r.content
    assert [(a["maxValue"], a["binContains"], a["source"]) for a in r.json()] == [
        (2.0, None, "0-res-test"),
        (1.0, None, "0-res-test"),
    ]
    r = api_client.get("/api/activation/get", {"modelId": "tiny", "layer": "0-res-test", "index": "4"})
    assert r.status_code == 200 and len(r.json()) == 2
    assert (
        api_client.post("/api/activation/get", {"modelId": "tiny", "index": 4}, format="json").status_code
        == 400
    )
    r = api_client.post(
        "/api/activation/get", {"modelId": "tiny", "source": "0-res-test", "index": 5}, format="json"
    )
    assert r.status_code == 404 and "not found" in r.json()["error"]


def test_explanation_get(api_client, make_feature, make_source):
    exp = _explain(make_feature(index=3), "cats", score=0.75)
    r = api_client.get(f"/api/explanation/{exp.pk}")
    assert r.status_code == 200, r.content
    body = r.json()
    assert (body["description"], body["layer"], body["source"], body["index"]) == (
        "cats",
        "0-res-test",
        "0-res-test",
        "3",
    )
    assert [(s["explanationScoreTypeName"], s["value"]) for s in body["scores"]] == [("recall_alt", 0.75)]
    assert api_client.get(f"/api/explanation/{exp.pk}/").status_code == 200
    private = _explain(make_feature(source=make_source(layer=1, visibility=Visibility.PRIVATE), index=0), "x")
    hidden = _explain(exp.feature, "hidden")
    hidden.status = Explanation.Status.HIDDEN
    hidden.save()
    for pk in (private.pk, hidden.pk, 10**9):
        r = api_client.get(f"/api/explanation/{pk}")
        assert r.status_code == 404 and "error" in r.json()


def test_explanation_export_streams_jsonl(api_client, make_feature, make_source):
    a = make_feature(index=2)
    b = make_feature(source=a.source, index=1)
    other = make_feature(source=make_source(layer=1), index=0)
    _explain(a, "a-1", score=0.5)
    _explain(b, "b-1")
    _explain(other, "other")
    r = api_client.get("/api/explanation/export", {"modelId": "tiny", "source": "0-res-test"})
    assert r.status_code == 200
    assert r["Content-Type"] == "application/x-ndjson" and r.streaming
    lines = [json.loads(line) for line in b"".join(r.streaming_content).decode().splitlines()]
    assert [(x["index"], x["description"]) for x in lines] == [("1", "b-1"), ("2", "a-1")]
    assert lines[1]["scores"][0]["value"] == 0.5 and lines[1]["typeName"] == "oai_token-act-pair"
    r = api_client.post("/api/explanation/export", {"modelId": "tiny"}, format="json")
    assert [x["description"] for x in map(json.loads, b"".join(r.streaming_content).splitlines())] == [
        "b-1",
        "a-1",
        "other",
    ]
    r = api_client.get("/api/explanation/export", {"modelId": "nope"})
    assert r.status_code == 404 and "nope" in r.json()["error"]
    r = api_client.get("/api/explanation/export", {"modelId": "tiny", "source": "9-res-test"})
    assert r.status_code == 404 and "9-res-test" in r.json()["error"]
    assert api_client.get("/api/explanation/export").status_code == 400


def test_list_comment_new(authed, api_client, make_user):
    lst = List.objects.create(owner=authed.user, name="mine")
    r = authed.post("/api/list/comment/new", {"listId": str(lst.pk), "text": " nice list "}, format="json")
    assert r.status_code == 200, r.content
    assert (r.json()["text"], r.json()["user"]["name"]) == ("nice list", "carol")
    assert ListComment.objects.filter(list=lst).count() == 1
    assert (
        authed.post("/api/list/comment/new", {"listId": str(lst.pk), "text": "  "}, format="json").status_code
        == 400
    )
    private = List.objects.create(owner=make_user(), name="theirs", visibility=Visibility.PRIVATE)
    r = authed.post("/api/list/comment/new", {"listId": str(private.pk), "text": "hi"}, format="json")
    assert r.status_code == 404
    api_client.credentials()
    r = api_client.post("/api/list/comment/new", {"listId": str(lst.pk), "text": "hi"}, format="json")
    assert r.status_code == 401 and "error" in r.json()
    assert ListComment.objects.count() == 1


def test_user_bookmarks(authed, api_client, make_feature, make_user):
    f1 = make_feature(index=1)
    f2 = make_feature(source=f1.source, index=2)
    _explain(f2, "top one")
    assert (
        authed.post(
            "/api/bookmark/add", {"modelId": "tiny", "layer": "0-res-test", "index": 1}, format="json"
        ).status_code
        == 200
    )
    assert (
        authed.post(
            "/api/bookmark/add", {"modelId": "tiny", "layer": "0-res-test", "index": 2}, format="json"
        ).status_code
        == 200
    )
    Bookmark.objects.create(user=make_user(), feature=f1)
    r = authed.get("/api/user/bookmarks")
    assert r.status_code == 200
    assert [(b["index"], b["topExplanation"]) for b in r.json()] == [("2", "top one"), ("1", None)]
    assert authed.post("/api/user/bookmarks/").json() == r.json()
    api_client.credentials()
    assert api_client.get("/api/user/bookmarks").status_code == 401


def test_export_and_bookmarks_query_counts_do_not_grow(authed, make_feature, django_assert_max_num_queries):
    first = make_feature(index=0)
    for i in range(30):
        f = first if i == 0 else make_feature(source=first.source, index=i)
        _explain(f, f"e{i}", score=0.25)
        Bookmark.objects.create(user=authed.user, feature=f)
    with django_assert_max_num_queries(8):
        r = authed.get("/api/explanation/export", {"modelId": "tiny"})
        lines = b"".join(r.streaming_content).splitlines()
    assert len(lines) == 30
    with django_assert_max_num_queries(6):
        r = authed.get("/api/user/bookmarks")
    assert len(r.json()) == 30


def test_explanation_export_is_an_async_stream_under_asgi(make_feature):
    """Under ASGI the export hands Django an async iterator (a sync one would be read to the end
    before the first byte is sent)."""
    from asgiref.sync import async_to_sync
    from django.test import AsyncClient

    first = make_feature(index=1)
    _explain(first, "one")
    _explain(make_feature(source=first.source, index=2), "two")

    async def fetch():
        response = await AsyncClient().get("/api/explanation/export", {"modelId": "tiny"})
        body = b"".join([chunk async for chunk in response.streaming_content])
        return response, body

    response, body = async_to_sync(fetch)()
    assert response.status_code == 200 and response.is_async
    assert [json.loads(line)["description"] for line in body.splitlines()] == ["one", "two"]


@pytest.mark.parametrize("index", ["²", "①", -1, 2**31, 2**63, 1.5, {"a": 1}, None])
def test_bad_feature_indexes_are_400_naming_index(api_client, make_feature, index):
    make_feature(index=1)
    ref = {"modelId": "tiny", "layer": "0-res-test", "index": index}
    r = api_client.post("/api/features", [ref], format="json")
    assert r.status_code == 400 and "index" in r.json()["error"]
    r = api_client.post("/api/activation/get", ref, format="json")
    assert r.status_code == 400 and "index" in r.json()["error"]
