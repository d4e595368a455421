"""The AI linter (issue 15, item 3): group the active concepts of a conversation by what their
explanations mean, and name each group.

Transluce Monitor's rule (REFERENCE §4): embed the descriptions, hierarchical clustering with
``scipy.cluster.hierarchy.linkage(method="average", metric="cosine")`` cut by
``fcluster(t=0.6, criterion="distance")``, drop clusters under 3 members, ask an LLM for a 2–5 word
name and a 1–4 coherence score, sort by size.

Embeddings are the stored ``Explanation.embedding`` of the current embedder (autointerp's
semantic search index); explanations without one are embedded on the fly (not stored here: the
autointerp app owns that column and backfills it with ``manage.py embed_explanations``).

Naming uses the OpenAI-compatible endpoint of the autointerp settings (the user's own key first,
then the server's). With no LLM configured the linter still works offline: each cluster is named by
the explanation closest to its centre (cosine), with no score. When an LLM is configured and fails
(or answers something unparseable), the whole request fails with one clear error (502): no cluster
list with some names missing is ever returned.
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass, field

from django.db.models import Avg

from features.models import Explanation, Feature
from models_app.models import Model, Source, SourceSet
from neuronsite.errors import NotFound, UpstreamError, ValidationFailed

LINKAGE_METHOD = "average"
LINKAGE_METRIC = "cosine"
DISTANCE_CUT = 0.6
MIN_CLUSTER_SIZE = 3
MAX_CONCEPTS = 2000
NAMING_MAX_TOKENS = 200


@dataclass
class Unit:
    """One active feature with the explanation that stands for it."""

    source: str
    index: int
    layer: int
    explanation_id: int
    explanation: str
    positions: list[int] = field(default_factory=list)
    embedding: list[float] | None = None
    stored: tuple = (None, "")  # (stored embedding, the embedder that wrote it)

    def as_json(self) -> dict:
        return {
            "source": self.source,
            "index": self.index,
            "layer": self.layer,
            "explanationId": self.explanation_id,
            "explanation": self.explanation,
            "positions": self.positions,
        }


# ---- clustering (pure) --------------------------------------------------------------------------


def cluster_labels(vectors, *, t: float = DISTANCE_CUT) -> list[int]:
    """Flat cluster label per vector: Monitor's average-linkage cosine clustering cut at ``t``.
    Fewer than two vectors form one cluster each (linkage needs two)."""
    import numpy as np
    from scipy.cluster.hierarchy import fcluster, linkage

    x = np.asarray(vectors, dtype=np.float64)
    if len(x) == 0:
        return []
    if len(x) == 1:
        return [1]
    tree = linkage(x, method=LINKAGE_METHOD, metric=LINKAGE_METRIC)
    return [int(label) for label in fcluster(tree, t=t, criterion="distance")]


def clusters_of(vectors, *, t: float = DISTANCE_CUT, min_size: int = MIN_CLUSTER_SIZE) -> list[list[int]]:
    """Member indices of each kept cluster (at least ``min_size``), largest first, ties by first
    member."""
    groups: dict[int, list[int]] = {}
    for i, label in enumerate(cluster_labels(vectors, t=t)):
        groups.setdefault(label, []).append(i)
    kept = [members for members in groups.values() if len(members) >= min_size]
    return sorted(kept, key=lambda m: (-len(m), m[0]))


def centre_member(vectors, members: list[int]) -> int:
    """The member whose vector is nearest (cosine) to the mean of the members' unit vectors."""
    import numpy as np

    x = np.asarray([vectors[i] for i in members], dtype=np.float64)
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    centre = x.mean(axis=0)
    centre = centre / max(float(np.linalg.norm(centre)), 1e-12)
    return members[int(np.argmax(x @ centre))]


# ---- naming --------------------------------------------------------------------------------------

NAMING_SYSTEM = (
    "You review groups of features of a language model. Each feature has a short description of "
    "what it detects. Give the group a name of 2 to 5 words and rate how similar the descriptions "
    "are on a scale of 1 to 4 (1: unrelated, 2: loosely related, 3: related, 4: nearly the same "
    'concept). Answer with JSON only: {"name": "...", "score": N}.'
)


