"""The auth matrix (issue 10): every write endpoint anonymously -> 401; a second user on the
first user's lists, comments, votes, vectors, explanations, API keys, models, source sets and
private features -> 403/404, with nothing changed."""

from __future__ import annotations

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from neuronsite.fields import Visibility
from neuronsite.throttling import ANON_WRITE_ROUTES, INFERENCE_ROUTES, READ_ROUTES


def _api_routes():
    """(route, url name, allowed methods) of every DRF view under /api/."""

    def walk(patterns, prefix=""):
        for p in patterns:
            if isinstance(p, URLResolver):
                yield from walk(p.url_patterns, prefix + str(p.pattern))
            elif isinstance(p, URLPattern):
                yield prefix + str(p.pattern), p

    for route, pattern in walk(get_resolver().url_patterns):
        cls = getattr(pattern.callback, "cls", None)
        if not route.startswith("api/") or cls is None:
            continue
        methods = {m.upper() for m in cls.http_method_names if hasattr(cls, m)} - {"OPTIONS", "HEAD", "TRACE"}
        yield route, pattern.name, methods


def _concrete(route: str) -> str:
    route = re.sub(r"<int:\w+>", "1", route)
    route = re.sub(r"<(?:str:|slug:|path:)?\w+>", "x", route)
    return "/" + route.lstrip("^").rstrip("$")


def test_every_write_endpoint_answers_401_to_anonymous_callers(db):
    client = APIClient()
    writes = []
    for route, name, methods in _api_routes():
        if name in INFERENCE_ROUTES or name in READ_ROUTES or name in ANON_WRITE_ROUTES:
            continue
        for method in sorted(methods & {"POST", "PUT", "PATCH", "DELETE"}):
            writes.append((method, _concrete(route), name))
    # Every write the issue names is among them.
    names = {name for _m, _u, name in writes}
    for expected in (
        "api-list-new",
        "api-list-update",
        "api-list-delete",
        "api-comment-new",
        "api-comment-delete",
        "api-explanation-vote",
        "api-explanation-delete",
        "api-vector-new",
        "api-vector-delete",
        "api-model-new",
        "api-source-set-new",
        "api-feature-upload-batch",
        "api-activation-upload-batch",
        "api-bookmark-add",
    ):
        assert expected in names
    failures = []
    for method, url, name in writes:
        r = getattr(client, method.lower())(url, {}, format="json")
        if r.status_code != 401 or "error" not in r.json():
            failures.append((method, url, name, r.status_code))
    assert not failures


@pytest.fixture
def two_users(make_user, make_source, make_feature):
    """Ada owns a private model with a feature, an explanation, a list, a comment, a vote, a
    vector and an API key; Bob is signed in as someone else."""
    from accounts import services as account_services
    from features.importers.uploads import vector_create
    from features.models import Comment, Explanation, List, ListItem, Vote

    ada, bob = make_user(username="ada"), make_user(username="bob")
    private = make_source(model="ada-private", set_name="res-a", owner=ada, visibility=Visibility.PRIVATE)
    from models_app.models import Model, SourceSet

    Model.objects.filter(name="ada-private").update(visibility=Visibility.PRIVATE)
    SourceSet.objects.filter(name="res-a").update(visibility=Visibility.PRIVATE)
    private_feature = make_feature(source=private, index=0)
    public = make_source(model="ada-public", set_name="res-b", owner=ada)
    Model.objects.filter(name="ada-public").update(owner=ada)
    public_feature = make_feature(source=public, index=0)
    make_source(model="demo", set_name="res-d")  # ownerless, like the demo model

    explanation = Explanation.objects.create(feature=public_feature, description="cats", author=ada)
    private_explanation = Explanation.objects.create(feature=private_feature, description="dogs", author=ada)
    Vote.objects.create(explanation=explanation, user=ada)
    lst = List.objects.create(owner=ada, name="mine", visibility=Visibility.PUBLIC)
    private_list = List.objects.create(owner=ada, name="secret", visibility=Visibility.PRIVATE)
    ListItem.objects.create(list=lst, feature=public_feature)
    comment = Comment.objects.create(user=ada, feature=public_feature, text="hello")
    vector = vector_create(
        user=ada,
        model_id="ada-private",
        layer_number=0,
        hook_type="hook_resid_pre",
        vector=[0.1] * 16,
        label="v",
    )
    key, _clear = account_services.api_key_create(user=ada, name="laptop")
    client = APIClient()
    client.force_authenticate(bob)
    return {
        "ada": ada,
        "bob": bob,
        "client": client,
        "explanation": explanation,
        "private_explanation": private_explanation,
        "list": lst,
        "private_list": private_list,
        "comment": comment,
        "vector": vector,
        "key": key,
    }


