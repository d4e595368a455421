"""Reads of features and what hangs off them, with constant query counts."""

from __future__ import annotations

from django.db.models import Count, Exists, F, Func, OuterRef, Prefetch, Q, QuerySet, Subquery, Value
from django.db.models import Max as models_Max

from features.models import Activation, Comment, Explanation, ExplanationScore, Feature, List, Vote
from models_app.models import Model, Source, source_chain_visible_q
from neuronsite.errors import NotFound, ValidationFailed


def parse_index(raw) -> int:
    """A feature index from a URL or request body: a non-negative integer, else 400."""
    if isinstance(raw, bool):
        raise ValidationFailed({"index": f"must be a non-negative integer, got {raw!r}"})
    if isinstance(raw, int):
        value = raw
    else:
        text = str(raw).strip()
        if not (text.isascii() and text.isdigit()):  # not '²' or '①' (isdigit says yes, int() fails)
            raise ValidationFailed({"index": f"must be a non-negative integer, got {raw!r}"})
        value = int(text)
    if value < 0 or value > 2**31 - 1:
        raise ValidationFailed({"index": f"out of range: {raw!r}"})
    return value


def lists_visible(*, user) -> QuerySet[List]:
    """Lists shown in listings: public ones and the user's own (unlisted: by link only)."""
    return List.objects.listed_to(user)


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
        Feature.objects.visible_to(user)
        .select_related("source", "source__model", "source__source_set")
        .filter(
            source__model__name=model_name,
            source__name=source_name,
            index=index,
        )
        .first()
    )
    if feature is None:
        raise NotFound(f"Feature '{model_name}/{source_name}/{index}' not found.")
    return feature


