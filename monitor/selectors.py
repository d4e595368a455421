"""Reads for the chat monitor: conversations (per user, or per anonymous cookie key), the sources a
conversation may watch, per-latent thresholds, and the explanations active latents are shown with."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Count, Max, Q

from features.models import Activation, Feature
from features.selectors import explanations_for_display
from inference import selectors as inference_selectors
from inference.monitor.thresholds import feature_threshold
from models_app.models import Model, Source
from monitor.models import Conversation
from neuronsite.errors import NotFound, ValidationFailed

MAX_SOURCES = 64


def _owner_q(*, user, anon_key: str | None) -> Q:
    if user is not None and user.is_authenticated:
        return Q(owner=user)
    if anon_key:
        return Q(owner__isnull=True, anon_key=anon_key)
    return Q(pk__in=[])


def conversation_get(*, conversation_id, user, anon_key: str | None) -> Conversation:
    """The caller's conversation (a signed-in user's own, or an anonymous visitor's by cookie key);
    404 for anyone else's, so ids reveal nothing."""
    try:
        pk = int(conversation_id)
    except (TypeError, ValueError):
        raise ValidationFailed(
            f"must be an integer, got {conversation_id!r}.", field="conversationId"
        ) from None
    conv = (
        Conversation.objects.select_related("model")
        .filter(_owner_q(user=user, anon_key=anon_key), pk=pk, model__in=Model.objects.visible_to(user))
        .first()
    )
    if conv is None:
        raise NotFound(f"Conversation {pk} not found.")
    return conv


def conversations_list(*, user, anon_key: str | None, model_name: str | None = None, limit: int = 50):
    qs = Conversation.objects.select_related("model").filter(_owner_q(user=user, anon_key=anon_key))
    if model_name:
        qs = qs.filter(model__name=model_name)
    return list(qs.order_by("-updated_at", "-id")[:limit])


def monitor_model(*, name: str, user) -> Model:
    return inference_selectors.model_for_inference(name=name, user=user)


def watchable_sources(*, model: Model, user, names: Iterable[str] | None = None) -> list[Source]:
    """The sources a conversation watches: those named (each must be a visible, inference-enabled
    SAE/transcoder of ``model``; unknown → 404 naming it), or by default the model's default source
    set."""
    if names is None:
        if model.default_source_set_id is None:
            return []
        source_set = model.default_source_set
        return inference_selectors.sources_of_set(source_set=source_set, user=user)
    names = list(dict.fromkeys(names))
    if len(names) > MAX_SOURCES:
        raise ValidationFailed(f"at most {MAX_SOURCES} sources, got {len(names)}.", field="sources")
    out = []
    for name in names:
        if not isinstance(name, str) or not name:
            raise ValidationFailed("each source must be a source id such as '3-res-demo'.", field="sources")
        source = inference_selectors.source_for_inference(model=model, name=name, user=user)
        inference_selectors.require_sae_weights(source)
        out.append(source)
    return out


def thresholds_stamp(*, source: Source) -> tuple:
    """Changes whenever the source's feature rows are added, removed or re-imported (new pks)."""
    agg = Feature.objects.filter(source=source).aggregate(n=Count("id"), top=Max("id"))
    return (agg["n"], agg["top"])


def source_thresholds(*, source: Source) -> dict[int, float]:
    """``{index: threshold}`` for every latent of ``source`` that has one (rules in
    ``inference.monitor.thresholds``): the 0.99999 quantile, else the dashboard's max activation,
    else the top stored snippet's max value."""
    out: dict[int, float] = {}
    missing: list[int] = []
    rows = Feature.objects.filter(source=source).values_list(
        "id", "index", "activation_quantiles", "max_act_approx"
    )
    for pk, index, quantiles, max_act in rows:
        value = feature_threshold(quantiles if isinstance(quantiles, dict) else None, max_act)
        if value is None:
            missing.append(pk)
        else:
            out[index] = value
    if missing:
        tops = (
            Activation.objects.filter(feature_id__in=missing)
            .values("feature__index")
            .annotate(top=Max("max_value"))
            .values_list("feature__index", "top")
        )
        for index, top in tops:
            value = feature_threshold(None, None, top)
            if value is not None:
                out[index] = value
    return out


def explanations_for(*, keys: Iterable[tuple[int, int]], user) -> dict[tuple[int, int], dict]:
    """For ``(source pk, index)`` keys: the feature's best explanation (most votes, then newest)
    and that explanation's mean score (0..1, None when unscored), in two queries."""
    by_source: dict[int, set[int]] = {}
    for source_id, index in keys:
        by_source.setdefault(source_id, set()).add(index)
    if not by_source:
        return {}
    cond = Q(pk__in=[])
    for source_id, indexes in by_source.items():
        cond |= Q(feature__source_id=source_id, feature__index__in=sorted(indexes))
    out: dict[tuple[int, int], dict] = {}
    rows = explanations_for_display(user=user).filter(cond).select_related("feature")
    for exp in rows:
        key = (exp.feature.source_id, exp.feature.index)
        if key in out:
            continue
        scores = [s.value for s in exp.scores.all() if s.value is not None]
        out[key] = {
            "explanation": exp.description,
            "explanationScore": sum(scores) / len(scores) if scores else None,
        }
    return out
