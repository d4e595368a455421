"""Neuronpedia's list / vote / bookmark / explanation-search APIs through HTTP (DRF client),
authenticated with a real API key in ``x-api-key``."""

import pytest

from accounts.services import api_key_create
from features.models import Bookmark, Explanation, List, ListItem, Vote
from models_app.models import SourceRelease
from neuronsite.fields import Visibility


@pytest.fixture
def authed(api_client, make_user):
    user = make_user(username="alice")
    _key, clear = api_key_create(user=user)
    api_client.credentials(HTTP_X_API_KEY=clear)
    api_client.user = user
    return api_client


def _ref(feature):
    return {"modelId": feature.source.model.name, "layer": feature.source.name, "index": feature.index}


def test_list_lifecycle(authed, make_feature):
    f0 = make_feature(index=0)
    f1 = make_feature(source=f0.source, index=1)
    r = authed.post("/api/list/new", {"name": "my list", "description": "d"}, format="json")
    assert r.status_code == 200, r.content
    list_id = r.json()["id"]
    assert r.json()["name"] == "my list" and r.json()["user"]["name"] == "alice"

    r = authed.post(
        "/api/list/add-features",
        {"listId": list_id, "featuresToAdd": [{**_ref(f0), "description": "note 0"}, _ref(f1)]},
        format="json",
    )
    assert r.status_code == 200, r.content
    assert [(i["layer"], i["index"], i["description"]) for i in r.json()] == [
        ("0-res-test", "0", "note 0"),
        ("0-res-test", "1", ""),
    ]
    r = authed.post("/api/list/get", {"listId": list_id}, format="json")
    assert r.status_code == 200
    assert [n["index"] for n in r.json()["neurons"]] == ["0", "1"]

    r = authed.post("/api/list/remove", {"listId": list_id, **_ref(f0)}, format="json")
    assert r.status_code == 200
    assert list(ListItem.objects.filter(list_id=list_id).values_list("feature__index", flat=True)) == [1]

    r = authed.post(
        "/api/list/update", {"listId": list_id, "name": "renamed", "testText": "hi"}, format="json"
    )
    assert r.status_code == 200 and r.json()["name"] == "renamed" and r.json()["testText"] == "hi"

    r = authed.post("/api/list/list", format="json")
    assert [(x["name"], x["count"]) for x in r.json()] == [("renamed", 1)]

    assert authed.post("/api/list/delete", {"listId": list_id}, format="json").status_code == 200
    assert not List.objects.filter(pk=list_id).exists()


def test_list_new_with_features_is_atomic(authed, make_feature):
    f0 = make_feature(index=3)
    body = {"name": "batch", "features": [_ref(f0), {**_ref(f0), "index": 999}]}
    r = authed.post("/api/list/new-with-features", body, format="json")
    assert r.status_code == 404 and "999" in r.json()["error"]
    assert not List.objects.exists()  # nothing half-written
    body["features"] = [_ref(f0)]
    r = authed.post("/api/list/new-with-features", body, format="json")
    assert r.status_code == 200, r.content
    assert [n["index"] for n in r.json()["neurons"]] == ["3"]


def test_list_errors(authed, api_client, make_feature, make_user):
    f0 = make_feature(index=0)
    assert authed.post("/api/list/new", {"name": "  "}, format="json").json() == {
        "error": "name: must not be empty"
    }
    r = authed.post("/api/list/new", {"name": "x", "visibility": "SECRET"}, format="json")
    assert r.status_code == 400 and "visibility" in r.json()["error"]
    other = List.objects.create(owner=make_user(), name="not mine", visibility=Visibility.PRIVATE)
    r = authed.post(
        "/api/list/add-features", {"listId": other.pk, "featuresToAdd": [_ref(f0)]}, format="json"
    )
    assert r.status_code == 404 and "not yours" in r.json()["error"]
    assert authed.post("/api/list/get", {"listId": other.pk}, format="json").status_code == 404
    assert authed.post("/api/list/get", {"listId": "abc"}, format="json").status_code == 400
    for missing in ("abc", "0", "00"):  # a share link's id that no list has: 404, as for any other
        r = authed.get(f"/api/list/get?listId={missing}")
        assert r.status_code == 404 and "not found" in r.json()["error"], missing
    r = authed.post("/api/list/add-features", {"listId": other.pk, "featuresToAdd": []}, format="json")
    assert r.status_code == 400 and "featuresToAdd" in r.json()["error"]
    api_client.credentials()
    assert api_client.post("/api/list/new", {"name": "x"}, format="json").status_code in (401, 403)