def _feature_detail(*, model_name: str, source_name: str, index: int, user, activations) -> Feature | None:
    """The visible feature with its source chain, the given activations queryset, explanations
    (scores, votes), visible lists and comments prefetched; None when absent or invisible."""
    return (
        Feature.objects.visible_to(user)
        .select_related(
            "source", "source__source_set", "source__model", "source__source_set__release", "creator"
        )
        .filter(
            source__model__name=model_name,
            source__name=source_name,
            index=index,
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


def feature_get(
    *, model_name: str, source_name: str, index, user, max_activations: int | None = None
) -> Feature:
    """The feature ``model/source/index`` with activations (by max value), explanations with
    scores and votes, lists and comments prefetched. 404 for anything unknown or private."""
    index = parse_index(index)
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
    feature = _feature_detail(
        model_name=model_name, source_name=source_name, index=index, user=user, activations=activations
    )
    if feature is None:
        if not Model.objects.visible_to(user).filter(name=model_name).exists():
            raise NotFound(f"Model '{model_name}' not found.")
        if not Source.objects.visible_to(user).filter(model__name=model_name, name=source_name).exists():
            raise NotFound(f"Source '{model_name}/{source_name}' not found.")
        raise NotFound(f"Feature '{model_name}/{source_name}/{index}' not found.")
    return feature


def feature_neighbours(*, feature: Feature, user) -> dict[int, Feature]:
    """Features named in ``topk_cos_sim_indices`` (same source), by index, in one query."""
    if not feature.topk_cos_sim_indices:
        return {}
    rows = Feature.objects.filter(source_id=feature.source_id, index__in=feature.topk_cos_sim_indices)
    return {f.index: f for f in rows}


# --- pages: browsing, dashboard, search, lists ---------------------------------------------------


def _top_explanation_subquery(ref: str = "pk"):
    """The description of a feature's best explanation (most votes, then newest), as a subquery."""
    from django.db.models import Subquery

    return Subquery(
        Explanation.objects.filter(feature_id=OuterRef(ref))
        .exclude(status=Explanation.Status.HIDDEN)
        .annotate(_votes=Count("votes"))
        .order_by("-_votes", "-created_at", "id")
        .values("description")[:1]
    )


def source_features_page(*, source: Source, offset: int = 0, limit: int = 50) -> tuple[list[Feature], bool]:
    """One page of a source's features by index with their top explanation (one query).
    Returns ``(features, has_more)``; no COUNT over a possibly huge table."""
    rows = list(
        Feature.objects.filter(source=source)
        .only("id", "index", "source_id", "max_act_approx", "frac_nonzero")
        .annotate(top_explanation=_top_explanation_subquery())
        .order_by("index")[offset : offset + limit + 1]
    )
    return rows[:limit], len(rows) > limit


def feature_random(*, user, source: Source | None = None) -> Feature | None:
    """A random visible feature (with a dashboard), without ``ORDER BY random()`` over the table."""
    import random

    from django.db.models import Max, Min

    qs = Feature.objects.listed_to(user).filter(source__has_dashboards=True)
    if source is not None:
        qs = qs.filter(source=source)
    bounds = qs.aggregate(lo=Min("id"), hi=Max("id"))
    if bounds["lo"] is None:
        return None
    pivot = random.randint(bounds["lo"], bounds["hi"])
    return (
        qs.select_related("source", "source__model").filter(id__gte=pivot).order_by("id").first()
        or qs.select_related("source", "source__model").order_by("id").first()
    )


# One snippet context: its tokens and values (a row expression PostgreSQL can count distinct).
_CONTEXT = Func(F("tokens"), F("values"), function="ROW")


def _context_key(act: Activation) -> tuple:
    return tuple(act.tokens or ()), tuple(act.values or ())


def _activation_group_key(act: Activation) -> tuple:
    if act.bin_min is None or act.bin_min < 0:
        return ("top",)
    return ("bin", act.bin_min, act.bin_max)


def feature_dashboard_get(*, model_name: str, source_name: str, index, user, per_group: int = 25) -> Feature:
    """Like :func:`feature_get`, but activations come as at most ``per_group`` snippets of each
    quantile group (top activations; one group per ``(bin_min, bin_max)`` interval), ranked by
    max value, plus ``feature.activation_groups``: every group with its total count. Two queries
    for activations however many snippets the feature has."""
    from django.db.models import F, Window
    from django.db.models.functions import Coalesce, RowNumber

    index = parse_index(index)
    group_min = Coalesce(F("bin_min"), -1.0)
    group_max = Coalesce(F("bin_max"), -1.0)
    activations = (
        Activation.objects.annotate(
            _rank=Window(
                RowNumber(),
                partition_by=[F("feature_id"), group_min, group_max],
                order_by=[F("max_value").desc(), F("id")],
            )
        )
        .filter(_rank__lte=per_group)
        .order_by("-max_value", "id")
    )
    feature = _feature_detail(
        model_name=model_name, source_name=source_name, index=index, user=user, activations=activations
    )
    if feature is None:
        # Same messages as the API's selector.
        return feature_get(model_name=model_name, source_name=source_name, index=index, user=user)
    # Imports keep what the file says, but the page never shows the same context twice in a
    # group: counts are of distinct (tokens, values) rows, duplicates are dropped below.
    counts = (
        Activation.objects.filter(feature=feature)
        .values("bin_min", "bin_max")
        .annotate(n=Count(_CONTEXT, distinct=True), contains=models_Max("bin_contains"))
        .order_by()
    )
    feature.activation_groups = activation_groups(feature=feature, counts=counts)
    return feature


def activation_groups(*, feature: Feature, counts) -> list[dict]:
    """The dashboard's snippet groups from the prefetched ``feature.activations`` and ``counts``
    (rows of ``bin_min``, ``bin_max``, ``n`` distinct contexts, ``contains``)."""
    groups: dict[tuple, dict] = {}
    for row in counts:
        key = (
            ("top",)
            if row["bin_min"] is None or row["bin_min"] < 0
            else ("bin", row["bin_min"], row["bin_max"])
        )
        g = groups.setdefault(key, {"key": key, "count": 0, "contains": row["contains"], "activations": []})
        g["count"] += row["n"]
    seen: set[tuple] = set()
    for act in feature.activations.all():
        key = _activation_group_key(act)
        context = (key, *_context_key(act))
        if context in seen:
            continue
        seen.add(context)
        groups.setdefault(key, {"key": key, "count": 0, "contains": act.bin_contains, "activations": []})
        groups[key]["activations"].append(act)
    ordered = sorted(
        groups.values(), key=lambda g: (g["key"][0] != "top", -(g["key"][2] if len(g["key"]) > 2 else 0))
    )
    for g in ordered:
        g["is_top"] = g["key"][0] == "top"
        g["bin_min"] = None if g["is_top"] else g["key"][1]
        g["bin_max"] = None if g["is_top"] else g["key"][2]
    return ordered


def activations_group_page(
    *, feature: Feature, bin_min: float | None, bin_max: float | None, offset: int, limit: int
) -> tuple[list[Activation], bool]:
    """More snippets of one quantile group (``bin_min is None`` = the top group)."""
    qs = Activation.objects.filter(feature=feature)
    if bin_min is None:
        qs = qs.filter(Q(bin_min__isnull=True) | Q(bin_min__lt=0))
    else:
        qs = qs.filter(bin_min=bin_min, bin_max=bin_max)
    # distinct contexts only (the first of each in display order), as on the dashboard
    first_of_each = qs.order_by("tokens", "values", "-max_value", "id").distinct("tokens", "values")
    rows = list(
        Activation.objects.filter(id__in=first_of_each.values("id")).order_by("-max_value", "id")[
            offset : offset + limit + 1
        ]
    )
    return rows[:limit], len(rows) > limit


def feature_neighbours_explained(*, feature: Feature) -> list[dict]:
    """Nearest features by decoder cosine (``topk_cos_sim_*``), each with its top explanation,
    in the stored order, in one query."""
    indices = list(feature.topk_cos_sim_indices or [])
    if not indices:
        return []
    rows = {
        f.index: f
        for f in Feature.objects.filter(source_id=feature.source_id, index__in=indices)
        .only("id", "index", "source_id")
        .annotate(top_explanation=_top_explanation_subquery())
    }
    values = list(feature.topk_cos_sim_values or [])
    out = []
    for i, idx in enumerate(indices):
        if idx == feature.index:
            continue
        row = rows.get(idx)
        out.append(
            {
                "index": idx,
                "cosine": values[i] if i < len(values) else None,
                "exists": row is not None,
                "explanation": getattr(row, "top_explanation", None),
            }
        )
    return out


def feature_adjacent(*, feature: Feature, user=None) -> tuple[int | None, int | None, bool]:
    """Indices of the previous and next stored features of the same source, and whether
    ``user`` bookmarked this one: one query (index-ordered subqueries, not aggregates, so that
    the (source, index) index answers them on sources of millions of features)."""
    from features.models import Bookmark

    same = Feature.objects.filter(source_id=feature.source_id)
    row = Feature.objects.filter(pk=feature.pk).annotate(
        prev_index=Subquery(same.filter(index__lt=feature.index).order_by("-index").values("index")[:1]),
        next_index=Subquery(same.filter(index__gt=feature.index).order_by("index").values("index")[:1]),
        bookmarked=(
            Exists(Bookmark.objects.filter(user=user, feature=OuterRef("pk")))
            if user is not None and user.is_authenticated
            else Value(False)
        ),
    )
    prev, nxt, bookmarked = row.values_list("prev_index", "next_index", "bookmarked").get()
    return prev, nxt, bookmarked


def bookmark_exists(*, user, feature: Feature) -> bool:
    from features.models import Bookmark

    if user is None or not user.is_authenticated:
        return False
    return Bookmark.objects.filter(user=user, feature=feature).exists()


def lists_owned(*, user) -> QuerySet[List]:
    if user is None or not user.is_authenticated:
        return List.objects.none()
    return (
        List.objects.filter(owner=user)
        .select_related("owner")
        .annotate(n_items=Count("items"))
        .order_by("-updated_at")
    )


def list_get(*, list_id, user) -> List:
    """A list by id for anyone with the link (public and unlisted) or its owner, with items
    (feature, source, model, top explanation) and comments prefetched."""
    from features.models import ListComment, ListItem

    try:
        pk = int(str(list_id))
    except (TypeError, ValueError) as exc:
        raise ValidationFailed({"listId": f"must be an integer list id, got {list_id!r}"}) from exc
    lst = (
        List.objects.visible_to(user)
        .filter(pk=pk)
        .select_related("owner")
        .prefetch_related(
            Prefetch(
                "items",
                queryset=ListItem.objects.select_related("feature__source__model")
                .filter(source_chain_visible_q(user, "feature__source__"))  # private features stay hidden
                .annotate(top_explanation=_top_explanation_subquery("feature_id"))
                .order_by("added_at", "id"),
            ),
            Prefetch("comments", queryset=ListComment.objects.select_related("user").order_by("created_at")),
        )
        .first()
    )
    if lst is None:
        raise NotFound(f"List {list_id} not found.")
    return lst


def explanations_search_text(
    *,
    query: str,
    user,
    model_name: str | None = None,
    source_names: list[str] | None = None,
    release_name: str | None = None,
    offset: int = 0,
    limit: int = 20,
) -> tuple[list[Explanation], int]:
    """Explanations whose text contains every word of ``query`` (case-insensitive), in visible
    sources, optionally within one model, some sources of it, or one release. Returns
    ``(page, total)``; each row has ``feature__source__model`` loaded."""
    words = [w for w in (query or "").split() if w]
    if len((query or "").strip()) < 3:
        raise ValidationFailed({"query": "must be at least 3 characters"})
    qs = Explanation.objects.visible_to(user).exclude(status=Explanation.Status.HIDDEN)
    for word in words:
        qs = qs.filter(description__icontains=word)
    if model_name is not None:
        qs = qs.filter(feature__source__model__name=model_name)
    if source_names:
        qs = qs.filter(feature__source__name__in=source_names)
    if release_name is not None:
        qs = qs.filter(feature__source__source_set__release__name=release_name)
    total = qs.count()
    page = list(
        qs.select_related(
            "feature__source__model", "feature__source__source_set", "type", "author", "explainer_model"
        )
        .prefetch_related(
            Prefetch(
                "scores",
                queryset=ExplanationScore.objects.select_related("score_type", "scorer_model").order_by("id"),
            )
        )
        .annotate(vote_count=Count("votes"))
        .order_by("-vote_count", "id")[offset : offset + limit]
    )
    return page, total


def features_resolve(*, refs: list[tuple[str, str, object]], user) -> list[Feature]:
    """Features named by ``(model id, source id, index)`` in one query, in the given order;
    404 naming the first one that is unknown or not visible."""
    parsed = [(str(m), str(s), parse_index(i)) for m, s, i in refs]
    if not parsed:
        return []
    match = Q()
    for m, s, i in parsed:
        match |= Q(source__model__name=m, source__name=s, index=i)
    rows = Feature.objects.select_related("source", "source__model").filter(match).visible_to(user)
    by_key = {(f.source.model.name, f.source.name, f.index): f for f in rows}
    out = []
    for key in parsed:
        feature = by_key.get(key)
        if feature is None:
            raise NotFound(f"Feature '{key[0]}/{key[1]}/{key[2]}' not found.")
        out.append(feature)
    return out


# --- researcher pass (issue 16): UMAP of a source --------------------------------------------------


def source_umap_points(*, source: Source) -> list[tuple]:
    """``(index, x, y, cluster, top explanation)`` of every feature of ``source`` that has UMAP
    coordinates, by index, in one query."""
    return list(
        Feature.objects.filter(source=source, umap_x__isnull=False, umap_y__isnull=False)
        .annotate(top_explanation=_top_explanation_subquery())
        .order_by("index")
        .values_list("index", "umap_x", "umap_y", "umap_cluster", "top_explanation")
    )
