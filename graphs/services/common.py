"""Shared pieces of the graph services: limits, parameter ranges, slug checks."""

from __future__ import annotations

import re

from django.conf import settings

from graphs.models import GraphMetadata
from models_app.models import Model
from neuronsite.errors import (
    ValidationFailed,
)

SLUG_RE = re.compile(r"^[a-zA-Z0-9_.-]+$")
UPLOAD_SALT = "graphs.upload"
FEATURE_TYPE = "cross layer transcoder"

# Neuronpedia's parameter ranges (REFERENCE §3): name → (min, max, default).
GENERATE_RANGES = {
    "maxNLogits": (5, 15, 10),
    "desiredLogitProb": (0.6, 0.99, 0.95),
    "nodeThreshold": (0.5, 0.95, 0.8),
    "edgeThreshold": (0.65, 0.98, 0.85),
    "maxFeatureNodes": (1500, 10000, 5000),
}


def max_prompt_tokens(model_name: str | None = None) -> int:
    """The prompt token cap (BOS included) for graphs of a model: its entry in
    ``GRAPH_MAX_PROMPT_TOKENS_BY_MODEL`` (``name=N,…``), else ``GRAPH_MAX_PROMPT_TOKENS`` (64,
    Neuronpedia's cap)."""
    by_model = dict(getattr(settings, "GRAPH_MAX_PROMPT_TOKENS_BY_MODEL", {}) or {})
    if model_name and model_name in by_model:
        return int(by_model[model_name])
    return int(getattr(settings, "GRAPH_MAX_PROMPT_TOKENS", 64))


def max_upload_bytes() -> int:
    return int(getattr(settings, "GRAPH_MAX_UPLOAD_BYTES", 100 * 1024 * 1024))


def max_graph_nodes() -> int:
    return int(getattr(settings, "GRAPH_MAX_NODES", 50_000))


def check_slug(value: str, *, field: str) -> str:
    if not isinstance(value, str) or not SLUG_RE.match(value) or len(value) > 200:
        raise ValidationFailed(
            "Invalid scan or slug", extra={"message": f"{field} must match [a-zA-Z0-9_.-]+"}
        )
    return value


def _owner(user):
    return user if user is not None and user.is_authenticated else None


def _check_slug_free(*, model: Model, slug: str, user, generate: bool = False) -> None:
    existing = GraphMetadata.objects.filter(model=model, slug=slug).first()
    if existing is None:
        return
    if generate or existing.owner_id is None or existing.owner_id != getattr(user, "pk", None):
        raise ValidationFailed(
            "Model + Slug/ID Exists",
            extra={"message": f"A graph '{model.name}/{slug}' already exists."},
        )


ERROR_TYPE = "mlp reconstruction error"


def graph_error_ids_unify(data: dict) -> int:
    """Error nodes in circuit-tracer 0.5.0's form ``0_{layer}_{ctx}`` (which can collide with
    feature ``0_{layer}_{ctx}``) get the later upstream form ``{layer}_-1_{ctx}``, as our own
    graphs have; links follow them unless another node shares the old id (then the link is the
    feature's). Files in the later form pass unchanged. In place; returns how many were renamed."""
    nodes = data.get("nodes") or []
    others = {str(n.get("node_id")) for n in nodes if n.get("feature_type") != ERROR_TYPE}
    renamed: dict[str, str] = {}
    count = 0
    for node in nodes:
        if node.get("feature_type") != ERROR_TYPE:
            continue
        layer, ctx = node.get("layer"), node.get("ctx_idx")
        old, new = str(node.get("node_id")), f"{layer}_-1_{ctx}"
        if old != f"0_{layer}_{ctx}" or old == new:
            continue
        node["node_id"] = new
        count += 1
        if str(node.get("jsNodeId", "")).startswith(old + "-"):
            node["jsNodeId"] = new + node["jsNodeId"][len(old) :]
        if old not in others:
            renamed[old] = new
    for link in data.get("links") or []:
        for end in ("source", "target"):
            if str(link.get(end)) in renamed:
                link[end] = renamed[str(link[end])]
    q_params = data.get("qParams")
    if isinstance(q_params, dict) and isinstance(q_params.get("pinnedIds"), list):
        q_params["pinnedIds"] = [renamed.get(str(i), i) for i in q_params["pinnedIds"]]
    return count
