"""Reads of features and what hangs off them, with constant query counts."""

from __future__ import annotations

from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet
from rest_framework.exceptions import NotFound, ValidationError

from features.models import Activation, Comment, Explanation, ExplanationScore, Feature, List, Vote
from models_app.models import Model, Source, SourceSet
from neuronsite.fields import Visibility


def parse_index(raw) -> int:
    """A feature index from a URL or request body: a non-negative integer, else 400."""
    if isinstance(raw, bool):
        raise ValidationError({"index": f"must be a non-negative integer, got {raw!r}"})
    if isinstance(raw, int):
        value = raw
    else:
        text = str(raw).strip()
        if not text.isdigit():
            raise ValidationError({"index": f"must be a non-negative integer, got {raw!r}"})
        value = int(text)
    if value < 0 or value > 2**31 - 1:
        raise ValidationError({"index": f"out of range: {raw!r}"})
    return value


def lists_visible(*, user) -> QuerySet[List]:
    if user is not None and user.is_authenticated:
        return List.objects.filter(Q(visibility=Visibility.PUBLIC) | Q(owner=user))
    return List.objects.filter(visibility=Visibility.PUBLIC)


def explanations_for_display(*, user) -> QuerySet[Explanation]:
    qs = (
        Explanation.objects.exclude(status=Explanation.Status.HIDDEN)
        .select_related("type", "explainer_model", "author")
        .annotate(vote_count=Count("votes"))
        .prefetch_related(
            Prefetch(
                "scores",
                queryset=ExplanationScore.objects.select_related("score_type", "scorer_model").order_by("id"),
            )
        )
        .order_by("-vote_count", "-created_at", "id")
    )
    if user is not None and user.is_authenticated:
        qs = qs.annotate(voted=Exists(Vote.objects.filter(explanation=OuterRef("pk"), user=user)))
    return qs


def feature_ref_get(*, model_name: str, source_name: str, index, user) -> Feature:
    """Just the feature row (with source and model) for writes that name a feature."""
    index = parse_index(index)
    feature = (
        Feature.objects.select_related("source", "source__model", "source__source_set")
        .filter(
            source__model__name=model_name,
            source__name=source_name,
            index=index,
            source__in=Source.objects.visible_to(user),
            source__model__in=Model.objects.visible_to(user),
            source__source_set__in=SourceSet.objects.visible_to(user),
        )
        .first()
    )
    if feature is None:
        raise NotFound(f"Feature '{model_name}/{source_name}/{index}' not found.")
    return feature


def feature_get(
    *, model_name: str, source_name: str, index, user, max_activations: int | None = None
) -> Feature:
    """The feature ``model/source/index`` with activations (by max value), explanations with
    scores and votes, lists and comments prefetched. 404 for anything unknown or private."""
    index = parse_index(index)
    visible_models = Model.objects.visible_to(user)
    visible_sets = SourceSet.objects.visible_to(user)
    visible_sources = Source.objects.visible_to(user)
    activations = Activation.objects.order_by("-max_value", "id")
    if max_activations is not None:
        # A window over the prefetch keeps one query while bounding the rows.
        from django.db.models import F, Window
        from django.db.models.functions import RowNumber

        activations = activations.annotate(
            _rank=Window(
                RowNumber(), partition_by=[F("feature_id")], order_by=[F("max_value").desc(), F("id")]
            )
        ).filter(_rank__lte=max_activations)
    feature = (
        Feature.objects.select_related(
            "source", "source__source_set", "source__model", "source__source_set__release", "creator"
        )
        .filter(
            source__model__name=model_name,
            source__name=source_name,
            index=index,
            source__in=visible_sources,
            source__model__in=visible_models,
            source__source_set__in=visible_sets,
        )
        .prefetch_related(
            Prefetch("activations", queryset=activations),
            Prefetch("explanations", queryset=explanations_for_display(user=user)),
            Prefetch(
                "lists", queryset=lists_visible(user=user).select_related("owner").order_by("-updated_at")
            ),
            Prefetch("comments", queryset=Comment.objects.select_related("user").order_by("created_at")),
        )
        .first()
    )
    if feature is None:
        if not visible_models.filter(name=model_name).exists():
            raise NotFound(f"Model '{model_name}' not found.")
        if not visible_sources.filter(model__name=model_name, name=source_name).exists():
            raise NotFound(f"Source '{model_name}/{source_name}' not found.")
        raise NotFound(f"Feature '{model_name}/{source_name}/{index}' not found.")
    return feature


def feature_neighbours(*, feature: Feature, user) -> dict[int, Feature]:
    """Features named in ``topk_cos_sim_indices`` (same source), by index, in one query."""
    if not feature.topk_cos_sim_indices:
        return {}
    rows = Feature.objects.filter(source_id=feature.source_id, index__in=feature.topk_cos_sim_indices)
    return {f.index: f for f in rows}