def _post(client, url, body):
    r = client.post(url, body, format="json")
    assert r["Content-Type"].startswith("application/json"), (url, r.status_code)
    return r.status_code, r.json()


def test_a_second_user_cannot_touch_the_first_users_things(two_users):
    from accounts.models import ApiKey
    from features.models import Comment, Explanation, Feature, List, ListItem, Vote
    from models_app.models import SourceSet

    t = two_users
    c = t["client"]
    lst, ada = t["list"], t["ada"]
    pub = {"modelId": "ada-public", "layer": "0-res-b", "index": 0}
    priv = {"modelId": "ada-private", "layer": "0-res-a", "index": 0}

    # Lists: not Bob's to change; a private list is not even there.
    assert _post(c, "/api/list/update", {"listId": str(lst.pk), "name": "pwned"})[0] in (403, 404)
    assert _post(c, "/api/list/delete", {"listId": str(lst.pk)})[0] in (403, 404)
    assert _post(c, "/api/list/add-features", {"listId": str(lst.pk), "featuresToAdd": [pub]})[0] in (
        403,
        404,
    )
    assert _post(c, "/api/list/remove", {"listId": str(lst.pk), **pub})[0] in (403, 404)
    assert _post(c, "/api/list/get", {"listId": str(t["private_list"].pk)})[0] == 404
    assert List.objects.get(pk=lst.pk).name == "mine" and ListItem.objects.filter(list=lst).count() == 1

    # Comments.
    assert _post(c, "/api/comment/delete", {"commentId": t["comment"].pk})[0] in (403, 404)
    assert Comment.objects.filter(pk=t["comment"].pk).exists()

    # Votes: Bob's unvote does not remove Ada's; no vote on a private model's explanation.
    _post(c, f"/api/explanation/{t['explanation'].pk}/unvote", {})
    assert Vote.objects.filter(explanation=t["explanation"], user=ada).exists()
    assert _post(c, f"/api/explanation/{t['private_explanation'].pk}/vote", {})[0] == 404
    assert not Vote.objects.filter(explanation=t["private_explanation"]).exists()

    # Explanations.
    assert _post(c, f"/api/explanation/{t['explanation'].pk}/delete", {})[0] in (403, 404)
    assert _post(c, f"/api/explanation/{t['private_explanation'].pk}/delete", {})[0] == 404
    assert Explanation.objects.filter(pk=t["explanation"].pk).exists()

    # Vectors: on a private model, neither read nor deleted.
    v = t["vector"]
    ref = {"modelId": "ada-private", "source": v.source.name, "index": v.index}
    assert _post(c, "/api/vector/get", ref)[0] == 404
    assert _post(c, "/api/vector/delete", ref)[0] in (403, 404)
    assert Feature.objects.filter(pk=v.pk).exists()

    # Models and source sets: no set added to another's model, nor to the ownerless demo model;
    # no upload into another's source set.
    assert _post(c, "/api/source-set/new", {"name": "mine", "modelId": "ada-public"})[0] == 403
    assert _post(c, "/api/source-set/new", {"name": "mine", "modelId": "demo"})[0] == 403
    assert _post(c, "/api/source-set/new", {"name": "mine", "modelId": "ada-private"})[0] == 404
    assert not SourceSet.objects.filter(name="mine").exists()
    upload = {"modelId": "ada-public", "source": "0-res-b", "features": [{"index": 5}]}
    assert _post(c, "/api/feature/upload-batch", upload)[0] == 403
    acts = {
        "modelId": "ada-public",
        "source": "0-res-b",
        "index": 0,
        "activations": [{"tokens": ["a"], "values": [1.0]}],
    }
    assert _post(c, "/api/activation/upload-batch", acts)[0] == 403
    assert not Feature.objects.filter(source__name="0-res-b", index=5).exists()

    # Private features: not read, not commented, bookmarked, listed, voted.
    r = c.get("/api/feature/ada-private/0-res-a/0")
    assert r.status_code == 404
    assert _post(c, "/api/comment/new", {**priv, "text": "hi"})[0] == 404
    assert _post(c, "/api/bookmark/add", priv)[0] == 404
    own = _post(c, "/api/list/new", {"name": "bobs"})[1]
    assert _post(c, "/api/list/add-features", {"listId": str(own["id"]), "featuresToAdd": [priv]})[0] == 404
    assert not Comment.objects.filter(feature__source__name="0-res-a").exists()

    # API keys (account pages): another's key is not rotated or revoked.
    from django.test import Client

    browser = Client()
    browser.force_login(t["bob"])
    assert browser.post(f"/account/keys/{t['key'].pk}/rotate").status_code == 404
    assert browser.post(f"/account/keys/{t['key'].pk}/revoke").status_code == 404
    assert ApiKey.objects.get(pk=t["key"].pk).revoked_at is None


