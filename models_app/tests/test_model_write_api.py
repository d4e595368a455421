"""POST /api/model/new and /api/source-set/new."""

from __future__ import annotations

from models_app.models import Model, Source, SourceSet


def test_model_new_and_source_set_new(api_client, make_user):
    user = make_user()
    api_client.force_authenticate(user)
    r = api_client.post(
        "/api/model/new",
        {"id": "pup-model-3", "layers": 3, "displayName": "Pup", "url": "https://x.org"},
        format="json",
    )
    assert r.status_code == 200, r.json()
    assert (
        r.json()["id"] == "pup-model-3" and r.json()["layers"] == 3 and r.json()["website"] == "https://x.org"
    )
    model = Model.objects.get(name="pup-model-3")
    assert model.owner == user and model.visibility == "UNLISTED"
    r = api_client.post("/api/model/new", {"id": "pup-model-3", "layers": 3}, format="json")
    assert r.status_code == 409 and "already exists" in r.json()["error"]
    r = api_client.post("/api/model/new", {"id": "bad id!", "layers": 3}, format="json")
    assert r.status_code == 400 and "id" in r.json()["error"]
    r = api_client.post("/api/model/new", {"id": "m2", "layers": -1}, format="json")
    assert r.status_code == 400 and "layers" in r.json()["error"]

    r = api_client.post(
        "/api/source-set/new",
        {
            "name": "puppyscope-res-16k",
            "modelId": "pup-model-3",
            "description": "Residual",
            "url": "https://hf.co/x",
        },
        format="json",
    )
    assert r.status_code == 200, r.json()
    body = r.json()
    assert [s["id"] for s in body["sources"]] == [
        "0-puppyscope-res-16k",
        "1-puppyscope-res-16k",
        "2-puppyscope-res-16k",
    ]
    assert body["urls"] == ["https://hf.co/x"] and body["description"] == "Residual"
    assert SourceSet.objects.get(name="puppyscope-res-16k").owner == user
    assert Source.objects.filter(source_set__name="puppyscope-res-16k").count() == 3
    r = api_client.post(
        "/api/source-set/new", {"name": "puppyscope-res-16k", "modelId": "pup-model-3"}, format="json"
    )
    assert r.status_code == 409 and "already exists" in r.json()["error"]
    r = api_client.post("/api/source-set/new", {"name": "x", "modelId": "nope"}, format="json")
    assert r.status_code == 404 and "nope" in r.json()["error"]
    api_client.force_authenticate(None)
    assert api_client.post("/api/model/new", {"id": "m3", "layers": 1}, format="json").status_code == 401
