"""circuit-tracer kernels: load a replacement model, generate a graph's JSON.

``generate_graph`` runs circuit-tracer's ``attribute`` → ``prune_graph`` and builds the JSON with
circuit-tracer's own ``create_graph_files`` helpers (``create_nodes``,
``create_used_nodes_and_edges``, ``build_model``), so the output equals ``create_graph_files``
except for these documented additions:

- error nodes get the id ``"{layer}_-1_{ctx}"`` (and jsNodeId ``"{layer}_-1_{ctx}-0"``) instead of
  circuit-tracer 0.5.0's ``"0_{layer}_{ctx}"``, which collides with feature ``0_{layer}_{ctx}``;
  this is applied before edges are built, so no two nodes ever share an id;
- ``metadata`` gains ``info``, ``generation_settings``, ``pruning_settings``,
  ``feature_details``, ``replacement_score`` and ``completeness_score``
  (``circuit_tracer.graph.compute_graph_scores``);
- ``clerp`` labels and ``density`` on feature nodes are filled by the caller (``graphs.services``)
  from our explanations and dashboards, outside the engine thread.

Kernels are handed their resources (the replacement model); ``cached_replacement_model`` keeps
one per (model, transcoder set) and must run on the inference engine's thread.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

ERROR_TYPE = "mlp reconstruction error"
FEATURE_TYPE = "cross layer transcoder"

_MLP_KEY = re.compile(r"^(blocks\.\d+\.mlp)\.")


class GraphEngineError(Exception):
    """A graph cannot be generated or steered for a reason the caller can fix."""


@dataclass(frozen=True)
class TranscoderSpec:
    """Where a transcoder set lives: a local circuit-tracer folder or a hub reference."""

    model_name: str
    set_name: str
    ref: str


def load_replacement_model(model_row: Any, transcoder_ref: str, *, device: str | None = None):
    """A circuit-tracer ``ReplacementModel`` (TransformerLens backend) for a Model row and a
    transcoder set. The model is loaded by ``inference.loading.load_model`` (local folder or TL
    name, no weight processing) and its weights copied into the replacement model."""
    import torch
    from circuit_tracer import ReplacementModel

    from inference.graphs.transcoders import load_transcoder_set, n_layers_of
    from inference.loading import inference_device, load_model

    device = device or inference_device()
    base = load_model(model_row, device=device, dtype="float32")
    transcoders = load_transcoder_set(transcoder_ref, device=device, dtype=torch.float32)
    if n_layers_of(transcoders) != base.cfg.n_layers:
        raise GraphEngineError(
            f"transcoder set has {n_layers_of(transcoders)} layers but the model has {base.cfg.n_layers}"
        )
    model = ReplacementModel.from_config(base.cfg, transcoders, tokenizer=base.tokenizer)
    state = {}
    for key, value in base.state_dict().items():
        key = _MLP_KEY.sub(r"\1.old_mlp.", key)
        if key.startswith("unembed."):
            key = "unembed.old_unembed." + key.removeprefix("unembed.")
        state[key] = value
    result = model.load_state_dict(state, strict=False)
    missing = [k for k in result.missing_keys if not k.startswith("transcoders.")]
    if missing or result.unexpected_keys:
        raise GraphEngineError(
            f"weights do not fit the replacement model: {missing or result.unexpected_keys}"
        )
    model.to(device)
    model.eval()
    return model


_cache: dict[tuple, Any] = {}
_cache_lock = threading.Lock()


def cached_replacement_model(model_row: Any, spec: TranscoderSpec):
    """One replacement model per (model, transcoder set), kept (engine thread only)."""
    from inference.engine import ModelSpec

    key = (ModelSpec.of(model_row), spec)
    with _cache_lock:
        model = _cache.get(key)
        if model is None:
            _cache.clear()  # one at a time: replacement models hold a full copy of the weights
            model = load_replacement_model(model_row, spec.ref)
            _cache[key] = model
        return model


def unique_error_ids(nodes: dict) -> None:
    """Give error nodes ids that cannot collide with feature ids (in place)."""
    for node in nodes.values():
        if node.feature_type == ERROR_TYPE:
            node.node_id = f"{node.layer}_-1_{node.ctx_idx}"
            node.jsNodeId = f"{node.layer}_-1_{node.ctx_idx}-0"


def generate_graph(
    model,
    prompt: str | list[int],
    *,
    slug: str,
    scan: str,
    source_set: str = "",
    max_n_logits: int = 10,
    desired_logit_prob: float = 0.95,
    node_threshold: float = 0.8,
    edge_threshold: float = 0.85,
    max_feature_nodes: int | None = None,
    batch_size: int = 256,
    feature_json_base_url: str = "",
    progress: Callable[[str, float, str], None] | None = None,
) -> dict:
    """Attribute → prune → graph JSON (a dict ready for ``json.dumps``). ``progress(stage,
    fraction, detail)`` hears each phase and attribution batch (``inference.graphs.progress``)."""
    import torch
    from circuit_tracer import attribute
    from circuit_tracer.graph import compute_graph_scores, prune_graph
    from circuit_tracer.utils.create_graph_files import (
        build_model,
        create_nodes,
        create_used_nodes_and_edges,
    )

    from inference.graphs.progress import FEATURES_DONE, attribution_progress

    report = progress or (lambda stage, fraction, detail: None)
    with attribution_progress(model, report, max_feature_nodes=max_feature_nodes):
        graph = attribute(
            prompt,
            model,
            max_n_logits=max_n_logits,
            desired_logit_prob=desired_logit_prob,
            batch_size=batch_size,
            max_feature_nodes=max_feature_nodes,
        )
    report("pruning", FEATURES_DONE, "")
    node_mask, edge_mask, cumulative = (
        t.cpu() for t in prune_graph(graph, node_threshold=node_threshold, edge_threshold=edge_threshold)
    )
    replacement_score, completeness_score = compute_graph_scores(graph)
    graph.to("cpu")
    report("graph files", 0.92, "")
    nodes = create_nodes(graph, node_mask, model.tokenizer, cumulative)
    unique_error_ids(nodes)
    used_nodes, used_edges = create_used_nodes_and_edges(graph, nodes, edge_mask)
    built = build_model(graph, used_nodes, used_edges, slug, scan, node_threshold, model.tokenizer)
    data = built.model_dump()
    meta = data["metadata"]
    meta["info"] = {
        "creator_name": "Neuronsite",
        "generator": {"name": "circuit-tracer", "version": _circuit_tracer_version()},
        "source_set": source_set,
        "prompt_token_ids": [int(t) for t in graph.input_tokens.tolist()],
        "transcoder_scan": str(getattr(model, "scan", "") or ""),
        "device": str(torch.device(model.cfg.device)),
    }
    meta["generation_settings"] = {
        "max_n_logits": max_n_logits,
        "desired_logit_prob": desired_logit_prob,
        "batch_size": batch_size,
        "max_feature_nodes": max_feature_nodes,
    }
    meta["pruning_settings"] = {"node_threshold": node_threshold, "edge_threshold": edge_threshold}
    meta["feature_details"] = {
        "feature_json_base_url": feature_json_base_url,
        "neuronpedia_source_set": source_set,
    }
    meta["replacement_score"] = float(replacement_score)
    meta["completeness_score"] = float(completeness_score)
    report("done", 1.0, f"{len(data['nodes'])} nodes, {len(data['links'])} links")
    return data


@functools.cache
def _circuit_tracer_version() -> str:
    """Read once per process (a metadata lookup scans the environment: ~1-8 ms per graph)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("circuit-tracer")
    except PackageNotFoundError:  # pragma: no cover - installed in every environment we run
        return ""


