"""Graph API through its URLs: generate bad input, get, list-owned, delete, the upload flow
(signed-put → PUT → save-to-db) with Neuronpedia's save checks, caps and subgraphs."""

from __future__ import annotations

import gzip
import json

import pytest

from graphs.models import GraphMetadata


def minimal_graph(slug="up1", scan="gtiny", **meta) -> dict:
    return {
        "metadata": {
            "slug": slug,
            "scan": scan,
            "prompt": "hi there",
            "prompt_tokens": ["hi", " there"],
            **meta,
        },
        "qParams": {"pinnedIds": [], "supernodes": [], "linkType": "both", "clickedId": "", "sg_pos": ""},
        "nodes": [
            {
                "node_id": "E_5_0",
                "feature": 0,
                "layer": "E",
                "ctx_idx": 0,
                "feature_type": "embedding",
                "jsNodeId": "E_5-0",
                "clerp": "",
            },
            {
                "node_id": "0_3_1",
                "feature": 9,
                "layer": "0",
                "ctx_idx": 1,
                "feature_type": "cross layer transcoder",
                "jsNodeId": "0_3-0",
                "clerp": "x",
                "extra_key": 1,
            },
        ],
        "links": [{"source": "E_5_0", "target": "0_3_1", "weight": 0.5}],
    }


def upload(client, data_or_bytes, *, raw=False):
    gz = data_or_bytes if raw else gzip.compress(json.dumps(data_or_bytes).encode())
    response = client.post(
        "/api/graph/signed-put", {"filename": "g.json", "contentLength": len(gz)}, format="json"
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    put = client.generic("PUT", body["url"].split("testserver", 1)[1], gz, content_type="application/json")
    assert put.status_code == 200, put.json()
    return client.post("/api/graph/save-to-db", {"putRequestId": body["putRequestId"]}, format="json")


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        ({"modelId": "gtiny"}, 400, "prompt"),
        ({"modelId": "nope", "prompt": "hi"}, 404, "nope"),
        ({"modelId": "gtiny", "prompt": "hi", "sourceSetName": "missing"}, 404, "missing"),
        ({"modelId": "gtiny", "prompt": "hi", "sourceSetName": "res"}, 409, "no transcoders"),
        ({"modelId": "gtiny", "prompt": "hi", "maxNLogits": 99}, 400, "maxNLogits"),
        ({"modelId": "gtiny", "prompt": "hi", "nodeThreshold": 0.2}, 400, "nodeThreshold"),
        ({"modelId": "gtiny", "prompt": "hi", "maxFeatureNodes": 10}, 400, "maxFeatureNodes"),
        ({"modelId": "gtiny", "prompt": "hi", "slug": "bad slug!"}, 400, "Invalid scan or slug"),
        ({"modelId": "gtiny", "prompt": "x" * 10_001}, 400, "Prompt Too Long"),
    ],
)
def test_generate_bad_input(graph_model, api_user, body, status, needle):
    _, client = api_user()
    response = client.post("/api/graph/generate", body, format="json")
    assert response.status_code == status, response.json()
    assert needle in json.dumps(response.json())
    assert not GraphMetadata.objects.exists()