def naming_prompt(descriptions: list[str]) -> list[dict]:
    listing = "\n".join(f"- {d}" for d in descriptions)
    return [
        {"role": "system", "content": NAMING_SYSTEM},
        {"role": "user", "content": f"Feature descriptions:\n{listing}"},
    ]


def parse_naming(answer: str) -> tuple[str, int]:
    """``(name, score)`` from the LLM's answer; ``UpstreamError`` when it is not usable."""
    match = re.search(r"\{.*\}", answer or "", flags=re.S)
    try:
        body = json.loads(match.group(0)) if match else None
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise UpstreamError(f"The LLM's cluster name was not the JSON asked for: {answer[:200]!r}")
    name = body.get("name")
    score = body.get("score")
    if not isinstance(name, str) or not name.strip():
        raise UpstreamError(f"The LLM's answer has no cluster name: {answer[:200]!r}")
    if isinstance(score, str) and score.strip().isdigit():
        score = int(score.strip())
    if isinstance(score, bool) or not isinstance(score, (int, float)) or not 1 <= score <= 4:
        raise UpstreamError(f"The LLM's coherence score must be a number from 1 to 4: {answer[:200]!r}")
    return " ".join(name.split())[:100], int(round(score))


def name_clusters_llm(endpoint, groups: list[list[str]]) -> list[tuple[str, int]]:
    """One chat call per cluster, concurrently; any failure fails them all."""
    from autointerp.llm import LLMClient

    async def run():
        async with LLMClient(endpoint) as client:
            answers = await asyncio.gather(
                *(client.chat(naming_prompt(g), max_tokens=NAMING_MAX_TOKENS) for g in groups)
            )
        return [parse_naming(a.text) for a in answers]

    return asyncio.run(run()) if groups else []


def _naming_endpoint(user):
    """The LLM endpoint (user's key, else the server's), or None when none is configured."""
    from autointerp.keys import endpoint_for, user_llm_key_get
    from autointerp.llm import server_endpoint

    if user_llm_key_get(user=user) is None and server_endpoint() is None:
        return None
    return endpoint_for(user=user, model=None)


# ---- inputs --------------------------------------------------------------------------------------


def _check_concepts(concepts) -> list[dict]:
    if not isinstance(concepts, list) or not concepts:
        raise ValidationFailed("must be a non-empty list of {source, index}", field="concepts")
    if len(concepts) > MAX_CONCEPTS:
        raise ValidationFailed(f"at most {MAX_CONCEPTS} concepts per request", field="concepts")
    return concepts


