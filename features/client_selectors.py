"""Reads behind the endpoints the official client and Neuronpedia's documented API call that
the core feature API did not have (issue 11): batch feature get, a feature's stored activations,
one explanation by id, the explanation export stream, and a user's bookmarks."""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import F, Prefetch, Q, QuerySet, Window
from django.db.models.functions import RowNumber

from features.models import Activation, Bookmark, Comment, Explanation, ExplanationScore, Feature
from features.selectors import (
    _top_explanation_subquery,
    explanations_for_display,
    feature_ref_get,
    lists_visible,
    parse_index,
)
from models_app.models import Model, Source, SourceSet
from neuronsite.errors import NotFound, ValidationFailed

MAX_BATCH_FEATURES = 256
EXPORT_CHUNK = 2000


def _visible_features(user) -> QuerySet[Feature]:
    return Feature.objects.filter(
        source__in=Source.objects.visible_to(user),
        source__model__in=Model.objects.visible_to(user),
        source__source_set__in=SourceSet.objects.visible_to(user),
    )


def _ranked_activations(max_activations: int | None) -> QuerySet[Activation]:
    activations = Activation.objects.order_by("-max_value", "id")
    if max_activations is None:
        return activations
    return activations.annotate(
        _rank=Window(RowNumber(), partition_by=[F("feature_id")], order_by=[F("max_value").desc(), F("id")])
    ).filter(_rank__lte=max_activations)


def features_batch_get(
    *, refs: list[tuple[str, str, object]], user, max_activations: int | None = None
) -> list[Feature]:
    """The visible features named by ``(model id, source id, index)``, with what
    ``GET /api/feature`` returns prefetched, in request order; unknown or hidden ones are left
    out (as Neuronpedia's ``POST /api/features`` does). A constant number of queries."""
    if len(refs) > MAX_BATCH_FEATURES:
        raise ValidationFailed({"features": f"at most {MAX_BATCH_FEATURES} features per request"})
    parsed = [(str(m), str(s), parse_index(i)) for m, s, i in refs]
    if not parsed:
        return []
    match = Q()
    for m, s, i in parsed:
        match |= Q(source__model__name=m, source__name=s, index=i)
    rows = (
        _visible_features(user)
        .filter(match)
        .select_related("source", "source__source_set", "source__model", "creator")
        .prefetch_related(
            Prefetch("activations", queryset=_ranked_activations(max_activations)),
            Prefetch("explanations", queryset=explanations_for_display(user=user)),
            Prefetch(
                "lists", queryset=lists_visible(user=user).select_related("owner").order_by("-updated_at")
            ),
            Prefetch("comments", queryset=Comment.objects.select_related("user").order_by("created_at")),
        )
    )
    by_key = {(f.source.model.name, f.source.name, f.index): f for f in rows}
    out, seen = [], set()
    for key in parsed:
        if key in by_key and key not in seen:
            seen.add(key)
            out.append(by_key[key])
    return out


def feature_activations_get(*, model_name: str, source_name: str, index, user) -> tuple[Feature, list]:
    """A visible feature and its stored activations, strongest first (404 when unknown)."""
    feature = feature_ref_get(model_name=model_name, source_name=source_name, index=index, user=user)
    return feature, list(Activation.objects.filter(feature=feature).order_by("-max_value", "id"))


def explanation_get(*, explanation_id, user) -> Explanation:
    """One explanation of a visible feature (hidden ones are not served), with its scores."""
    try:
        pk = int(str(explanation_id))
    except (TypeError, ValueError) as exc:
        raise ValidationFailed({"id": f"must be an integer explanation id, got {explanation_id!r}"}) from exc
    explanation = (
        explanations_for_display(user=user)
        .select_related("feature__source__model")
        .filter(pk=pk, feature__in=_visible_features(user))
        .first()
    )
    if explanation is None:
        raise NotFound(f"Explanation {explanation_id} not found.")
    return explanation


def explanations_export_scope(
    *, model_name: str, source_name: str | None, user
) -> tuple[Model, Source | None]:
    """Check what an export names before any byte is streamed (404 naming the unknown part)."""
    model = Model.objects.visible_to(user).filter(name=model_name).first()
    if model is None:
        raise NotFound(f"Model '{model_name}' not found.")
    source = None
    if source_name:
        source = (
            Source.objects.visible_to(user)
            .filter(model=model, name=source_name, source_set__in=SourceSet.objects.visible_to(user))
            .first()
        )
        if source is None:
            raise NotFound(f"Source '{model_name}/{source_name}' not found.")
    return model, source


def explanations_export_iter(*, model: Model, source: Source | None, user) -> Iterator[Explanation]:
    """Every shown explanation of the model (or one source), by source, index and id, with its
    feature, type, explainer model and scores; read in chunks so memory stays flat."""
    qs = (
        Explanation.objects.exclude(status=Explanation.Status.HIDDEN)
        .filter(feature__in=_visible_features(user), feature__source__model=model)
        .select_related("feature__source__model", "type", "explainer_model", "author")
        .prefetch_related(
            Prefetch(
                "scores",
                queryset=ExplanationScore.objects.select_related("score_type", "scorer_model").order_by("id"),
            )
        )
        .order_by("feature__source__name", "feature__index", "id")
    )
    if source is not None:
        qs = qs.filter(feature__source=source)
    return qs.iterator(chunk_size=EXPORT_CHUNK)


def bookmarks_of_user(*, user) -> QuerySet[Bookmark]:
    """The user's bookmarks of features they can still see, newest first, with each feature's
    top explanation."""
    return (
        Bookmark.objects.filter(user=user, feature__in=_visible_features(user))
        .select_related("feature__source__model")
        .annotate(top_explanation=_top_explanation_subquery("feature_id"))
        .order_by("-created_at", "-id")
    )
