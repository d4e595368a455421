"""The graph API's real answers match the 200 bodies ``/api/schema/`` documents (issue 10: every
operation documents its response body; before, each said ``{}``)."""

from __future__ import annotations

import gzip
import json

import jsonschema

from graphs.tests.test_api import minimal_graph
from neuronsite.openapi import documented_body


def test_graph_answers_match_their_documented_bodies(graph_model, api_user):
    _, client = api_user()
    schema = client.get("/api/schema/", {"format": "json"}).json()

    def check(response, path, method="post"):
        assert response.status_code == 200, response.content
        jsonschema.validate(response.json(), documented_body(schema, path, method))
        return response.json()

    gz = gzip.compress(json.dumps(minimal_graph()).encode())
    put = check(
        client.post("/api/graph/signed-put", {"filename": "g.json", "contentLength": len(gz)}, format="json"),
        "/api/graph/signed-put",
    )
    uploaded = client.generic(
        "PUT", put["url"].split("testserver", 1)[1], gz, content_type="application/json"
    )
    assert uploaded.status_code == 200, uploaded.content
    check(
        client.post("/api/graph/save-to-db", {"putRequestId": put["putRequestId"]}, format="json"),
        "/api/graph/save-to-db",
    )
    check(client.post("/api/graph/validate", {"nodes": "x"}, format="json"), "/api/graph/validate")
    check(client.get("/api/graph/gtiny/up1"), "/api/graph/{model_id}/{slug}", "get")
    assert check(client.post("/api/graph/list-owned"), "/api/graph/list-owned")[0]["slug"] == "up1"
    ref = {"modelId": "gtiny", "slug": "up1"}
    sub = check(
        client.post(
            "/api/graph/subgraph/save",
            {**ref, "pinnedIds": ["0_3_1"], "pruningThreshold": 0.6},
            format="json",
        ),
        "/api/graph/subgraph/save",
    )["subgraph"]
    check(client.post("/api/graph/subgraph/list", ref, format="json"), "/api/graph/subgraph/list")
    check(client.get(f"/api/graph/subgraph/{sub['id']}"), "/api/graph/subgraph/{subgraph_id}", "get")
    check(
        client.post("/api/graph/subgraph/delete", {"subgraphId": sub["id"]}, format="json"),
        "/api/graph/subgraph/delete",
    )
    check(client.post("/api/graph/delete", ref, format="json"), "/api/graph/delete")
