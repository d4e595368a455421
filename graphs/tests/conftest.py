"""A tiny real model with per-layer transcoders in circuit-tracer's folder format, built once per
test session; ``graph_model`` registers them (Model + transcoder source set)."""

from __future__ import annotations

import pytest

D_MODEL = 32
D_TRANSCODER = 64
N_LAYERS = 2


@pytest.fixture(autouse=True)
def graph_media(settings, tmp_path):
    """Graph files go to a per-test folder."""
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture(scope="session")
def graph_folders(tmp_path_factory):
    from inference.graphs.transcoders import build_tiny_transcoders
    from inference.testing import build_tiny_model

    root = tmp_path_factory.mktemp("graphs")
    model = build_tiny_model(root / "gmodel", n_layers=N_LAYERS, d_model=D_MODEL, seed=0)
    transcoders = build_tiny_transcoders(
        root / "tc", n_layers=N_LAYERS, d_model=D_MODEL, d_transcoder=D_TRANSCODER, scan="gtiny-tc", seed=5
    )
    return {"model": model, "transcoders": transcoders}


def bare_replacement_model(model_folder, transcoders):
    """Bare circuit-tracer (no Neuronsite code): ``ReplacementModel.from_config`` over loaded
    transcoders (a ``TranscoderSet`` or a ``CrossLayerTranscoder``) with the model folder's
    weights."""
    import json

    import torch
    from circuit_tracer import ReplacementModel
    from safetensors.torch import load_file
    from transformer_lens import HookedTransformerConfig
    from transformers import AutoTokenizer

    from inference.loading import inference_device

    device = inference_device()  # the engine's device, so both sides compute alike
    folder = model_folder
    raw = json.loads((folder / "config.json").read_text())
    raw.update(dtype=torch.float32, device=device, tokenizer_name=str(folder))
    cfg = HookedTransformerConfig.from_dict(raw)
    model = ReplacementModel.from_config(
        cfg, transcoders, tokenizer=AutoTokenizer.from_pretrained(str(folder))
    )
    state = {}
    for key, value in load_file(str(folder / "model.safetensors")).items():
        parts = key.split(".")
        if len(parts) > 2 and parts[2] == "mlp":
            key = ".".join(parts[:3] + ["old_mlp"] + parts[3:])
        elif parts[0] == "unembed":
            key = "unembed.old_unembed." + ".".join(parts[1:])
        state[key] = value
    model.load_state_dict(state, strict=False)
    model.to(device)
    return model


@pytest.fixture(scope="session")
def bare_model(graph_folders):
    """Bare circuit-tracer: its own transcoder loader over the set's folder."""
    import torch
    import yaml
    from circuit_tracer.utils.hf_utils import load_transcoders

    from inference.loading import inference_device

    tc_folder = graph_folders["transcoders"]
    config = yaml.safe_load((tc_folder / "config.yaml").read_text())
    config["transcoders"] = [str(tc_folder / p) for p in config["transcoders"]]
    transcoders = load_transcoders(
        config, torch.device(inference_device()), torch.float32, lazy_decoder=False
    )
    return bare_replacement_model(graph_folders["model"], transcoders)


@pytest.fixture
def graph_model(db, graph_folders):
    """Model ``gtiny`` (instruct, with a chat template) and transcoder set ``tc`` (type transcoder,
    graphs allowed) plus an SAE-style set ``res`` without transcoders."""
    from django.db import connection

    from graphs.services import transcoder_set_register
    from inference.testing import register_tiny
    from models_app.models import SourceSet

    # A worker killed by an earlier test (another app's) may look alive for JOBS_STALLED_SECONDS;
    # the API would then wait for it instead of running inline. Tests that want a worker start one.
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM procrastinate_workers")

    model, _, _ = register_tiny(model_name="gtiny", model_folder=graph_folders["model"], instruct=True)
    source_set = transcoder_set_register(
        model_name="gtiny", set_name="tc", folder=graph_folders["transcoders"]
    )
    SourceSet.objects.create(model=model, name="res", type="sae")
    return {"model": model, "set": source_set}


@pytest.fixture
def api_user(make_user):
    from rest_framework.test import APIClient

    def make(**kw):
        user = make_user(**kw)
        client = APIClient()
        client.force_authenticate(user)
        return user, client

    return make


def fetch_graph(client, model: str, slug: str) -> dict:
    """The stored graph JSON as served (gzip-encoded bytes inflated)."""
    import gzip
    import json

    response = client.get(f"/api/graph/{model}/{slug}/json")
    assert response.status_code == 200, response
    assert response["Content-Encoding"] == "gzip"
    return json.loads(gzip.decompress(b"".join(response.streaming_content)))


def bare_graph_json(model, prompt: str, out) -> dict:
    """Bare circuit-tracer on ``model`` (a ReplacementModel): ``attribute`` then
    ``create_graph_files`` into ``out``, with the thresholds the fidelity tests store with."""
    import json

    from circuit_tracer import attribute
    from circuit_tracer.utils.create_graph_files import create_graph_files

    graph = attribute(
        prompt, model, max_n_logits=10, desired_logit_prob=0.95, batch_size=256, max_feature_nodes=5000
    )
    create_graph_files(graph, "bare", str(out), scan="gtiny", node_threshold=0.8, edge_threshold=0.85)
    return json.loads((out / "bare.json").read_text())


def canonical_node_id(node: dict) -> str:
    """Both error-id forms (0.5.0's ``0_{layer}_{ctx}`` and ``{layer}_-1_{ctx}``) → one key."""
    if node["feature_type"] == "mlp reconstruction error":
        return f"err:{node['layer']}:{node['ctx_idx']}"
    return node["node_id"]
