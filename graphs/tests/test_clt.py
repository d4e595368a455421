"""A cross-layer transcoder (CLT) from a local folder as a graph source: built with circuit-tracer's
own ``CrossLayerTranscoder`` and saved with its ``to_safetensors``, registered as a source set of
type ``clt``, loaded through our source → the stored graph equals bare circuit-tracer's
``attribute`` + ``create_graph_files`` on the same CLT (loaded with its own ``load_clt``), and
graph steering on the CLT set (``POST /api/steer-logits`` with ``sourceSetName``) equals a direct
circuit-tracer ``feature_intervention_generate`` on that bare CLT model at the same seed."""

from __future__ import annotations

import json

import pytest

from graphs.tests.conftest import (
    D_MODEL,
    N_LAYERS,
    bare_graph_json,
    bare_replacement_model,
    canonical_node_id,
    fetch_graph,
)

PROMPT = "The quick brown fox jumps over"
D_CLT = 48


@pytest.fixture(scope="module")
def clt_folder(tmp_path_factory):
    from inference.graphs.transcoders import build_tiny_clt

    return build_tiny_clt(
        tmp_path_factory.mktemp("clt") / "clt",
        n_layers=N_LAYERS,
        d_model=D_MODEL,
        d_transcoder=D_CLT,
        scan="gtiny-clt",
        seed=11,
        jumprelu=True,
    )


@pytest.fixture(scope="module")
def bare_clt_model(graph_folders, clt_folder):
    """circuit-tracer alone: ``load_clt`` on the folder under a ``ReplacementModel``."""
    import torch
    import yaml
    from circuit_tracer.transcoder.cross_layer_transcoder import CrossLayerTranscoder, load_clt

    from inference.loading import inference_device

    config = yaml.safe_load((clt_folder / "config.yaml").read_text())
    clt = load_clt(
        str(clt_folder),
        feature_input_hook=config["feature_input_hook"],
        feature_output_hook=config["feature_output_hook"],
        scan=config["scan"],
        device=torch.device(inference_device()),
        dtype=torch.float32,
        lazy_decoder=False,
    )
    assert isinstance(clt, CrossLayerTranscoder) and clt.n_layers == N_LAYERS
    return bare_replacement_model(graph_folders["model"], clt)


@pytest.fixture(scope="module")
def bare_clt_output(bare_clt_model, tmp_path_factory):
    """circuit-tracer alone on the CLT: ``attribute``, ``create_graph_files``."""
    return bare_graph_json(bare_clt_model, PROMPT, tmp_path_factory.mktemp("bare-clt"))


def _bare_form(node_id: str) -> str:
    layer, index, ctx = node_id.split("_")
    return f"0_{layer}_{ctx}" if index == "-1" else node_id


def test_a_clt_from_a_local_folder_generates_the_graph_circuit_tracer_makes(
    graph_model, api_user, clt_folder, bare_clt_output
):
    from graphs.services import transcoder_set_register

    source_set = transcoder_set_register(model_name="gtiny", set_name="clt", folder=clt_folder)
    assert (source_set.type, source_set.allow_graphs) == ("clt", True)
    sources = list(source_set.sources.order_by("layer"))
    assert [s.layer for s in sources] == list(range(N_LAYERS))
    assert {s.d_sae for s in sources} == {D_CLT}
    assert sources[0].hook_name == "blocks.0.hook_resid_mid"

    _, client = api_user()
    response = client.post(
        "/api/graph/generate",
        {"modelId": "gtiny", "prompt": PROMPT, "slug": "clt-fox", "sourceSetName": "clt"},
        format="json",
    )
    assert response.status_code == 200, response.json()
    ours = fetch_graph(client, "gtiny", "clt-fox")
    bare = bare_clt_output

    bare_nodes = {canonical_node_id(n): n for n in bare["nodes"]}
    our_nodes = {canonical_node_id(n): n for n in ours["nodes"]}
    assert len(bare_nodes) > N_LAYERS * 8  # features, errors, tokens and logits
    assert any(n["feature_type"] == "cross layer transcoder" for n in ours["nodes"])
    assert set(our_nodes) == set(bare_nodes)
    assert len({n["node_id"] for n in ours["nodes"]}) == len(ours["nodes"])  # unique ids
    for key, theirs in bare_nodes.items():
        mine = dict(our_nodes[key])
        if theirs["feature_type"] == "mlp reconstruction error":
            mine["node_id"], mine["jsNodeId"] = theirs["node_id"], theirs["jsNodeId"]
        for field in ("influence", "activation", "token_prob"):
            if theirs.get(field) is not None:
                assert mine[field] == pytest.approx(theirs[field], abs=1e-5), (key, field)
                mine[field] = theirs[field]
        mine.pop("density", None)
        assert mine == theirs

    def grouped(links, rename=lambda x: x):
        out: dict[tuple, list[float]] = {}
        for link in links:
            out.setdefault((rename(link["source"]), rename(link["target"])), []).append(link["weight"])
        return {key: sorted(weights) for key, weights in out.items()}

    bare_links, our_links = grouped(bare["links"]), grouped(ours["links"], _bare_form)
    assert set(our_links) == set(bare_links) and len(ours["links"]) == len(bare["links"])
    for key, weights in bare_links.items():
        assert our_links[key] == pytest.approx(weights, abs=1e-5)
    meta = ours["metadata"]
    assert meta["feature_details"]["neuronpedia_source_set"] == "clt"
    assert meta["info"]["transcoder_scan"] == "gtiny-clt"
    assert 0 < meta["replacement_score"] <= 1 and 0 < meta["completeness_score"] <= 1


