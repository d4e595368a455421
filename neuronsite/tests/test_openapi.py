"""``/api/schema/`` tells the truth: the x-api-key scheme, an ``Error`` body for every error status,
a documented 2xx body, and bounds on every string and number the feature/model APIs take."""

from __future__ import annotations

import pytest

# Operations whose request bodies are this area's (features/, models_app/); inference is helper E's.
BOUNDED_PREFIXES = (
    "/api/feature",
    "/api/activation/upload-batch",
    "/api/vector",
    "/api/list",
    "/api/comment",
    "/api/bookmark",
    "/api/explanation",
    "/api/model",
    "/api/source-set",
)


@pytest.fixture
def schema(api_client, db):
    r = api_client.get("/api/schema/", {"format": "json"})
    assert r.status_code == 200
    return r.json()


def _operations(schema):
    for path, item in schema["paths"].items():
        for method, op in item.items():
            if method in {"get", "post", "put", "patch", "delete"}:
                yield path, method, op


def _resolve(schema, node):
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    return node


def _leaves(schema, node, where, seen=()):
    """Every (where, string/number/integer schema) under ``node``."""
    node = _resolve(schema, node)
    if "oneOf" in node:
        for i, alt in enumerate(node["oneOf"]):
            yield from _leaves(schema, alt, f"{where}|{i}", seen)
        return
    kind = node.get("type")
    if kind == "object":
        for name, prop in node.get("properties", {}).items():
            yield from _leaves(schema, prop, f"{where}.{name}", seen)
    elif kind == "array":
        assert "maxItems" in node, f"{where}: a list without maxItems"
        yield from _leaves(schema, node["items"], f"{where}[]", seen)
    elif kind in {"string", "number", "integer"}:
        yield where, node


def test_api_key_scheme_is_declared(schema):
    schemes = schema["components"]["securitySchemes"]
    assert schemes["ApiKeyAuth"] == {"type": "apiKey", "in": "header", "name": "x-api-key"}
    ops = list(_operations(schema))
    assert all({"ApiKeyAuth": []} in op.get("security", []) for _, _, op in ops)


def test_every_operation_documents_its_body_and_error_statuses(schema):
    assert schema["components"]["schemas"]["Error"]["required"] == ["error"]
    for path, method, op in _operations(schema):
        responses = op["responses"]
        for code in ("400", "401", "403", "404", "429"):
            body = responses[code]["content"]["application/json"]["schema"]
            assert body == {"$ref": "#/components/schemas/Error"}, (path, method, code)
        if "requestBody" in op:
            assert "413" in responses, (path, method)
            # JSON bodies only, but for file uploads (multipart forms)
            expected = (
                ["multipart/form-data"] if path.startswith("/api/jobs/upload-") else ["application/json"]
            )
            assert list(op["requestBody"]["content"]) == expected, (path, method)
        ok = [code for code in responses if code.startswith("2")]
        assert ok, (path, method)
        for code in ok:
            if code == "204":  # No Content: no body to document
                assert "content" not in responses[code], (path, method)
                continue
            # A real body: not the empty schema that says nothing (issue 10, helper O3).
            assert responses[code]["content"], (path, method, code)
            for media, body in responses[code]["content"].items():
                assert body.get("schema"), (path, method, code, media)


def test_strings_and_numbers_carry_their_bounds(schema):
    checked = 0
    for path, method, op in _operations(schema):
        if not path.startswith(BOUNDED_PREFIXES):
            continue
        params = [(f"{p['in']}:{p['name']}", p["schema"]) for p in op.get("parameters", [])]
        body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
        leaves = params + (list(_leaves(schema, body, "body")) if body else [])
        for where, node in leaves:
            checked += 1
            if "enum" in node or node.get("maxLength") == 0:  # an enum, or the "" of allow_blank
                continue
            if node["type"] == "string":
                assert "maxLength" in node or "pattern" in node, (path, method, where, node)
                assert "pattern" in node or "format" in node, (
                    path,
                    method,
                    where,
                    "nothing says what it refuses",
                )
            else:
                assert "maximum" in node and "minimum" in node, (path, method, where, node)
    assert checked > 50
    # the documented models in the issue: float32 numbers, methodName/modelName column lengths
    upload = _resolve(schema, {"$ref": "#/components/schemas/FeatureInRequest"})
    explanation = _resolve(schema, upload["properties"]["explanations"]["items"])
    assert explanation["properties"]["methodName"]["oneOf"][0]["maxLength"] == 100
    assert explanation["properties"]["modelName"]["oneOf"][0]["maxLength"] == 200
    assert upload["properties"]["density"]["maximum"] == 1
    logit = _resolve(schema, upload["properties"]["topLogits"]["items"])
    assert logit["properties"]["value"]["maximum"] == pytest.approx(3.4028234663852886e38)


def test_jobs_and_feature_client_answers_match_their_documented_bodies(
    schema, api_client, make_user, make_feature, make_source
):
    """Real answers against the documented 2xx bodies (helper O3): before, each documented ``{}``."""
    import jsonschema

    from features import services
    from features.models import Activation
    from inference.dashboards.sharding import dashboards_job_create
    from neuronsite.openapi import documented_body

    def check(response, path, method="get"):
        assert response.status_code == 200, response.content
        jsonschema.validate(response.json(), documented_body(schema, path, method))
        return response.json()

    user = make_user()
    api_client.force_authenticate(user)
    job = dashboards_job_create(
        source=make_source(set_name="res-jobs", owner=user),
        owner=user,
        batch_size=16,
        features_per_pass=16,
        umap=False,
    )
    check(api_client.get("/api/jobs"), "/api/jobs")
    check(api_client.get(f"/api/jobs/{job.pk}"), "/api/jobs/{job_id}")
    check(api_client.post(f"/api/jobs/{job.pk}/cancel"), "/api/jobs/{job_id}/cancel", "post")

    feature = make_feature(index=3)
    Activation.objects.create(feature=feature, tokens=["a", "b"], values=[0.0, 1.5], max_value=1.5)
    explanation = services.explanation_create(feature=feature, description="letters", type_name="human")
    services.bookmark_add(user=user, feature=feature)
    ref = {"modelId": "tiny", "source": "0-res-test", "index": 3}
    acts = check(api_client.get("/api/activation/get", ref), "/api/activation/get")
    assert acts[0]["values"] == [0.0, 1.5]
    check(api_client.post("/api/activation/get", ref, format="json"), "/api/activation/get", "post")
    check(api_client.get(f"/api/explanation/{explanation.pk}"), "/api/explanation/{explanation_id}")
    batch = [{"modelId": "tiny", "layer": "0-res-test", "index": 3}]
    check(api_client.post("/api/features", batch, format="json"), "/api/features", "post")
    marks = check(api_client.get("/api/user/bookmarks"), "/api/user/bookmarks")
    assert [m["index"] for m in marks] == ["3"]
    lst = services.list_create(user=user, name="mine")
    comment = {"listId": str(lst.pk), "text": "nice"}
    check(api_client.post("/api/list/comment/new", comment, format="json"), "/api/list/comment/new", "post")
