"""The inference and jobs operations of ``/api/schema/`` carry their bounds too (issue 10: "required
strings carry their minLength/maxLength and numbers their bounds"), and the server refuses, naming
the field, what the schema leaves out: ids longer than their columns, token positions past the
token limit, more steering terms than one request may carry, oversized chat messages."""

from __future__ import annotations

import re

import pytest
from django.conf import settings

from neuronsite.tests.test_openapi import _leaves, _operations, _resolve

# Operations whose request bodies and parameters are inference's (inference/api) and the jobs API's.
BOUNDED_OPERATIONS = {
    "/api/activation/new",
    "/api/search-all",
    "/api/search-all/{share_id}",
    "/api/search-topk-by-token",
    "/api/tokenize",
    "/api/cossim",
    "/api/steer",
    "/api/steer-chat",
    "/api/steer/{share_id}",
    "/api/jobs/{job_id}",
    "/api/jobs/{job_id}/cancel",
    "/api/jobs/{job_id}/retry",
}


@pytest.fixture
def schema(api_client, db):
    r = api_client.get("/api/schema/", {"format": "json"})
    assert r.status_code == 200
    return r.json()


def test_inference_and_jobs_strings_numbers_and_lists_carry_their_bounds(schema):
    seen = set()
    for path, method, op in _operations(schema):
        if path not in BOUNDED_OPERATIONS:
            continue
        seen.add(path)
        params = [(f"{p['in']}:{p['name']}", p["schema"]) for p in op.get("parameters", [])]
        body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
        for where, node in params + (list(_leaves(schema, body, "body")) if body else []):
            if "enum" in node or node.get("maxLength") == 0:
                continue
            if node["type"] == "string":
                # a length, or a pattern whose repetition is bounded (a feature index's "^[0-9]{1,9}$")
                bounded = re.fullmatch(r"\^.*\{\d+,\d+\}\$", node.get("pattern", ""))
                assert "maxLength" in node or bounded, (path, method, where, node)
            else:
                assert "maximum" in node and "minimum" in node, (path, method, where, node)
    assert seen == BOUNDED_OPERATIONS

    steer = _resolve(schema, {"$ref": "#/components/schemas/SteerCompletionInputRequest"})["properties"]
    feature = steer["features"]["items"]
    assert steer["features"]["maxItems"] == 32 and feature["required"] == ["index", "strength"]
    assert feature["properties"]["strength"]["maximum"] == steer["strength_multiplier"]["maximum"] == 1e6
    vector = steer["vectors"]["items"]["properties"]["steering_vector"]
    assert vector["items"]["maximum"] == pytest.approx(3.4028234663852886e38)
    assert set(_resolve(schema, steer["steer_method"]["allOf"][0])["enum"]) == {
        "SIMPLE_ADDITIVE",
        "ORTHOGONAL_DECOMP",
    }
    chat = _resolve(schema, {"$ref": "#/components/schemas/SteerChatInputRequest"})["properties"]
    assert chat["defaultChatMessages"]["items"]["required"] == ["role", "content"]
    search = _resolve(schema, {"$ref": "#/components/schemas/SearchAllInputRequest"})["properties"]
    assert search["sortIndexes"]["items"]["maximum"] == settings.INFERENCE_TOKEN_LIMIT - 1


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/activation/new", {"feature": {"modelId": "m" * 129, "source": "0-x", "index": 0}, "customText": "hi"}, "modelId"),
        ("/api/activation/new", {"feature": {"modelId": "m", "source": "0-x", "index": 2**31}, "customText": "hi"}, "index"),
        ("/api/search-all", {"modelId": "m", "sourceSet": "s" * 129, "text": "hi"}, "sourceSet"),
        ("/api/search-all", {"modelId": "m", "sourceSet": "s", "text": "hi", "sortIndexes": [10**6]}, "sortIndexes"),
        ("/api/search-topk-by-token", {"modelId": "m", "source": "0" * 161, "text": "hi"}, "source"),
        ("/api/tokenize", {"modelId": "m", "text": "a" * 100_001}, "text"),
        ("/api/tokenize", {"modelId": 5, "text": "hi"}, "modelId"),
        ("/api/steer", {"modelId": "m", "prompt": "hi", "features": [{"layer": "0-x", "index": 0, "strength": 1}] * 33}, "features"),
        ("/api/steer", {"modelId": "m", "prompt": "hi", "features": [{"layer": "x" * 161, "index": 0, "strength": 1}]}, "features"),
        ("/api/steer", {"modelId": "m", "prompt": "hi", "vectors": [{"hook": "h" * 201, "steering_vector": [1.0], "strength": 1}]}, "vectors"),
        ("/api/steer-chat", {"modelId": "m", "defaultChatMessages": [{"role": "user", "content": "hi"}] * 257}, "defaultChatMessages"),
    ],
)  # fmt: skip
def test_the_server_refuses_what_the_schema_leaves_out_naming_the_field(api_client, db, path, body, field):
    response = api_client.post(path, body, format="json")
    assert response.status_code == 400, response.content
    assert response.json()["error"].startswith(f"{field}") or f"{field}:" in response.json()["error"], (
        response.json()
    )


def test_conflict_upstream_and_busy_statuses_are_documented(schema):
    for path, method, op in _operations(schema):
        if method != "get":
            assert op["responses"]["409"]["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/Error"
            }, (path, method)
    paths = schema["paths"]
    assert "502" in paths["/api/explanation/generate"]["post"]["responses"]
    assert "503" in paths["/api/graph/generate"]["post"]["responses"]


def test_search_via_inference_on_a_set_that_cannot_serve_it_is_a_conflict(api_client, make_source):
    """Whether a source set allows search via inference, and whether its sources have SAE weights,
    are states of the stored data: 409 naming the source set (was 400: a schema-valid request
    refused as if it were malformed)."""
    from models_app.models import SourceSet

    source = make_source(set_name="res-st")
    body = {"modelId": source.model.name, "sourceSet": "res-st", "text": "hello"}
    off = api_client.post("/api/search-all", body, format="json")
    assert off.status_code == 409 and off.json()["error"].startswith("sourceSet:"), off.json()
    assert "not enabled" in off.json()["error"]
    SourceSet.objects.filter(name="res-st").update(allow_inference_search=True)
    type(source).objects.filter(pk=source.pk).update(inference_enabled=False)
    none = api_client.post("/api/search-all", body, format="json")
    assert none.status_code == 409 and "no sources with inference enabled" in none.json()["error"], (
        none.json()
    )


def test_job_list_mine_is_an_enum(schema, api_client):
    """``make fuzz`` sent ``GET /api/jobs?mine=<NUL>…`` (a plain string in the schema) and the
    server refused the NUL: the parameter lists the values it reads."""
    (mine,) = [p for p in schema["paths"]["/api/jobs"]["get"]["parameters"] if p["name"] == "mine"]
    assert mine["schema"]["enum"] == ["1", "true", "0", "false"]
    assert api_client.get("/api/jobs", {"mine": "true"}).status_code in (200, 401, 403)