def linter_units(*, user, model_id: str, concepts: list[dict]) -> tuple[list[Unit], list[dict]]:
    """Resolve ``[{source, index, position?, positions?, explanationId?}]`` to one Unit per feature
    (positions merged), each with its explanation (the one given, else the best scored, newest).
    Returns ``(units, skipped)``: features without a visible explanation are skipped."""
    concepts = _check_concepts(concepts)
    model = Model.objects.visible_to(user).filter(name=model_id).first()
    if model is None:
        raise NotFound(f"Model '{model_id}' not found.")
    wanted: dict[tuple[str, int], dict] = {}
    for i, c in enumerate(concepts):
        if not isinstance(c, dict):
            raise ValidationFailed(f"concepts[{i}] must be an object {{source, index}}", field="concepts")
        source, index = c.get("source"), c.get("index")
        if not isinstance(source, str) or not source:
            raise ValidationFailed(f"concepts[{i}].source must be a source id", field="concepts")
        if isinstance(index, bool) or not isinstance(index, int) or index < 0:
            raise ValidationFailed(f"concepts[{i}].index must be a non-negative integer", field="concepts")
        positions = list(c.get("positions") or [])
        if c.get("position") is not None:
            positions.append(c["position"])
        if any(isinstance(p, bool) or not isinstance(p, int) or p < 0 for p in positions):
            raise ValidationFailed(f"concepts[{i}] positions must be non-negative integers", field="concepts")
        entry = wanted.setdefault((source, index), {"positions": set(), "explanation_id": None})
        entry["positions"].update(positions)
        if isinstance(c.get("explanationId"), int) and not isinstance(c.get("explanationId"), bool):
            entry["explanation_id"] = c["explanationId"]
    names = {s for s, _ in wanted}
    sources = {
        s.name: s
        for s in Source.objects.visible_to(user).filter(
            model=model, name__in=names, source_set__in=SourceSet.objects.visible_to(user)
        )
    }
    unknown = sorted(names - set(sources))
    if unknown:
        # 404 like the conversation's sources (``watchable_sources``): a name that is not there
        raise NotFound(f"unknown sources for model '{model_id}': {', '.join(unknown)}", field="concepts")
    features = {
        (f.source.name, f.index): f
        for f in Feature.objects.filter(
            source__in=sources.values(), index__in={i for _, i in wanted}
        ).select_related("source")
        if (f.source.name, f.index) in wanted
    }
    explanations = (
        Explanation.objects.exclude(status=Explanation.Status.HIDDEN)
        .filter(feature__in=features.values())
        .annotate(avg_score=Avg("scores__value"))
        .order_by("feature_id", "-avg_score", "-created_at", "-id")
        .only("id", "feature_id", "description", "embedding", "embedding_model")
    )
    by_feature: dict[int, list[Explanation]] = {}
    for e in explanations:
        by_feature.setdefault(e.feature_id, []).append(e)
    units, skipped = [], []
    for (source, index), entry in wanted.items():
        feature = features.get((source, index))
        candidates = by_feature.get(feature.pk, []) if feature is not None else []
        chosen = next((e for e in candidates if e.pk == entry["explanation_id"]), None)
        chosen = chosen or (candidates[0] if candidates else None)
        if chosen is None:
            skipped.append({"source": source, "index": index, "reason": "no explanation"})
            continue
        unit = Unit(
            source=source,
            index=index,
            layer=sources[source].layer,
            explanation_id=chosen.pk,
            explanation=chosen.description,
            positions=sorted(entry["positions"]),
            stored=(chosen.embedding, chosen.embedding_model),
        )
        units.append(unit)
    return units, skipped


def linter_embed(units: list[Unit]) -> None:
    """Set each unit's embedding: the stored one of the current embedder, else embed the text."""
    from autointerp.engines.embeddings import get_embedder

    embedder = get_embedder()
    missing = []
    for unit in units:
        vector, model_name = unit.stored
        if vector is not None and model_name == embedder.name:
            unit.embedding = [float(x) for x in vector]
        else:
            unit.embedding = None
            missing.append(unit)
    if missing:
        vectors = embedder.encode([u.explanation for u in missing])
        for unit, vector in zip(missing, vectors, strict=True):
            unit.embedding = list(vector)


# ---- the service --------------------------------------------------------------------------------


def linter_run(*, user, model_id: str, concepts: list[dict], min_score: int = 1) -> dict:
    """Clusters of the given active concepts: ``{clusters: [{name, score, naming, size, features,
    positions}], skipped, naming}``. ``score`` is null when named offline; clusters scored under
    ``min_score`` by the LLM are left out."""
    units, skipped = linter_units(user=user, model_id=model_id, concepts=concepts)
    if len(units) >= MIN_CLUSTER_SIZE:
        linter_embed(units)
        vectors = [u.embedding for u in units]
        groups = clusters_of(vectors)
    else:
        vectors, groups = [], []
    endpoint = _naming_endpoint(user)
    if endpoint is not None:
        names = name_clusters_llm(endpoint, [[units[i].explanation for i in g] for g in groups])
        naming = "llm"
    else:
        names = [(units[centre_member(vectors, g)].explanation, None) for g in groups]
        naming = "centre"
    clusters = []
    for members, (name, score) in zip(groups, names, strict=True):
        if score is not None and score < min_score:
            continue
        positions = sorted({p for i in members for p in units[i].positions})
        clusters.append(
            {
                "name": name,
                "score": score,
                "naming": naming,
                "size": len(members),
                "features": [units[i].as_json() for i in members],
                "positions": positions,
            }
        )
    return {
        "clusters": clusters,
        "naming": naming,
        "model": endpoint.model if endpoint is not None else None,
        "concepts": len(units),
        "skipped": skipped,
    }
