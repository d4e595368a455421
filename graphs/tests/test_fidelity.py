"""The stored graph equals circuit-tracer's own ``create_graph_files`` output for the same model,
transcoders, prompt and thresholds, apart from the documented additions (labels, unique error ids,
metadata keys and scores)."""

from __future__ import annotations

import pytest

from graphs.tests.conftest import bare_graph_json, canonical_node_id, fetch_graph

PROMPT = "The quick brown fox jumps over"


@pytest.fixture(scope="module")
def bare_output(bare_model, tmp_path_factory):
    """Bare circuit-tracer: attribute and create_graph_files on its own replacement model."""
    return bare_graph_json(bare_model, PROMPT, tmp_path_factory.mktemp("bare"))


def test_stored_graph_equals_create_graph_files(graph_model, api_user, bare_output):
    from features.models import Explanation, Feature

    _, client = api_user()
    response = client.post(
        "/api/graph/generate",
        {"modelId": "gtiny", "prompt": PROMPT, "slug": "fox", "sourceSetName": "tc"},
        format="json",
    )
    assert response.status_code == 200, response.json()
    ours = fetch_graph(client, "gtiny", "fox")
    assert response.json()["numNodes"] == len(ours["nodes"])

    bare_nodes = {canonical_node_id(n): n for n in bare_output["nodes"]}
    our_nodes = {canonical_node_id(n): n for n in ours["nodes"]}
    assert set(our_nodes) == set(bare_nodes)
    assert len(our_nodes) == len(ours["nodes"])  # node ids are unique
    assert len({n["node_id"] for n in ours["nodes"]}) == len(ours["nodes"])
    for key, bare in bare_nodes.items():
        mine = dict(our_nodes[key])
        if bare["feature_type"] == "mlp reconstruction error":
            assert mine["node_id"] == f"{bare['layer']}_-1_{bare['ctx_idx']}"
            mine["node_id"], mine["jsNodeId"] = bare["node_id"], bare["jsNodeId"]
        for field in ("influence", "activation", "token_prob"):
            if bare.get(field) is not None:
                assert mine[field] == pytest.approx(bare[field], abs=1e-5), (key, field)
                mine[field] = bare[field]
        assert mine == bare

    # Links compared in circuit-tracer's id form (ours renamed back): where its ids collide (this
    # prompt has one: error (layer 1, ctx 21) and feature 1 of layer 0 are both "0_1_21") the bare
    # file is ambiguous, ours is not; the multiset of (source, target, weight) is the same.
    def bare_form(node_id: str) -> str:
        layer, index, ctx = node_id.split("_")
        return f"0_{layer}_{ctx}" if index == "-1" else node_id

    def grouped(links, rename=lambda x: x):
        out: dict[tuple, list[float]] = {}
        for link in links:
            out.setdefault((rename(link["source"]), rename(link["target"])), []).append(link["weight"])
        return {key: sorted(weights) for key, weights in out.items()}

    bare_links = grouped(bare_output["links"])
    our_links = grouped(ours["links"], bare_form)
    assert set(our_links) == set(bare_links)
    for key, weights in bare_links.items():
        assert our_links[key] == pytest.approx(weights, abs=1e-5)
    assert len(ours["links"]) == len(bare_output["links"])

    meta, bare_meta = ours["metadata"], bare_output["metadata"]
    for key, value in bare_meta.items():
        assert meta[key] == (value if key != "slug" else "fox"), key
    assert meta["scan"] == "gtiny" and meta["slug"] == "fox"
    assert 0 < meta["replacement_score"] <= 1 and 0 < meta["completeness_score"] <= 1
    assert meta["feature_details"]["neuronpedia_source_set"] == "tc"
    assert meta["pruning_settings"] == {"node_threshold": 0.8, "edge_threshold": 0.85}
    assert meta["generation_settings"]["max_feature_nodes"] == 5000
    assert ours["qParams"] == bare_output["qParams"]

    # Labels: a feature with an explanation gets it as its clerp on the next generation.
    node = next(n for n in ours["nodes"] if n["feature_type"] == "cross layer transcoder")
    layer, index, _ = node["node_id"].split("_")
    source = graph_model["set"].sources.get(layer=int(layer))
    feature = Feature.objects.create(source=source, index=int(index), frac_nonzero=0.25)
    Explanation.objects.create(feature=feature, description="foxes and jumping")
    response = client.post(
        "/api/graph/generate", {"modelId": "gtiny", "prompt": PROMPT, "slug": "fox2"}, format="json"
    )
    assert response.status_code == 200
    labelled = {n["node_id"]: n for n in fetch_graph(client, "gtiny", "fox2")["nodes"]}
    assert labelled[node["node_id"]]["clerp"] == "foxes and jumping"
    assert labelled[node["node_id"]]["density"] == 0.25  # documented addition: the feature's density


def test_error_ids_never_collide_with_feature_ids():
    """circuit-tracer 0.5.0 names error (layer 1, ctx 5) "0_1_5", the id of feature 1 at layer 0."""
    from circuit_tracer.frontend.graph_models import Node

    from inference.graphs.engine import unique_error_ids

    nodes = {0: Node.feature_node(0, 5, 1), 1: Node.error_node(1, 5)}
    assert nodes[0].node_id == nodes[1].node_id == "0_1_5"
    unique_error_ids(nodes)
    assert nodes[0].node_id == "0_1_5"
    assert nodes[1].node_id == "1_-1_5"
