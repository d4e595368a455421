"""The official client's graph helpers (neuronpedia 1.2.1) against a live server over HTTP:
upload, upload_file, get, list_owned, generate, delete."""

from __future__ import annotations

import json

import pytest

from graphs.tests.test_api import minimal_graph


@pytest.fixture
def np_client(live_server, graph_model, make_user, monkeypatch):
    from neuronpedia.requests.base_request import NPRequest

    from accounts.services import api_key_create

    user = make_user()
    _, key = api_key_create(user=user)
    monkeypatch.setattr(NPRequest, "BASE_URL", f"{live_server.url}/api")
    monkeypatch.setenv("NEURONPEDIA_API_KEY", key)
    return user


def test_client_graph_helpers(np_client, tmp_path):
    from neuronpedia.np_graph_metadata import NPGraphMetadata

    uploaded = NPGraphMetadata.upload(json.dumps(minimal_graph(slug="client-up")))
    assert uploaded.model_id == "gtiny" and uploaded.slug == "client-up"
    assert uploaded.prompt_tokens == ["hi", " there"] and uploaded.json_url.endswith(
        "/api/graph/gtiny/client-up/json"
    )

    path = tmp_path / "graph.json"
    path.write_text(json.dumps(minimal_graph(slug="client-file")))
    from_file = NPGraphMetadata.upload_file(str(path))
    assert from_file.slug == "client-file"

    got = NPGraphMetadata.get("gtiny", "client-up")
    assert got == uploaded

    generated = NPGraphMetadata.generate(
        "gtiny", "The cat sat", "client-gen", node_threshold=0.8, edge_threshold=0.9
    )
    assert generated.slug == "client-gen" and generated.prompt == "The cat sat"
    assert generated.prompt_tokens[0] == "<|endoftext|>"

    import requests

    graph = requests.get(generated.json_url, timeout=30).json()
    assert graph["metadata"]["slug"] == "client-gen" and graph["nodes"]

    owned = NPGraphMetadata.list_owned()
    assert sorted(g.slug for g in owned) == ["client-file", "client-gen", "client-up"]

    got.delete()
    assert sorted(g.slug for g in NPGraphMetadata.list_owned()) == ["client-file", "client-gen"]
    with pytest.raises(requests.exceptions.HTTPError, match="not found"):
        NPGraphMetadata.get("gtiny", "client-up")
