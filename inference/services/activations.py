"""Inference reads that compute: activations on custom text, search via inference, top-k by
token, cosine similarity, tokenisation; and the one write here, stored nearest neighbours.

Each function resolves the rows a request names (404 / 400 from ``inference.selectors``), hands
frozen specs to the engine thread (``engine.call_kernel``: the engine loads the model and SAEs once
and passes them to the kernel), and formats Neuronpedia's shapes. Activations are split in two
(``activation_prepare``: database; ``ActivationPlan.compute`` / ``compute_async``: engine) so
the websocket consumer never runs engine work inside ``database_sync_to_async``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import IntegrityError, transaction

from features.models import Feature
from inference import selectors
from inference.engine import ModelSpec, SourceSpec, get_engine, ops
from inference.errors import InferenceDisabled
from inference.models import SavedSearch
from models_app.models import Source


def _feature_summary(feature: Feature | None) -> dict | None:
    if feature is None:
        return None
    top = next(iter(feature.activations.all()), None)
    return {
        "modelId": feature.source.model.name,
        "layer": feature.source.name,
        "index": str(feature.index),
        "maxActApprox": feature.max_act_approx,
        "frac_nonzero": feature.frac_nonzero,
        "explanations": [
            {"id": str(e.pk), "description": e.description, "typeName": e.type.name if e.type_id else None}
            for e in feature.explanations.all()
        ],
        "activations": (
            [
                {
                    "tokens": top.tokens,
                    "values": top.values,
                    "maxValue": top.max_value,
                    "maxValueTokenIndex": top.max_value_token_index,
                }
            ]
            if top
            else []
        ),
    }


@dataclass(frozen=True)
class ActivationPlan:
    """A resolved activation request: what the engine needs, no ORM rows."""

    model_spec: ModelSpec
    source_spec: SourceSpec
    index: int
    texts: tuple[str, ...]
    vector: tuple[float, ...] | None = None
    hook_name: str | None = None

    def _kernel(self):
        kwargs = {"model": self.model_spec, "vector": self.vector, "hook_name": self.hook_name}
        if self.vector is None:
            kwargs["sources"] = [self.source_spec]
        return (ops.feature_activations, self.index, list(self.texts)), kwargs

    def _finish(self, results: list[dict]) -> list[dict]:
        for result in results:
            result.update(
                {"modelId": self.model_spec.name, "layer": self.source_spec.name, "index": str(self.index)}
            )
        return results

    def compute(self) -> list[dict]:
        """Blocking (views, commands)."""
        args, kwargs = self._kernel()
        return self._finish(get_engine().call_kernel(*args, **kwargs))

    async def compute_async(self) -> list[dict]:
        """From async code (consumers): awaits the engine thread, holds no sync thread."""
        args, kwargs = self._kernel()
        return self._finish(await get_engine().run_kernel(*args, **kwargs))


def activation_prepare(
    *, user, model_id: str, source_name: str, index, texts: Sequence[str]
) -> ActivationPlan:
    """Database half of an activation request: resolve and check feature ``model/source/index``
    (an SAE latent or a stored user vector)."""
    model = selectors.model_for_inference(name=model_id, user=user)
    source = selectors.source_for_inference(model=model, name=source_name, user=user)
    feature = selectors.feature_for_inference(source=source, index=index)
    index = int(index)
    vector = hook_name = None
    if feature is not None and feature.has_vector and feature.vector:
        vector, hook_name = tuple(feature.vector), feature.hook_name or source.hook_name
    else:
        selectors.require_sae_weights(source)
    return ActivationPlan(
        model_spec=ModelSpec.of(model),
        source_spec=SourceSpec.of(source),
        index=index,
        texts=tuple(texts),
        vector=vector,
        hook_name=hook_name,
    )


def activation_new(*, user, model_id: str, source_name: str, index, texts: Sequence[str]) -> list[dict]:
    """Activations of feature ``model/source/index`` on each text; nothing stored."""
    plan = activation_prepare(user=user, model_id=model_id, source_name=source_name, index=index, texts=texts)
    return plan.compute()


def _search_key(**parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def search_all(
    *,
    user,
    model_id: str,
    source_set_name: str,
    text: str,
    selected_sources: Sequence[str] = (),
    sort_indexes: Sequence[int] = (),
    ignore_bos: bool = True,
    density_threshold: float | None = None,
    num_results: int = 50,
) -> dict:
    """Top features across the selected sources of a source set for ``text``, joined with their
    stored features. Cached in SavedSearch (shareable by its id)."""
    model = selectors.model_for_inference(name=model_id, user=user)
    source_set = selectors.source_set_for_inference(model=model, name=source_set_name, user=user)
    if not source_set.allow_inference_search:
        # states of the data, not faults of the request: 409, as for a model with inference off
        raise InferenceDisabled(
            f"Search via inference is not enabled for source set '{source_set.name}'.", field="sourceSet"
        )
    sources = selectors.sources_of_set(source_set=source_set, user=user, names=selected_sources)
    if not sources:
        raise InferenceDisabled(
            f"Source set '{source_set.name}' has no sources with inference enabled and SAE weights.",
            field="sourceSet",
        )
    key = _search_key(
        model=model.name,
        source_set=source_set.name,
        sources=[s.name for s in sources],
        text=text,
        sort=list(sort_indexes),
        ignore_bos=ignore_bos,
        density=density_threshold,
        n=num_results,
    )
    cached = SavedSearch.objects.filter(cache_key=key).first()
    if cached is not None:
        return {**cached.result, "id": cached.share_id, "cached": True}
    exclude = (
        selectors.dense_indexes(sources=sources, threshold=density_threshold)
        if density_threshold is not None
        else None
    )
    raw = get_engine().call_kernel(
        ops.search_all,
        text,
        model=ModelSpec.of(model),
        sources=[SourceSpec.of(s) for s in sources],
        sort_indexes=list(sort_indexes),
        ignore_bos=ignore_bos,
        num_results=num_results,
        exclude=exclude,
    )
    by_name = {s.name: s for s in sources}
    wanted: dict[int, list[int]] = {}
    for r in raw["result"]:
        wanted.setdefault(by_name[r["source"]].pk, []).append(r["index"])
    stored = selectors.features_for_results(source_indexes=wanted, user=user)
    for r in raw["result"]:
        r["modelId"] = model.name
        r["neuron"] = _feature_summary(stored.get((by_name[r["source"]].pk, r["index"])))
    result = {
        "modelId": model.name,
        "sourceSet": source_set.name,
        "selectedSources": [s.name for s in sources],
        "sortIndexes": list(sort_indexes),
        "ignoreBos": ignore_bos,
        "densityThreshold": density_threshold,
        "numResults": num_results,
        "tokens": raw["tokens"],
        "result": raw["result"],
        "counts": raw["counts"],
    }
    saved = saved_search_create(
        user=user,
        model=model,
        source_set=source_set,
        key=key,
        text=text,
        sources=[s.name for s in sources],
        sort_indexes=list(sort_indexes),
        ignore_bos=ignore_bos,
        density_threshold=density_threshold,
        num_results=num_results,
        result=result,
    )
    return {**result, "id": saved.share_id, "cached": False}


def saved_search_create(
    *,
    user,
    model,
    source_set,
    key,
    text,
    sources,
    sort_indexes,
    ignore_bos,
    density_threshold,
    num_results,
    result,
) -> SavedSearch:
    try:
        with transaction.atomic():
            return SavedSearch.objects.create(
                model=model,
                source_set=source_set,
                cache_key=key,
                text=text,
                selected_sources=sources,
                sort_indexes=sort_indexes,
                ignore_bos=ignore_bos,
                density_threshold=density_threshold,
                num_results=num_results,
                result=result,
                creator=user if getattr(user, "is_authenticated", False) else None,
            )
    except IntegrityError:  # the same search finished first elsewhere
        return SavedSearch.objects.get(cache_key=key)
    finally:
        if not getattr(user, "is_authenticated", False):
            saved_searches_prune_anonymous()


def saved_searches_prune_anonymous() -> int:
    """Anonymous searches do not grow the database without bound: keep the newest
    ``settings.SAVED_SEARCH_MAX_ANONYMOUS`` (older share links of anonymous searches expire)."""
    from django.conf import settings

    keep = max(0, settings.SAVED_SEARCH_MAX_ANONYMOUS)
    anonymous = SavedSearch.objects.filter(creator__isnull=True)
    boundary = anonymous.order_by("-id").values_list("id", flat=True)[keep : keep + 1]
    if not boundary:
        return 0
    deleted, _ = anonymous.filter(id__lte=boundary[0]).delete()
    return deleted


def search_topk_by_token(
    *,
    user,
    model_id: str,
    source_name: str,
    text: str,
    num_results: int = 5,
    ignore_bos: bool = True,
    density_threshold: float | None = None,
) -> dict:
    model = selectors.model_for_inference(name=model_id, user=user)
    source = selectors.source_for_inference(model=model, name=source_name, user=user)
    selectors.require_sae_weights(source)
    exclude = (
        selectors.dense_indexes(sources=[source], threshold=density_threshold).get(source.name, [])
        if density_threshold is not None
        else []
    )
    raw = get_engine().call_kernel(
        ops.topk_by_token,
        text,
        model=ModelSpec.of(model),
        sources=[SourceSpec.of(source)],
        k=num_results,
        ignore_bos=ignore_bos,
        exclude=exclude,
    )
    wanted = {source.pk: {f["featureIndex"] for r in raw["results"] for f in r["topFeatures"]}}
    stored = selectors.features_for_results(source_indexes=wanted, user=user)
    for r in raw["results"]:
        for f in r["topFeatures"]:
            f["feature"] = _feature_summary(stored.get((source.pk, f["featureIndex"])))
    return {"modelId": model.name, "source": source.name, **raw}


def cossim(
    *,
    user,
    model_id: str,
    source_name: str,
    index,
    target_source_name: str | None = None,
    num_results: int = 10,
) -> dict:
    model = selectors.model_for_inference(name=model_id, user=user)
    source = selectors.source_for_inference(model=model, name=source_name, user=user)
    selectors.require_sae_weights(source)
    selectors.feature_for_inference(source=source, index=index)
    target = (
        selectors.source_for_inference(model=model, name=target_source_name, user=user)
        if target_source_name
        else None
    )
    if target is not None:
        selectors.require_sae_weights(target)
    source_spec = SourceSpec.of(source)
    target_spec = SourceSpec.of(target) if target else None
    results = get_engine().call_kernel(
        ops.cossim,
        source_spec,
        int(index),
        sources=[source_spec, *([target_spec] if target_spec else [])],
        target_spec=target_spec,
        k=num_results,
    )
    for r in results:
        r["modelId"] = model.name
    return {"modelId": model.name, "source": source.name, "index": str(int(index)), "results": results}


def tokenize(*, user, model_id: str, text: str, prepend_bos: bool = True) -> dict:
    model = selectors.model_for_inference(name=model_id, user=user)
    return {
        "modelId": model.name,
        **get_engine().call_kernel(ops.tokenize, text, model=ModelSpec.of(model), prepend_bos=prepend_bos),
    }


@transaction.atomic
def source_neighbours_compute(*, source: Source, k: int = 10) -> int:
    """Store each stored feature's ``k`` nearest latents by decoder cosine similarity
    (``topk_cos_sim_indices/values``). Returns the number of features updated."""
    selectors.require_sae_weights(source)
    indices, values = get_engine().call_kernel(ops.neighbours_all, sources=[SourceSpec.of(source)], k=k)
    features = list(Feature.objects.filter(source=source).only("id", "index"))
    for f in features:
        if f.index < len(indices):
            f.topk_cos_sim_indices = indices[f.index]
            f.topk_cos_sim_values = values[f.index]
    Feature.objects.bulk_update(features, ["topk_cos_sim_indices", "topk_cos_sim_values"], batch_size=2000)
    return len(features)
