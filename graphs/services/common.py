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


def max_prompt_tokens() -> int:
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