def test_generate_token_cap_slug_taken_and_chat(graph_model, api_user, settings):
    user, client = api_user()
    settings.GRAPH_MAX_PROMPT_TOKENS = 8
    response = client.post("/api/graph/generate", {"modelId": "gtiny", "prompt": "word " * 20}, format="json")
    assert response.status_code == 400
    assert response.json()["error"] == "Prompt Too Long" and "cap" in response.json()["message"]
    settings.GRAPH_MAX_PROMPT_TOKENS = 64
    settings.GRAPH_MAX_PROMPT_TOKENS_BY_MODEL = {"gtiny": 3, "other": 1000}  # a model's own cap wins
    capped = client.post("/api/graph/generate", {"modelId": "gtiny", "prompt": "word " * 5}, format="json")
    assert capped.status_code == 400 and "the cap for this model is 3" in capped.json()["message"]
    settings.GRAPH_MAX_PROMPT_TOKENS_BY_MODEL = {"other": 3}
    ok = client.post(
        "/api/graph/generate",
        {"modelId": "gtiny", "messages": [{"role": "user", "content": "Hello"}], "slug": "chat1"},
        format="json",
    )
    assert ok.status_code == 200, ok.json()
    body = ok.json()
    assert body["numNodes"] > 0 and body["numLinks"] > 0 and body["url"].endswith("/gtiny/graph?slug=chat1")
    graph = GraphMetadata.objects.get(slug="chat1")
    assert graph.prompt_tokens[:2] == ["<|endoftext|>", "<|user|>"] and graph.owner == user
    again = client.post(
        "/api/graph/generate", {"modelId": "gtiny", "prompt": "hi", "slug": "chat1"}, format="json"
    )
    assert again.status_code == 400 and again.json()["error"] == "Model + Slug/ID Exists"

    meta = client.get("/api/graph/gtiny/chat1").json()
    assert (
        meta["modelId"] == "gtiny" and meta["slug"] == "chat1" and meta["promptTokens"] == graph.prompt_tokens
    )
    file = client.get("/api/graph/gtiny/chat1/json")
    assert file["Content-Encoding"] == "gzip" and "max-age" in file["Cache-Control"]


def test_upload_flow_list_owned_and_delete(
    graph_model, api_user, django_assert_max_num_queries, django_capture_on_commit_callbacks
):
    owner, client = api_user()
    response = upload(client, minimal_graph())
    assert response.status_code == 200, response.json()
    assert response.json()["message"] == "Graph saved to database"
    graph = GraphMetadata.objects.get(slug="up1")
    assert graph.owner == owner and graph.prompt == "hi there"
    served = json.loads(gzip.decompress(b"".join(client.get("/api/graph/gtiny/up1/json").streaming_content)))
    assert served["nodes"][1]["extra_key"] == 1  # extra keys allowed and kept

    # Re-uploading your own slug replaces it; another user's slug is refused.
    assert upload(client, minimal_graph(prompt="second")).status_code == 200
    assert GraphMetadata.objects.get(slug="up1").prompt == "second"
    _, other = api_user()
    refused = upload(other, minimal_graph())
    assert refused.status_code == 400 and refused.json()["error"] == "Model + Slug/ID Exists"

    upload(client, minimal_graph(slug="up2"))
    with django_assert_max_num_queries(3):
        listed = client.post("/api/graph/list-owned").json()
    assert sorted(g["slug"] for g in listed) == ["up1", "up2"]
    assert other.post("/api/graph/list-owned").json() == []

    assert (
        other.post("/api/graph/delete", {"modelId": "gtiny", "slug": "up1"}, format="json").status_code == 403
    )
    name = GraphMetadata.objects.get(slug="up1").file.name
    with django_capture_on_commit_callbacks(execute=True):
        deleted = client.post("/api/graph/delete", {"modelId": "gtiny", "slug": "up1"}, format="json")
    assert deleted.status_code == 200
    from graphs.storage import graph_storage

    assert not GraphMetadata.objects.filter(slug="up1").exists() and not graph_storage().exists(name)
    assert client.get("/api/graph/gtiny/up1").status_code == 404


@pytest.mark.parametrize(
    ("mutate", "status", "needle"),
    [
        (lambda g: g.pop("links"), 400, "(root): 'links' is a required property"),
        (lambda g: g["nodes"][0].update(ctx_idx="x"), 400, "nodes/0/ctx_idx"),
        (lambda g: g["metadata"].update(slug="bad slug"), 400, "Invalid scan or slug"),
        (lambda g: g["metadata"].update(scan="nomodel"), 404, "nomodel"),
        (lambda g: g["metadata"].update(feature_details={"neuronpedia_source_set": "zzz"}), 404, "zzz"),
    ],
)
def test_save_to_db_checks(graph_model, api_user, mutate, status, needle):
    _, client = api_user()
    data = minimal_graph()
    mutate(data)
    response = upload(client, data)
    assert response.status_code == status, response.json()
    assert needle in json.dumps(response.json())
    assert not GraphMetadata.objects.exists()


