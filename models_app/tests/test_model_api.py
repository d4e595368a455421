from neuronsite.fields import Visibility


def test_model_list_and_get(api_client, make_source, make_user, django_assert_max_num_queries):
    owner = make_user()
    make_source(layer=0)
    make_source(layer=1)
    make_source(model="other", set_name="secret", visibility=Visibility.PRIVATE, owner=owner)
    from models_app.models import Model

    Model.objects.filter(name="other").update(visibility=Visibility.PRIVATE, owner=owner)
    with django_assert_max_num_queries(4):
        r = api_client.post("/api/model/list", {}, format="json")
    assert r.status_code == 200
    names = [m["id"] for m in r.json()]
    assert names == ["tiny"]
    tiny = r.json()[0]
    assert tiny["sourceSets"][0]["name"] == "res-test"
    assert [s["id"] for s in tiny["sourceSets"][0]["sources"]] == ["0-res-test", "1-res-test"]

    r = api_client.post("/api/model/get", {"modelId": "tiny"}, format="json")
    assert r.status_code == 200 and r.json()["id"] == "tiny"
    r = api_client.post("/api/model/get", {"modelId": "other"}, format="json")
    assert r.status_code == 404 and "other" in r.json()["error"]
    r = api_client.post("/api/model/get", {}, format="json")
    assert r.status_code == 400 and "modelId" in r.json()["error"]
    api_client.force_authenticate(owner)
    assert api_client.post("/api/model/get", {"modelId": "other"}, format="json").status_code == 200
    assert "other" in [m["id"] for m in api_client.post("/api/model/list", {}, format="json").json()]


def test_source_set_get(api_client, make_source):
    make_source(layer=0)
    make_source(layer=1)
    r = api_client.get("/api/source-set/tiny/res-test")
    assert r.status_code == 200
    body = r.json()
    assert body["name"] == "res-test" and body["modelId"] == "tiny"
    assert [s["layer"] for s in body["sources"]] == [0, 1]
    r = api_client.get("/api/source-set/tiny/nope")
    assert r.status_code == 404 and r.json() == {"error": "Source set 'tiny/nope' not found."}


def test_openapi_schema_and_docs_without_cdn(client, db):
    r = client.get("/api/schema/")
    assert r.status_code == 200
    assert b"/api/feature/{model_id}/{source}/{index}" in r.content
    r = client.get("/api/docs/")
    assert r.status_code == 200
    html = r.content.decode()
    assert "cdn" not in html.lower() and "unpkg" not in html.lower()
    assert "drf_spectacular_sidecar" in html or "/static/" in html
