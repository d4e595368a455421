"""Autointerp reads: semantic explanation search (cosine over the HNSW index), runs.

Visibility (model, source set, source; hidden explanations) is part of the SQL ``WHERE``, so the
``LIMIT`` counts only rows the user may see and pages come back full; pgvector's iterative index
scan (0.8) keeps walking the HNSW graph until enough rows pass the filters.
"""

from __future__ import annotations

from django.db import connection, transaction
from django.db.models import F, Prefetch, Window
from django.db.models.functions import RowNumber

from features.models import Activation, Explanation, ExplanationScore
from models_app.models import Model, Source, SourceSet
from neuronsite.errors import ValidationFailed

EF_SEARCH = 100
MAX_SCAN_TUPLES = 40_000
ONE_PER_FEATURE_OVERSAMPLE = 5


def _check_query(query: str) -> str:
    query = (query or "").strip()
    if len(query) < 3:
        raise ValidationFailed({"query": "must be at least 3 characters"})
    return query


def embed_query(query: str) -> tuple[list[float], str]:
    from autointerp.engines.embeddings import get_embedder

    embedder = get_embedder()
    return embedder.encode([query])[0], embedder.name


def explanations_search_semantic(
    *,
    query: str,
    user,
    model_name: str | None = None,
    source_names: list[str] | None = None,
    release_name: str | None = None,
    offset: int = 0,
    limit: int = 20,
    one_per_feature: bool = False,
    vector: list[float] | None = None,
    embedder_name: str | None = None,
    light: bool = False,
) -> tuple[list[Explanation], bool]:
    """Visible explanations nearest in meaning to ``query`` (cosine), ``(page, has_more)``.
    Each row has ``similarity``, ``feature__source__model`` and ``top_activations`` (3).
    ``light`` (the chat monitor's steer search): rows carry only the description, the feature's
    index, quantiles and max activation, and its source; no scores, activations or embedding."""
    from pgvector.django import CosineDistance

    query = _check_query(query)
    if vector is None:
        vector, embedder_name = embed_query(query)
    # The visible sources in scope are few: resolve them first (one small query), so the main
    # query filters explanation rows through the feature's primary key while it walks the
    # HNSW index in distance order, instead of joining everything and sorting.
    sources = Source.objects.visible_to(user).filter(
        model__in=Model.objects.visible_to(user), source_set__in=SourceSet.objects.visible_to(user)
    )
    if model_name is not None:
        sources = sources.filter(model__name=model_name)
    if source_names:
        sources = sources.filter(name__in=source_names)
    if release_name is not None:
        sources = sources.filter(source_set__release__name=release_name)
    source_ids = list(sources.values_list("pk", flat=True))
    if not source_ids:
        return [], False
    qs = Explanation.objects.exclude(status=Explanation.Status.HIDDEN).filter(
        embedding__isnull=False, embedding_model=embedder_name
    )
    qs = qs.filter(feature__source_id__in=source_ids)  # one feature-pkey probe per candidate
    qs = qs.annotate(distance=CosineDistance("embedding", vector)).order_by("distance", "id")
    want = offset + limit + 1
    fetch = want * ONE_PER_FEATURE_OVERSAMPLE if one_per_feature else want
    with transaction.atomic():
        with connection.cursor() as cursor:
            # Transaction-local: iterative scans keep walking the graph until the filtered
            # LIMIT is filled (in exact distance order), up to max_scan_tuples.
            # enable_sort off: the planner must take rows in index order (a LIMIT over an
            # ordered HNSW scan) rather than filter-join everything and sort it.
            cursor.execute(
                "SELECT set_config('hnsw.ef_search', %s, true), set_config('hnsw.iterative_scan', "
                "'strict_order', true), set_config('hnsw.max_scan_tuples', %s, true), "
                "set_config('enable_sort', 'off', true)",
                [str(max(EF_SEARCH, min(fetch, 1000))), str(MAX_SCAN_TUPLES)],
            )
        ids = list(qs.values_list("id", "feature_id", "distance")[: fetch if one_per_feature else want])
    if one_per_feature:
        seen, kept = set(), []
        for row in ids:
            if row[1] not in seen:
                seen.add(row[1])
                kept.append(row)
        ids = kept
    window = ids[offset : offset + limit]
    has_more = len(ids) > offset + limit
    distance = {pk: d for pk, _, d in window}
    if light:  # chat monitor (issue 15): only what the steer-by-description preview shows
        light_rows = Explanation.objects.filter(pk__in=list(distance)).select_related("feature__source")
        light_rows = light_rows.only(
            "id",
            "description",
            "feature__index",
            "feature__max_act_approx",
            "feature__activation_quantiles",
            "feature__source__name",
            "feature__source__layer",
        )
        by_pk = {e.pk: e for e in light_rows}
        page = [by_pk[pk] for pk, _, _ in window if pk in by_pk]
        for e in page:
            e.similarity = 1.0 - float(distance[e.pk])
        return page, has_more
    rows = {
        e.pk: e
        for e in Explanation.objects.filter(pk__in=list(distance))
        .select_related(
            "feature__source__model", "feature__source__source_set", "type", "author", "explainer_model"
        )
        .prefetch_related(
            Prefetch(
                "scores",
                queryset=ExplanationScore.objects.select_related("score_type", "scorer_model").order_by("id"),
            )
        )
    }
    page = [rows[pk] for pk, _, _ in window if pk in rows]
    for e in page:
        e.similarity = 1.0 - float(distance[e.pk])
    attach_top_activations(page)
    return page, has_more


def attach_top_activations(explanations: list[Explanation], n: int = 3) -> None:
    """Set ``top_activations`` (the feature's best ``n`` by max value) on each, in one query."""
    feature_ids = {e.feature_id for e in explanations}
    if not feature_ids:
        return
    rows = (
        Activation.objects.filter(feature_id__in=feature_ids)
        .annotate(
            _rank=Window(
                RowNumber(), partition_by=[F("feature_id")], order_by=[F("max_value").desc(), F("id")]
            )
        )
        .filter(_rank__lte=n)
        .order_by("feature_id", "_rank")
    )
    by_feature: dict[int, list] = {}
    for row in rows:
        by_feature.setdefault(row.feature_id, []).append(row)
    for e in explanations:
        e.top_activations = by_feature.get(e.feature_id, [])