def count_tokens(model, prompt: str) -> int:
    """Prompt tokens as circuit-tracer counts them (BOS included)."""
    return int(model.ensure_tokenized(prompt).shape[-1])


class PromptTooLong(GraphEngineError):
    def __init__(self, n_tokens: int, cap: int):
        self.n_tokens, self.cap = n_tokens, cap
        super().__init__(f"The prompt has {n_tokens} tokens; the cap for this model is {cap}.")


def render_messages(model, messages: list[dict]) -> str:
    """Chat messages rendered with the model's chat template (generation prompt added)."""
    tokenizer = model.tokenizer
    if not getattr(tokenizer, "chat_template", None):
        raise GraphEngineError("this model has no chat template: send a prompt instead of messages")
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def generate_for(
    model_row: Any,
    spec: TranscoderSpec,
    *,
    prompt: str | None = None,
    messages: list[dict] | None = None,
    max_tokens: int,
    **params,
) -> dict:
    """Engine-thread entry: resolve the replacement model once, check the token cap, generate."""
    import torch

    progress = params.get("progress")
    if progress is not None:
        progress("loading model", 0.0, f"{spec.model_name} + {spec.set_name}")
    model = cached_replacement_model(model_row, spec)
    text = render_messages(model, messages) if messages else prompt
    if messages:
        # The template already holds the BOS token: hand circuit-tracer the ids as rendered.
        ids = model.tokenizer(text, add_special_tokens=False)["input_ids"]
        n_tokens, inputs = len(ids), torch.tensor(ids)
    else:
        n_tokens, inputs = count_tokens(model, text), text
    if n_tokens > max_tokens:
        raise PromptTooLong(n_tokens, max_tokens)
    return generate_graph(model, inputs, **params)
