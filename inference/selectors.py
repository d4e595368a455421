"""Reads for inference requests: the rows a request names, checked for visibility and for
inference being enabled, and the stored features that results are joined with."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import F, Prefetch, Q, Window
from django.db.models.functions import RowNumber

from features.models import Activation, Feature
from features.selectors import explanations_for_display, parse_index
from inference.errors import InferenceDisabled, InferenceInputError, InferenceNotFound
from inference.models import SavedSearch, SteerOutput
from models_app.models import Model, Source, SourceSet


def model_for_inference(*, name: str, user) -> Model:
    model = Model.objects.visible_to(user).filter(name=name).first()
    if model is None:
        raise InferenceNotFound(f"Model '{name}' not found.")
    if not model.inference_enabled:
        raise InferenceDisabled(f"Inference is disabled for model '{name}'.", field="modelId")
    return model


def source_for_inference(*, model: Model, name: str, user) -> Source:
    source = (
        Source.objects.visible_to(user)
        .select_related("model", "source_set")
        .filter(model=model, name=name, source_set__in=SourceSet.objects.visible_to(user))
        .first()
    )
    if source is None:
        raise InferenceNotFound(f"Source '{model.name}/{name}' not found.")
    if not source.inference_enabled:
        raise InferenceDisabled(f"Inference is disabled for source '{model.name}/{name}'.", field="source")
    return source


def token_limit(*, model: Model) -> int:
    """The longest text (in tokens, BOS included) inference accepts for ``model``:
    ``min(INFERENCE_TOKEN_LIMIT, the model's context)``, the same rule the engine enforces, for pages
    and JSON to show before sending. Does not load torch: the context comes from a local model
    folder's ``config.json``, or from the engine when it holds the model; else the setting alone."""
    from django.conf import settings

    from inference.engine import ModelSpec, get_engine

    limit = settings.INFERENCE_TOKEN_LIMIT
    n_ctx = model.local_context_length()
    if n_ctx is None:
        n_ctx = get_engine().loaded_context(ModelSpec.of(model))
    return min(limit, int(n_ctx)) if isinstance(n_ctx, int) and n_ctx > 0 else limit


def has_sae_weights(source: Source) -> bool:
    """Whether the source names SAE weights to load (a local folder or a sae_lens release + id);
    vector sources (``{layer}-neuronpedia-resid-*``) hold steering vectors only."""
    return bool(source.local_path or (source.sae_release and source.sae_id))


def require_sae_weights(source: Source) -> None:
    if not has_sae_weights(source):
        raise InferenceDisabled(  # a state of the source (409), as for inference switched off
            f"Source '{source.model.name}/{source.name}' has no SAE weights to run (it holds "
            "steering vectors only); choose an SAE source.",
            field="source",
        )


def source_set_for_inference(*, model: Model, name: str, user) -> SourceSet:
    source_set = SourceSet.objects.visible_to(user).filter(model=model, name=name).first()
    if source_set is None:
        raise InferenceNotFound(f"Source set '{model.name}/{name}' not found.")
    return source_set


def sources_of_set(*, source_set: SourceSet, user, names: Iterable[str] = ()) -> list[Source]:
    """Inference-enabled sources of ``source_set`` (all, or those named), by layer; 404 for a
    named source that is not there."""
    qs = (
        Source.objects.visible_to(user)
        .select_related("model")
        .filter(source_set=source_set, inference_enabled=True)
        .order_by("layer", "name")
    )
    names = list(names)
    if names:
        found = {s.name: s for s in qs.filter(name__in=names)}
        missing = [n for n in names if n not in found]
        if missing:
            raise InferenceNotFound(f"Source(s) {', '.join(missing)} not found in set '{source_set.name}'.")
        chosen = [found[n] for n in names]
        for source in chosen:
            require_sae_weights(source)
        return chosen
    return [s for s in qs if has_sae_weights(s)]


def feature_for_inference(*, source: Source, index) -> Feature | None:
    """The stored feature, or None for a latent with no row (allowed while ``index < d_sae``);
    404 for an index the source does not have."""
    if isinstance(index, str) and not index.isascii():  # "²".isdigit() is True, int("²") fails
        raise InferenceInputError(f"index must be a non-negative integer, got {index!r}.")
    index = parse_index(index)
    feature = Feature.objects.filter(source=source, index=index).first()
    if feature is None and (source.d_sae is None or index >= source.d_sae):
        raise InferenceNotFound(f"Feature '{source.model.name}/{source.name}/{index}' not found.")
    return feature


def dense_indexes(*, sources: Iterable[Source], threshold: float) -> dict[str, list[int]]:
    """Per source name, the indexes whose stored density exceeds ``threshold``."""
    sources = list(sources)
    names = {s.pk: s.name for s in sources}
    out: dict[str, list[int]] = {}
    rows = Feature.objects.filter(source__in=sources, frac_nonzero__gt=threshold).values_list(
        "source_id", "index"
    )
    for source_id, index in rows:
        out.setdefault(names[source_id], []).append(index)
    return out


def features_for_results(*, source_indexes: dict[int, Iterable[int]], user) -> dict[tuple[int, int], Feature]:
    """Stored features for ``{source_id: [index]}`` with their top activation and explanations,
    in a constant number of queries; keyed by (source_id, index)."""
    cond = Q(pk__in=[])
    for source_id, indexes in source_indexes.items():
        cond |= Q(source_id=source_id, index__in=list(indexes))
    top_activation = (
        Activation.objects.annotate(
            _rank=Window(
                RowNumber(), partition_by=[F("feature_id")], order_by=[F("max_value").desc(), F("id")]
            )
        )
        .filter(_rank__lte=1)
        .order_by("-max_value")
    )
    rows = (
        Feature.objects.filter(cond)
        .select_related("source", "source__model")
        .prefetch_related(
            Prefetch("activations", queryset=top_activation),
            Prefetch("explanations", queryset=explanations_for_display(user=user)),
        )
    )
    return {(f.source_id, f.index): f for f in rows}


def saved_search_get(*, share_id: str, user) -> SavedSearch:
    """A saved search by its share id (never its sequential key), if its model is visible."""
    search = (
        SavedSearch.objects.select_related("model", "source_set")
        .filter(share_id=share_id, model__in=Model.objects.visible_to(user))
        .first()
    )
    if search is None:
        raise InferenceNotFound(f"Saved search '{share_id}' not found.")
    return search


def steer_output_get(*, share_id: str | None = None, pk: int | None = None, user=None) -> SteerOutput:
    """A steering result by its share id (URLs) or, internally, its key; with ``user``, only
    if its model is visible to them."""
    rows = SteerOutput.objects.select_related("model")
    rows = rows.filter(share_id=share_id) if share_id is not None else rows.filter(pk=pk)
    if user is not None:
        rows = rows.filter(model__in=Model.objects.visible_to(user))
    output = rows.first()
    if output is None:
        raise InferenceNotFound(f"Steer output '{share_id if share_id is not None else pk}' not found.")
    return output


def steer_outputs_by_key(*, keys: Iterable[str]) -> dict[str, SteerOutput]:
    return {o.cache_key: o for o in SteerOutput.objects.filter(cache_key__in=list(keys))}
