"""GET /api/feature/...: the common request (no API key, JSON or anything accepted, a found
feature) is served without DRF's passes; every other request goes through the DRF view. The two
answer the same: same status, bytes and headers, same visibility, same errors."""

import pytest
from django.test import Client

from accounts.services import api_key_create
from features.models import Activation
from neuronsite.fields import Visibility

# headers that carry the moment or the request (the same on both paths, but not comparable)
_VARYING = {"date", "server-timing", "set-cookie"}


def _headers(response) -> dict:
    return {k.lower(): v for k, v in response.headers.items() if k.lower() not in _VARYING}


def _both(client, url: str, **extra):
    """The fast path's answer (no Accept) and the DRF view's (an Accept header negotiation
    resolves to the same JSON renderer, which the fast path leaves to DRF)."""
    fast = client.get(url, **extra)
    drf = client.get(url, HTTP_ACCEPT="application/json, text/plain;q=0.5", **extra)
    return fast, drf


def _feature(make_feature, **kw):
    feature = make_feature(index=3, **kw)
    for i in range(3):
        Activation.objects.create(
            feature=feature,
            tokens=["a", "Ġb", "c"],
            values=[0.0, float(i) + 0.25, 0.5],
            max_value=float(i) + 0.25,
            max_value_token_index=1,
        )
    return feature


@pytest.mark.django_db
def test_fast_and_drf_answers_are_the_same(make_feature, django_assert_max_num_queries):
    _feature(make_feature)
    client = Client()
    with django_assert_max_num_queries(1):  # the fast path: one statement, no session or auth query
        fast = client.get("/api/feature/tiny/0-res-test/3")
    drf = client.get("/api/feature/tiny/0-res-test/3", HTTP_ACCEPT="application/json, text/plain;q=0.5")
    assert fast.status_code == drf.status_code == 200
    assert fast.content == drf.content and b"2.25" in fast.content
    assert _headers(fast) == _headers(drf)
    assert fast["Allow"] == drf["Allow"] and "Accept" in fast["Vary"]
    assert "content-security-policy" in _headers(fast)  # the middleware chain ran as before
    # conditional GET: the same ETag answers 304 on both paths
    etag = fast["ETag"]
    fast304, drf304 = _both(client, "/api/feature/tiny/0-res-test/3", HTTP_IF_NONE_MATCH=etag)
    assert fast304.status_code == drf304.status_code == 304
    assert _headers(fast304) == _headers(drf304)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url",
    [
        "/api/feature/tiny/0-res-test/999",  # missing feature
        "/api/feature/tiny/0-res-test/x",  # bad index
        "/api/feature/tiny/0-res-test/²",  # Unicode digit
        "/api/feature/nope/0-res-test/3",  # missing model
        "/api/feature/tiny/9-nope/3",  # missing source
    ],
)
def test_errors_are_the_drf_views_json(make_feature, url):
    _feature(make_feature)
    fast, drf = _both(Client(), url)
    assert fast.status_code == drf.status_code and fast.status_code in (400, 404)
    assert fast.content == drf.content and fast.json()["error"]
    assert fast["Content-Type"] == "application/json"
    assert _headers(fast) == _headers(drf)


@pytest.mark.django_db
def test_visibility_session_and_api_key(make_feature, make_source, make_user):
    owner, other = make_user(), make_user()
    source = make_source(model="priv", set_name="res-p", visibility=Visibility.PRIVATE, owner=owner)
    _feature(make_feature, source=source)
    url = "/api/feature/priv/0-res-p/3"
    anonymous = Client()
    assert anonymous.get(url).status_code == 404  # private: not found for others
    owner_session, other_session = Client(), Client()
    owner_session.force_login(owner)
    other_session.force_login(other)
    fast, drf = _both(owner_session, url)
    assert fast.status_code == drf.status_code == 200 and fast.content == drf.content
    assert other_session.get(url).status_code == 404
    # API keys take the DRF view: the owner's key reads it, a wrong key is a 401 JSON error
    _, clear = api_key_create(user=owner)
    assert anonymous.get(url, HTTP_X_API_KEY=clear).content == fast.content
    bad = anonymous.get(url, HTTP_X_API_KEY="wrong")
    assert bad.status_code == 401 and "API key" in bad.json()["error"]


@pytest.mark.django_db
def test_other_methods_and_formats_are_drfs(make_feature):
    _feature(make_feature)
    client = Client()
    post = client.post("/api/feature/tiny/0-res-test/3")
    assert post.status_code == 405 and post.json()["error"] and "GET" in post["Allow"]
    assert client.head("/api/feature/tiny/0-res-test/3").status_code == 405  # DRF: GET only
    assert client.options("/api/feature/tiny/0-res-test/3").status_code == 200
    not_acceptable = client.get("/api/feature/tiny/0-res-test/3", HTTP_ACCEPT="image/png")
    assert not_acceptable.status_code == 406 and not_acceptable.json()["error"]


def test_openapi_documents_the_drf_view():
    from features.api import views

    assert views.feature_get.cls is views.feature_get_drf.cls  # what drf-spectacular reads
    assert views.feature_get.initkwargs == views.feature_get_drf.initkwargs