def test_the_owner_can_do_what_the_second_user_cannot(two_users):
    """The same calls succeed for Ada: the refusals above are about ownership, not broken calls."""
    t = two_users
    c = APIClient()
    c.force_authenticate(t["ada"])
    assert _post(c, "/api/source-set/new", {"name": "more", "modelId": "ada-public"})[0] == 200
    v = t["vector"]
    assert (
        _post(c, "/api/vector/get", {"modelId": "ada-private", "source": v.source.name, "index": v.index})[0]
        == 200
    )
    assert _post(c, f"/api/explanation/{t['private_explanation'].pk}/vote", {})[0] == 200
    assert c.get("/api/feature/ada-private/0-res-a/0").status_code == 200


def test_source_set_new_is_bounded_in_sources_per_call(settings, api_client, make_user):
    from models_app.models import Source

    settings.SOURCE_SET_MAX_SOURCES = 8
    api_client.force_authenticate(make_user())
    assert api_client.post("/api/model/new", {"id": "deep", "layers": 9}, format="json").status_code == 200
    r = api_client.post("/api/source-set/new", {"name": "res", "modelId": "deep"}, format="json")
    assert r.status_code == 400
    assert "at most 8 sources" in r.json()["error"] and "9 layers" in r.json()["error"]
    assert not Source.objects.filter(model__name="deep").exists()


def test_unlisted_source_sets_are_not_on_the_anonymous_home_page(client, make_source):
    from models_app.models import SourceSet

    make_source(model="shown", set_name="res-public")
    make_source(model="shown", set_name="res-hidden", visibility=Visibility.UNLISTED)
    SourceSet.objects.filter(name="res-hidden").update(visibility=Visibility.UNLISTED)
    page = client.get("/").content.decode()
    assert "res-public" in page
    assert "res-hidden" not in page
    # Still reachable by link.
    assert client.get("/api/source-set/shown/res-hidden").status_code == 200


def test_a_public_list_does_not_show_another_users_private_feature(
    api_client, make_user, make_source, make_feature
):
    from features.models import List, ListItem
    from models_app.models import Model

    ada = make_user()
    public = make_feature(source=make_source(model="open", set_name="res-o"), index=0)
    hidden = make_feature(source=make_source(model="closed", set_name="res-c", owner=ada), index=0)
    Model.objects.filter(name="closed").update(visibility=Visibility.PRIVATE, owner=ada)
    lst = List.objects.create(owner=ada, name="mixed", visibility=Visibility.PUBLIC)
    ListItem.objects.create(list=lst, feature=public)
    ListItem.objects.create(list=lst, feature=hidden)
    api_client.force_authenticate(make_user())
    body = api_client.post("/api/list/get", {"listId": str(lst.pk)}, format="json").json()
    assert "closed" not in str(body) and "open" in str(body)
    api_client.force_authenticate(ada)
    assert "closed" in str(api_client.post("/api/list/get", {"listId": str(lst.pk)}, format="json").json())