def test_upload_bad_files_and_caps(graph_model, api_user, settings):
    _, client = api_user()
    bad = upload(client, b"\x1f\x8b\x08\x00garbage-not-deflate", raw=True)
    assert bad.status_code == 400 and "gzip" in bad.json()["error"]
    too_big = client.post(
        "/api/graph/signed-put", {"filename": "g.json", "contentLength": 101 * 1024 * 1024}, format="json"
    )
    assert too_big.status_code == 413
    settings.GRAPH_MAX_UPLOAD_BYTES = 100
    body = client.post(
        "/api/graph/signed-put", {"filename": "g.json", "contentLength": 50}, format="json"
    ).json()
    put = client.generic(
        "PUT", body["url"].split("testserver", 1)[1], b"x" * 500, content_type="application/json"
    )
    assert put.status_code == 413
    forged = client.generic("PUT", "/api/graph-upload/forged-token", b"x", content_type="application/json")
    assert forged.status_code == 403
    assert client.post("/api/graph/save-to-db", {"putRequestId": "nope"}, format="json").status_code == 403
    _, other = api_user()
    assert (
        other.post("/api/graph/save-to-db", {"putRequestId": body["putRequestId"]}, format="json").status_code
        == 403
    )
    assert client.post("/api/graph/signed-put", {"filename": "g.json"}, format="json").status_code == 400
    from rest_framework.test import APIClient

    assert APIClient().post("/api/graph/list-owned").status_code in (401, 403)
    assert not GraphMetadata.objects.exists()


def test_validate_and_subgraphs(graph_model, api_user):
    owner, client = api_user()
    assert client.post("/api/graph/validate", minimal_graph(), format="json").json() == {
        "valid": True,
        "errors": [],
    }
    invalid = client.post("/api/graph/validate", {"nodes": "x"}, format="json").json()
    assert not invalid["valid"] and any(e.startswith("nodes:") for e in invalid["errors"])
    upload(client, minimal_graph())
    saved = client.post(
        "/api/graph/subgraph/save",
        {
            "modelId": "gtiny",
            "slug": "up1",
            "displayName": "mine",
            "pinnedIds": ["0_3_1"],
            "supernodes": [["group", "0_3_1"]],
            "pruningThreshold": 0.6,
            "featured": True,
        },
        format="json",
    )
    assert saved.status_code == 200, saved.json()
    sub = saved.json()["subgraph"]
    assert sub["pinnedIds"] == ["0_3_1"] and sub["featured"] is True
    _, other = api_user()
    listed = other.post("/api/graph/subgraph/list", {"modelId": "gtiny", "slug": "up1"}, format="json").json()
    assert [s["id"] for s in listed] == [sub["id"]]  # featured: visible to others
    assert other.get(f"/api/graph/subgraph/{sub['id']}").json()["pinnedIds"] == ["0_3_1"]
    assert (
        other.post("/api/graph/subgraph/delete", {"subgraphId": sub["id"]}, format="json").status_code == 403
    )
    bad = client.post("/api/graph/subgraph/save", {"modelId": "gtiny", "slug": "up1"}, format="json")
    assert bad.status_code == 400 and "pinnedIds" in bad.json()["error"]
    assert (
        client.post("/api/graph/subgraph/delete", {"subgraphId": sub["id"]}, format="json").status_code == 200
    )


def test_pages(graph_model, api_user, client, django_assert_max_num_queries):
    owner, api = api_user()
    upload(api, minimal_graph())
    with django_assert_max_num_queries(8):
        page = client.get("/gtiny/graph?slug=up1")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-slug="up1"' in html and "graphs/graph.js" in html and "up1" in html
    assert client.get("/nomodel/graph").status_code == 404
    validator = client.get("/graph/validate")
    assert validator.status_code == 200 and "graphs/validate.js" in validator.content.decode()