def test_vote_unvote_delete(authed, make_feature, make_user):
    f0 = make_feature(index=0)
    exp = Explanation.objects.create(feature=f0, description="mine", author=authed.user)
    theirs = Explanation.objects.create(feature=f0, description="theirs", author=make_user())
    r = authed.post(f"/api/explanation/{exp.pk}/vote")
    assert r.status_code == 200 and r.json()["votes"] == 1
    assert authed.post(f"/api/explanation/{exp.pk}/vote").json()["votes"] == 1  # idempotent
    assert authed.post(f"/api/explanation/{exp.pk}/unvote").json()["votes"] == 0
    assert not Vote.objects.exists()
    r = authed.post(f"/api/explanation/{theirs.pk}/delete")
    assert r.status_code == 403 and "not yours" in r.json()["error"]
    assert authed.post(f"/api/explanation/{exp.pk}/delete").status_code == 200
    assert not Explanation.objects.filter(pk=exp.pk).exists()
    assert authed.post("/api/explanation/999999/vote").status_code == 404
    assert authed.post("/api/explanation/abc/vote").status_code == 400


def test_bookmarks(authed, make_feature):
    f0 = make_feature(index=4)
    r = authed.post("/api/bookmark/add", _ref(f0), format="json")
    assert r.status_code == 200 and r.json()["index"] == "4"
    assert authed.post("/api/bookmark/add", _ref(f0), format="json").status_code == 200
    assert Bookmark.objects.filter(user=authed.user).count() == 1
    assert authed.post("/api/bookmark/delete", _ref(f0), format="json").status_code == 200
    assert authed.post("/api/bookmark/delete", _ref(f0), format="json").status_code == 404
    r = authed.post("/api/bookmark/add", {**_ref(f0), "index": -1}, format="json")
    assert r.status_code == 400 and "index" in r.json()["error"]


def test_explanation_search_variants(api_client, make_source, make_feature, django_assert_max_num_queries):
    release = SourceRelease.objects.create(name="rel-a")
    s0 = make_source(layer=0)
    s0.source_set.release = release
    s0.source_set.save()
    s1 = make_source(layer=1)
    other = make_source(model="other", set_name="res-o", layer=0)
    hidden = make_source(model="tiny", set_name="res-priv", layer=0, visibility=Visibility.PRIVATE)
    for i, src in enumerate([s0, s1, other, hidden]):
        for j in range(3):
            f = make_feature(source=src, index=j)
            Explanation.objects.create(feature=f, description=f"Capital cities of Europe {i}-{j}")
        Explanation.objects.create(feature=make_feature(source=src, index=10), description="unrelated words")

    with django_assert_max_num_queries(6):
        r = api_client.post(
            "/api/explanation/search-all", {"mode": "keyword", "query": "capital EUROPE"}, format="json"
        )
    body = r.json()
    assert r.status_code == 200 and body["resultsCount"] == 9 and not body["hasMore"]
    assert {x["modelId"] for x in body["results"]} == {"tiny", "other"}  # private source left out
    assert body["results"][0]["neuron"]["layer"] in {"0-res-test", "1-res-test", "0-res-o"}

    r = api_client.post(
        "/api/explanation/search-model",
        {"modelId": "tiny", "query": "capital", "mode": "keyword"},
        format="json",
    )
    assert r.json()["resultsCount"] == 6
    r = api_client.post(
        "/api/explanation/search",
        {"modelId": "tiny", "layers": ["1-res-test"], "query": "capital", "mode": "keyword"},
        format="json",
    )
    assert {x["layer"] for x in r.json()["results"]} == {"1-res-test"}
    r = api_client.post(
        "/api/explanation/search-release",
        {"releaseName": "rel-a", "query": "capital", "mode": "keyword"},
        format="json",
    )
    # the release holds the res-test set (both layers), not res-o
    assert {x["layer"] for x in r.json()["results"]} == {"0-res-test", "1-res-test"}
    assert r.json()["resultsCount"] == 6
    r = api_client.post(
        "/api/explanation/search-all", {"mode": "keyword", "query": "capital", "offset": 8}, format="json"
    )
    assert len(r.json()["results"]) == 1 and r.json()["nextOffset"] == 9

    r = api_client.post("/api/explanation/search-all", {"query": "ab"}, format="json")
    assert r.status_code == 400 and "at least 3" in r.json()["error"]
    r = api_client.post(
        "/api/explanation/search", {"modelId": "tiny", "query": "capital", "mode": "keyword"}, format="json"
    )
    assert r.status_code == 400 and "layers" in r.json()["error"]
