"""Every path under /api/ answers JSON, and every API route answers with and without the
trailing slash (issue 10 "Routing", issue 11 item 1), through Django's test client with CSRF
checks on (as a browser or script without a token would be)."""

import pytest
from django.test import Client

from accounts.services import api_key_create


@pytest.fixture
def client():
    return Client(enforce_csrf_checks=True)


@pytest.fixture
def key(make_user):
    _key, clear = api_key_create(user=make_user(username="router"))
    return clear


@pytest.mark.parametrize(
    "path", ["/api", "/api/", "/api/a/b", "/api/a/b/c", "/api/a/b/", "/api/nothing", "/api/feature/x"]
)
@pytest.mark.parametrize("method", ["get", "post", "put", "delete"])
def test_unknown_api_paths_are_json_404(db, client, path, method):
    if method == "get":
        response = client.get(path)
    else:
        response = getattr(client, method)(path, data="{}", content_type="application/json")
    assert response.status_code == 404, (path, response.status_code)
    assert response["Content-Type"].startswith("application/json")
    assert path in response.json()["error"]


def test_pages_outside_api_still_use_page_routes(db, client):
    response = client.get("/no-such-model")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_wrong_method_is_json_405(db, client, key):
    for path in ("/api/list/new", "/api/list/new/", "/api/model/list", "/api/model/list/"):
        response = client.put(path, data="{}", content_type="application/json", HTTP_X_API_KEY=key)
        assert response.status_code == 405, path
        assert "error" in response.json()


@pytest.mark.parametrize("path", ["/api/model/list", "/api/model/list/"])
def test_get_routes_answer_with_and_without_slash(db, client, make_source, path):
    make_source(model="slashy")
    response = client.get(path)
    assert response.status_code == 200
    assert [m["id"] for m in response.json()] == ["slashy"]


def test_post_routes_answer_with_and_without_slash_without_redirect(db, client, key):
    for path, name in (("/api/list/new", "no slash"), ("/api/list/new/", "slash")):
        response = client.post(path, data={"name": name}, content_type="application/json", HTTP_X_API_KEY=key)
        assert response.status_code == 200, (path, response.content)
        assert response.json()["name"] == name


def test_routes_declared_with_slash_answer_without(db, client):
    response = client.get("/api/schema", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    assert "/api/features" in response.json()["paths"]


def test_anonymous_write_is_json_401_not_a_csrf_page(db, client):
    for path in ("/api/list/new", "/api/list/new/"):
        response = client.post(path, data={"name": "x"}, content_type="application/json")
        assert response.status_code == 401, path
        assert "error" in response.json()


def test_api_path_parameters_still_resolve_with_slash(db, client, make_feature):
    feature = make_feature(index=3)
    path = f"/api/feature/{feature.source.model.name}/{feature.source.name}/3/"
    response = client.get(path)
    assert response.status_code == 200 and response.json()["index"] == "3"


def test_oversized_body_is_a_json_4xx(db, client, key):
    big = '{"name": "' + "x" * (3 * 1024 * 1024) + '"}'
    response = client.post("/api/list/new", data=big, content_type="application/json", HTTP_X_API_KEY=key)
    assert response.status_code in (400, 413)  # 413 where the body limit is checked up front
    assert response["Content-Type"].startswith("application/json")
    assert "error" in response.json()


def test_slash_twin_reaches_async_views(db, client, settings):
    settings.ROOT_URLCONF = "neuronsite.tests.async_probe_urls"
    for path in ("/api/async-probe", "/api/async-probe/"):
        response = client.post(path, data="{}", content_type="application/json")
        assert response.status_code == 200, path
        assert response.json() == {"async": True, "method": "POST"}
    assert client.get("/api/async-probe/x").status_code == 404


def test_server_error_under_api_is_json_500(db, settings):
    settings.ROOT_URLCONF = "neuronsite.tests.async_probe_urls"
    client = Client(raise_request_exception=False)
    for path in ("/api/crash-probe", "/api/crash-probe/"):
        response = client.get(path)
        assert response.status_code == 500
        assert response.json() == {"error": "Internal server error (logged on the server)."}
    page = client.get("/crash-probe")
    assert page.status_code == 500 and page["Content-Type"].startswith("text/html")