def test_pruned_view_and_upload_rate_limit(graph_model, api_user, settings):
    _, client = api_user()
    data = minimal_graph()
    data["nodes"][1]["influence"] = 0.9
    data["nodes"].append(
        {"node_id": "1_4_1", "feature": 3, "layer": "1", "ctx_idx": 1, "feature_type": "cross layer transcoder",
         "jsNodeId": "1_4-0", "clerp": "", "influence": 0.3}
    )  # fmt: skip
    data["links"].append({"source": "E_5_0", "target": "1_4_1", "weight": 0.25})
    assert upload(client, data).status_code == 200
    response = client.get("/api/graph/gtiny/up1/json?pruningThreshold=0.6")
    assert response.status_code == 200 and response["Content-Encoding"] == "gzip"
    pruned = json.loads(gzip.decompress(b"".join(response.streaming_content)))
    assert [n["node_id"] for n in pruned["nodes"]] == ["E_5_0", "1_4_1"]
    assert pruned["links"] == [{"source": "E_5_0", "target": "1_4_1", "weight": 0.25}]
    for bad in ("2", "x"):
        rejected = client.get(f"/api/graph/gtiny/up1/json?pruningThreshold={bad}")
        assert rejected.status_code == 400 and "pruningThreshold" in rejected.json()["error"]

    # Caching: the full file and each pruned view have their own ETag; a matching If-None-Match
    # answers 304 (no body); a replaced graph gets a new ETag.
    full = client.get("/api/graph/gtiny/up1/json")
    assert full["ETag"] != response["ETag"] and full["Cache-Control"] == "public, max-age=3600"
    same = client.get("/api/graph/gtiny/up1/json", HTTP_IF_NONE_MATCH=full["ETag"])
    assert same.status_code == 304 and same["ETag"] == full["ETag"] and not same.content
    view = client.get("/api/graph/gtiny/up1/json?pruningThreshold=0.6", HTTP_IF_NONE_MATCH=full["ETag"])
    assert view.status_code == 200
    assert upload(client, data).status_code == 200
    fresh = client.get("/api/graph/gtiny/up1/json", HTTP_IF_NONE_MATCH=full["ETag"])
    assert fresh.status_code == 200 and fresh["ETag"] != full["ETag"]

    settings.GRAPH_UPLOADS_PER_DAY = 1
    limited = client.post("/api/graph/signed-put", {"filename": "g.json", "contentLength": 10}, format="json")
    assert limited.status_code == 429 and "per day" in limited.json()["error"]


def test_upload_reads_both_error_id_forms(graph_model, api_user):
    """circuit-tracer 0.5.0 wrote error nodes as ``0_{layer}_{ctx}``; stored graphs use
    ``{layer}_-1_{ctx}`` (never equal to a feature id), and links follow the renamed node."""
    _, client = api_user()
    data = minimal_graph()
    error = {"feature": None, "ctx_idx": 1, "feature_type": "mlp reconstruction error", "clerp": ""}
    data["nodes"] += [
        {**error, "node_id": "0_1_1", "layer": "1", "jsNodeId": "0_1_1-0"},  # legacy form
        {**error, "node_id": "0_0_1", "layer": "0", "jsNodeId": "0_0_1-0"},  # legacy, id shared below
        {**error, "node_id": "2_-1_0", "layer": "2", "ctx_idx": 0, "jsNodeId": "2_-1_0-0"},  # later form
        {"node_id": "0_0_1", "feature": 1, "layer": "0", "ctx_idx": 1, "feature_type": "cross layer transcoder",
         "jsNodeId": "0_0-0", "clerp": ""},
    ]  # fmt: skip
    data["links"] += [
        {"source": "0_1_1", "target": "0_3_1", "weight": 0.25},
        {"source": "2_-1_0", "target": "0_3_1", "weight": 0.125},
        {"source": "0_0_1", "target": "0_3_1", "weight": 0.5},  # ambiguous in the old form: the feature's
    ]
    data["qParams"]["pinnedIds"] = ["0_1_1"]
    assert upload(client, data).status_code == 200
    served = json.loads(gzip.decompress(b"".join(client.get("/api/graph/gtiny/up1/json").streaming_content)))
    ids = [n["node_id"] for n in served["nodes"]]
    assert ids == ["E_5_0", "0_3_1", "1_-1_1", "0_-1_1", "2_-1_0", "0_0_1"]
    assert len(set(ids)) == len(ids)
    assert served["nodes"][2]["jsNodeId"] == "1_-1_1-0"
    sources = [(link["source"], link["weight"]) for link in served["links"][1:]]
    assert sources == [("1_-1_1", 0.25), ("2_-1_0", 0.125), ("0_0_1", 0.5)]
    assert served["qParams"]["pinnedIds"] == ["1_-1_1"]