def test_a_clt_folder_that_does_not_fit_the_model_fails_the_job_with_its_reason(
    graph_model, api_user, tmp_path
):
    """A CLT over 3 layers for a 2-layer model: 400 naming the mismatch, nothing stored."""
    from graphs.models import GraphMetadata
    from graphs.services import transcoder_set_register
    from inference.graphs.transcoders import build_tiny_clt

    folder = build_tiny_clt(
        tmp_path / "clt3", n_layers=N_LAYERS + 1, d_model=D_MODEL, d_transcoder=16, scan="x"
    )
    transcoder_set_register(model_name="gtiny", set_name="clt3", folder=folder)
    _, client = api_user()
    response = client.post(
        "/api/graph/generate",
        {"modelId": "gtiny", "prompt": PROMPT, "sourceSetName": "clt3"},
        format="json",
    )
    assert response.status_code == 400, response.json()
    assert "3 layers" in json.dumps(response.json())
    assert not GraphMetadata.objects.exists()


def test_steering_a_clt_feature_equals_a_direct_circuit_tracer_intervention(
    graph_model, api_user, clt_folder, bare_clt_model
):
    """A layer-0 CLT feature writes to every later layer: ``/api/steer-logits`` on the CLT set sets
    it to (its activation at the active position + delta) and generates exactly what circuit-tracer's
    own ``feature_intervention_generate`` on the bare CLT model generates at the same seed."""
    import torch

    from graphs.services import transcoder_set_register

    transcoder_set_register(model_name="gtiny", set_name="clt", folder=clt_folder)
    position, layer, delta, n_tokens, seed, temperature = 3, 0, 5.0, 4, 7, 0.9
    _, acts = bare_clt_model.get_activations(PROMPT)
    index = int(acts[layer, position].argmax())
    current = float(acts[layer, position, index])
    assert current > 0  # an active CLT feature

    _, client = api_user()
    feature = {"layer": layer, "index": index, "token_active_position": position, "delta": delta}
    body = {
        "modelId": "gtiny",
        "sourceSetName": "clt",
        "prompt": PROMPT,
        "features": [feature],
        "nTokens": n_tokens,
        "topK": 3,
        "temperature": temperature,
        "seed": seed,
    }
    response = client.post("/api/steer-logits", body, format="json")
    assert response.status_code == 200, response.json()
    out = response.json()

    torch.manual_seed(seed)
    tokens, logits, _ = bare_clt_model.feature_intervention_generate(
        PROMPT,
        [(layer, position, index, current + delta)],
        freeze_attention=True,
        max_new_tokens=n_tokens,
        do_sample=True,
        temperature=temperature,
        stop_at_eos=False,
        verbose=False,
        return_type="tokens",
    )
    decode = bare_clt_model.tokenizer.decode
    steered = out["STEERED_LOGITS_BY_TOKEN"]
    assert [step["token"] for step in steered] == [decode([t]) for t in tokens[0, -n_tokens:].tolist()]
    for step, row in zip(steered, torch.softmax(logits, dim=-1), strict=True):
        top = row.topk(3)
        assert [t["token"] for t in step["top_logits"]] == [decode([int(i)]) for i in top.indices]
        assert [t["prob"] for t in step["top_logits"]] == pytest.approx(top.values.tolist(), abs=1e-5)
    # The steering is real: the steered next-token distribution is not the default one.
    first_default = [t["prob"] for t in out["DEFAULT_LOGITS_BY_TOKEN"][0]["top_logits"]]
    first_steered = [t["prob"] for t in steered[0]["top_logits"]]
    assert first_steered != pytest.approx(first_default, abs=1e-4)
    # Feature bounds come from the CLT's width.
    bad = {**feature, "index": D_CLT}
    response = client.post("/api/steer-logits", {**body, "features": [bad]}, format="json")
    assert response.status_code == 400 and "index" in response.json()["error"]
