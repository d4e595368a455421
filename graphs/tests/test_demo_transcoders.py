"""The demo's graphs part on the tiny model: transcoders trained per layer, registered with
dashboards, a graph generated on them, and every feature node opens a real feature (its
dashboard activations equal the transcoder's)."""

from __future__ import annotations

import pytest


def test_demo_transcoders_give_graph_nodes_real_feature_pages(graph_model, graph_folders, api_user, tmp_path):
    import torch

    from features.models import Feature
    from inference.demo.transcoders import SET_NAME, demo_transcoders_seed
    from inference.loading import load_model, load_sae

    logs: list[str] = []
    source_set = demo_transcoders_seed(
        model_name="gtiny", model_dir=graph_folders["model"], folder=tmp_path / "tc-demo",
        d_transcoder=64, steps=40, n_prompts=48, ctx_len=24, train_prompts=96, log=logs.append,
    )  # fmt: skip
    assert source_set.name == SET_NAME and source_set.allow_graphs and source_set.type == "transcoder"
    assert any("trained 40 steps" in line for line in logs)

    _, client = api_user()
    prompt = "def __init__(self):"
    response = client.post(
        "/api/graph/generate",
        {"modelId": "gtiny", "prompt": prompt, "sourceSetName": SET_NAME, "slug": "demo"},
        format="json",
    )
    assert response.status_code == 200, response.json()
    from graphs.tests.conftest import fetch_graph

    nodes = [
        n
        for n in fetch_graph(client, "gtiny", "demo")["nodes"]
        if n["feature_type"] == "cross layer transcoder"
    ]
    assert nodes
    with_pages = 0
    for node in nodes:
        layer, index, _ = node["node_id"].split("_")
        page = client.get(f"/api/feature/gtiny/{layer}-{SET_NAME}/{index}")
        assert page.status_code == 200, node["node_id"]
        with_pages += bool(page.json().get("activations"))
    assert with_pages > 0
    assert Feature.objects.filter(source__source_set=source_set).count() == 2 * 64

    # The dashboards' SAE copy encodes exactly like the transcoder at that node.
    node = nodes[0]
    layer, index, ctx = (int(p) for p in node["node_id"].split("_"))
    source = source_set.sources.get(layer=layer)
    model = load_model(graph_model["model"], device="cpu")
    sae = load_sae(source, device="cpu")
    with torch.inference_mode():
        _, cache = model.run_with_cache(prompt, names_filter=source.hook_name)
        value = float(sae.encode(cache[source.hook_name][0, ctx])[index])
    assert value == pytest.approx(node["activation"], abs=1e-4)
