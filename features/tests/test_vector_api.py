"""POST /api/vector/new|get|list-owned|delete: user steering vectors stored as features."""

from __future__ import annotations

from features.models import Feature
from models_app.models import Model


def test_vector_lifecycle(api_client, make_user, django_assert_max_num_queries):
    Model.objects.create(name="vm", layers=2, d_model=3)
    user = make_user()
    api_client.force_authenticate(user)
    body = {
        "modelId": "vm",
        "layerNumber": 1,
        "hookType": "hook_resid_pre",
        "vector": [0.5, -1.0, 2.0],
        "vectorDefaultSteerStrength": 4,
        "vectorLabel": "formal tone",
    }
    r = api_client.post("/api/vector/new", body, format="json")
    assert r.status_code == 200, r.json()
    vec = r.json()["vector"]
    assert (
        vec["source"] == "1-neuronpedia-resid-pre" and vec["index"] == "0" and vec["label"] == "formal tone"
    )
    assert vec["hookName"] == "blocks.1.hook_resid_pre" and vec["values"] == [0.5, -1.0, 2.0]
    assert vec["defaultSteerStrength"] == 4
    r2 = api_client.post(
        "/api/vector/new", {**body, "hookType": "hook_resid_post", "vectorLabel": "b"}, format="json"
    )
    assert r2.json()["vector"]["source"] == "1-neuronpedia-resid-post"
    r3 = api_client.post("/api/vector/new", {**body, "vectorLabel": "c"}, format="json")
    assert r3.json()["vector"]["index"] == "1"
    feature = Feature.objects.get(source__name="1-neuronpedia-resid-pre", index=0)
    assert feature.has_vector and feature.creator_id == user.pk

    r = api_client.post(
        "/api/vector/get", {"modelId": "vm", "source": vec["source"], "index": "0"}, format="json"
    )
    assert r.status_code == 200 and r.json()["vector"]["vectorLabel"] == "formal tone"
    assert r.json()["vector"]["vector"] == [0.5, -1.0, 2.0]
    with django_assert_max_num_queries(3):
        r = api_client.post("/api/vector/list-owned", {}, format="json")
    assert sorted(v["vectorLabel"] for v in r.json()["vectors"]) == ["b", "c", "formal tone"]

    other = make_user()
    api_client.force_authenticate(other)
    r = api_client.post(
        "/api/vector/delete", {"modelId": "vm", "source": vec["source"], "index": "0"}, format="json"
    )
    assert r.status_code == 403
    assert api_client.post("/api/vector/list-owned", {}, format="json").json()["vectors"] == []
    api_client.force_authenticate(user)
    r = api_client.post(
        "/api/vector/delete", {"modelId": "vm", "source": vec["source"], "index": "0"}, format="json"
    )
    assert r.status_code == 200 and not Feature.objects.filter(pk=feature.pk).exists()
    r = api_client.post(
        "/api/vector/get", {"modelId": "vm", "source": vec["source"], "index": "0"}, format="json"
    )
    assert r.status_code == 404


def test_vector_new_bad_input(api_client, make_user):
    Model.objects.create(name="vm", layers=2, d_model=3)
    api_client.force_authenticate(make_user())
    base = {
        "modelId": "vm",
        "layerNumber": 0,
        "hookType": "hook_resid_pre",
        "vector": [1, 2, 3],
        "vectorLabel": "x",
    }
    cases = [
        ({"vector": [1, 2]}, "d_model 3"),
        ({"vector": [1, "a", 3]}, "vector"),
        ({"layerNumber": 5}, "layerNumber"),
        ({"hookType": "hook_mlp_out"}, "hookType"),
        ({"vectorLabel": ""}, "vectorLabel"),
    ]
    for change, needle in cases:
        r = api_client.post("/api/vector/new", {**base, **change}, format="json")
        assert r.status_code == 400 and needle in r.json()["error"], (change, r.json())
    r = api_client.post("/api/vector/new", {**base, "modelId": "nope"}, format="json")
    assert r.status_code == 404
    assert not Feature.objects.exists()
    api_client.force_authenticate(None)
    assert api_client.post("/api/vector/new", base, format="json").status_code == 401
