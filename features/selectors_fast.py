"""The hot read path of ``GET /api/feature/...``: the same JSON, a fraction of the work.

Under load the time of a feature request went to the ORM, not to PostgreSQL: compiling five
querysets (the visibility rule over source, model and source set, window functions, prefetches)
and hydrating model instances with big arrays. Here:

- the feature lookup is still THE visibility rule's queryset (``Feature.objects.visible_to``),
  but its SQL is compiled once per process and user kind (anonymous, signed in, staff) and
  re-run with new parameters (:func:`_compiled`); it returns the feature, source, source set and
  model columns in one row plus whether the feature has explanations, list items or comments;
- activations come in the same query, as their JSON array built by PostgreSQL
  (:data:`ACTIVATIONS_JSON_SQL`: ``real`` columns print as PostgreSQL's text output, which is
  what psycopg parses on the ORM path, e.g. ``0.1``; ``createdAt`` spelled as ``_iso`` spells it), so a feature without
  explanations, lists or comments is ONE round trip and no Python object per snippet (the array
  goes into the response as PostgreSQL wrote it, an ``orjson.Fragment``);
- explanations, lists and comments, which most features have none of, are queried (through the
  usual selectors) only when the first row says they exist.

The body is built by the same serializer functions as the ORM path (``features.api.serializers``)
over light attribute objects, so the JSON is byte-for-byte the same.
"""

from __future__ import annotations

import threading
from types import SimpleNamespace

from django.db import connection
from django.db.models import Exists, OuterRef, Subquery, Value
from django.db.models.expressions import RawSQL

from features.models import Bookmark, Comment, Explanation, Feature, ListItem
from features.selectors import explanations_for_display, feature_get, lists_visible, parse_index
from neuronsite.compiled_query import (
    USER_ID,
    CompiledQuery,
    compiled,
    sentinel_str,
    user_kind,
    user_stand_in,
)
from neuronsite.db.prepared import prepared_cursor

# Sentinels that stand for the per-request values while a query shape is compiled; they land in
# the compiled query's parameters, where each request's values replace them. The user's stand-in
# (and its id, ``USER_ID``) is ``neuronsite.compiled_query``'s, as are the model query's compile.
_MODEL, _SOURCE, _INDEX = sentinel_str("model"), sentinel_str("source"), -2_000_000_011


def _cache_long_statements() -> None:
    """psycopg parses a statement's placeholders on every execute unless it is at most
    ``MAX_CACHED_STATEMENT_LENGTH`` (4,096) bytes long, when the parse is cached (an LRU of 128
    statements); the lookups below are 5-6 kB (every column of four tables): 0.2-0.3 ms of CPU a
    request, measured. Raise the bound (psycopg 3.3, a module constant read on each execute)."""
    try:
        from psycopg import _queries
    except ImportError:  # another psycopg layout: its default stays
        return
    if getattr(_queries, "MAX_CACHED_STATEMENT_LENGTH", 16384) < 16384:
        _queries.MAX_CACHED_STATEMENT_LENGTH = 16384


_cache_long_statements()
_lock = threading.Lock()
_shapes: dict[tuple, tuple[str, tuple, list[tuple[int, str]], list]] = {}

FEATURE_FIELDS = [f.attname for f in Feature._meta.concrete_fields]
SOURCE_FIELDS = [
    "id", "name", "layer", "hook_name", "sae_release", "sae_id", "config", "d_sae", "architecture",
    "dataset", "num_prompts", "num_tokens_in_prompt", "visibility", "inference_enabled",
    "has_dashboards", "created_at",
]  # fmt: skip
MODEL_FIELDS = [
    "id", "name", "display_name", "display_name_short", "creator_name", "owner_id", "layers",
    "d_model", "tl_model_name", "hf_model_id", "instruct", "inference_enabled", "visibility",
    "website", "created_at", "updated_at",
]  # fmt: skip
FLAGS = ["_has_explanations", "_has_lists", "_has_comments"]

# activation_json (features.api.serializers) in SQL; parameters: model name, source name twice.
# ``_iso``: ISO 8601 in UTC with ``Z``, microseconds only when not zero (Python's isoformat).
_ISO_SQL = (
    "CASE WHEN a.created_at IS NULL THEN NULL ELSE to_char(a.created_at AT TIME ZONE 'UTC',"
    " 'YYYY-MM-DD\"T\"HH24:MI:SS') || CASE WHEN date_trunc('second', a.created_at) = a.created_at"
    " THEN '' ELSE to_char(a.created_at AT TIME ZONE 'UTC', '.US') END || 'Z' END"
)
ACTIVATIONS_JSON_SQL = (
    "SELECT COALESCE(json_agg(json_build_object("
    "'id', a.id::text, 'modelId', %s::text, 'layer', %s::text, 'source', %s::text,"
    " 'index', t.\"index\"::text, 'tokens', a.tokens, 'values', a.values,"
    " 'maxValue', a.max_value, 'maxValueTokenIndex', a.max_value_token_index,"
    " 'minValue', a.min_value, 'binMin', a.bin_min, 'binMax', a.bin_max,"
    " 'binContains', CASE WHEN a.bin_contains < 0 THEN NULL ELSE a.bin_contains END,"
    " 'qualifyingTokenIndex', a.qualifying_token_index, 'dataSource', NULLIF(a.data_source, ''),"
    " 'dataIndex', a.data_index, 'dfaValues', a.dfa_values,"
    " 'dfaTargetIndex', a.dfa_target_index, 'dfaMaxValue', a.dfa_max_value,"
    " 'creatorId', a.creator_id, 'createdAt', " + _ISO_SQL + ") ORDER BY a.max_value DESC, a.id),"
    " '[]')::text FROM features_activation a WHERE a.feature_id = t.\"id\""
)


def _feature_row_queryset(user):
    names = (
        FEATURE_FIELDS
        + [f"source__{f}" for f in SOURCE_FIELDS]
        + [f"source__model__{f}" for f in MODEL_FIELDS]
        + ["source__source_set__name"]
    )
    return (
        Feature.objects.visible_to(user)
        .filter(source__model__name=_MODEL, source__name=_SOURCE, index=_INDEX)
        .annotate(
            _has_explanations=Exists(Explanation.objects.filter(feature_id=OuterRef("pk"))),
            _has_lists=Exists(ListItem.objects.filter(feature_id=OuterRef("pk"))),
            _has_comments=Exists(Comment.objects.filter(feature_id=OuterRef("pk"))),
        )
        .values(*names, *FLAGS)
    )


def _converters(names: list[str]) -> list:
    """Per selected column, the field's ``from_db_value`` (JSON fields) or None."""
    out = []
    for name in names:
        if name in FLAGS:
            out.append(None)
            continue
        model, field = Feature, None
        for part in name.split("__"):
            try:
                field = model._meta.get_field(part)
            except Exception:  # noqa: BLE001 - an attname such as ``owner_id``
                field = model._meta.get_field(part.removesuffix("_id"))
            model = field.related_model or model
        out.append(getattr(field, "from_db_value", None))
    return out


def _compiled(user) -> tuple[str, list, list[str], list]:
    """SQL, parameters (this request's values in place), column names and converters of the
    feature lookup for ``user``'s kind: compiled on the first request of each kind."""
    kind = (user_kind(user),)
    shape = _shapes.get(kind)
    if shape is None:
        with _lock:
            qs = _feature_row_queryset(user_stand_in(kind[0]))
            sql, params = qs.query.sql_with_params()
            slots = []
            for i, p in enumerate(params):
                for name, sentinel in (
                    ("model", _MODEL),
                    ("source", _SOURCE),
                    ("index", _INDEX),
                    ("user", USER_ID),
                ):
                    same_kind = isinstance(p, str) if isinstance(sentinel, str) else isinstance(p, int)
                    if same_kind and p == sentinel:  # ints come wrapped (psycopg's Int4, Int8)
                        slots.append((i, name))
            names = [*qs.query.values_select, *qs.query.annotation_select]
            if {name for _, name in slots} != (
                {"model", "source", "index"} | ({"user"} if kind == ("user",) else set())
            ):
                raise RuntimeError(f"feature lookup parameters not found in {params!r}")
            shape = _shapes[kind] = (sql, tuple(params), slots, names)
    sql, params, slots, names = shape
    return sql, params, slots, names


def _feature_row(
    *, model_name: str, source_name: str, index: int, user, with_activations: bool = False
) -> dict | None:
    """The feature lookup's row as a dict (column name -> value); with ``with_activations``,
    plus ``_activations_json``: its snippets as a JSON array (text), from the same query."""
    sql, base, slots, names = _compiled(user)
    values = {"model": model_name, "source": source_name, "index": index, "user": getattr(user, "pk", None)}
    params = list(base)
    for i, name in slots:
        value = values[name]
        params[i] = type(base[i])(value) if isinstance(value, int) and value is not None else value
    if with_activations:
        # the lookup filters on model and source names, so they are the row's names
        sql = f"SELECT t.*, ({ACTIVATIONS_JSON_SQL}) FROM ({sql}) t"
        params = [model_name, source_name, source_name, *params]
    with prepared_cursor(connection) as cur:  # parsed and planned once per pooled connection
        cur.execute(sql, params)
        row = cur.fetchone()
    if row is None:
        return None
    out = {}
    for name, value, conv in zip(names, row, _column_converters(tuple(names)), strict=False):
        out[name] = conv(value, None, connection) if conv is not None and value is not None else value
    if with_activations:
        out["_activations_json"] = row[len(names)]
    return out


_converter_cache: dict[tuple, list] = {}


def _column_converters(names: tuple) -> list:
    conv = _converter_cache.get(names)
    if conv is None:
        conv = _converter_cache[names] = _converters(list(names))
    return conv


def feature_api_body(*, model_name: str, source_name: str, index, user) -> dict:
    """The body of ``GET /api/feature/{model}/{source}/{index}`` (``feature_json`` of
    :func:`features.selectors.feature_get`), with the same errors."""
    import orjson

    from features.api.serializers import (
        comment_json,
        explanation_json,
        feature_stats_json,
        list_json,
        model_json,
        source_json,
    )

    index = parse_index(index)
    row = _feature_row(
        model_name=model_name, source_name=source_name, index=index, user=user, with_activations=True
    )
    if row is None:  # the usual selector says what is missing (and raises)
        return _slow_body(model_name=model_name, source_name=source_name, index=index, user=user)
    model = SimpleNamespace(**{f: row[f"source__model__{f}"] for f in MODEL_FIELDS})
    source = SimpleNamespace(**{f: row[f"source__{f}"] for f in SOURCE_FIELDS})
    source.model = model
    source.source_set = SimpleNamespace(name=row["source__source_set__name"])
    feature = SimpleNamespace(**{f: row[f] for f in FEATURE_FIELDS})
    feature.pk, feature.source = feature.id, source
    body = feature_stats_json(feature)
    body["model"] = model_json(model)
    body["source"] = source_json(source)
    # PostgreSQL's JSON text goes into the response as it is (orjson.Fragment): parsing ~50 kB of
    # snippets into Python objects only to encode them again was a third of the request's CPU
    body["activations"] = orjson.Fragment(row["_activations_json"])
    explanations = (
        list(explanations_for_display(user=user).filter(feature_id=feature.id))
        if row["_has_explanations"]
        else []
    )
    body["explanations"] = [explanation_json(e, feature) for e in explanations]
    lists = (
        list(
            lists_visible(user=user)
            .filter(items__feature_id=feature.id)
            .select_related("owner")
            .order_by("-updated_at")
        )
        if row["_has_lists"]
        else []
    )
    body["lists"] = [{"list": list_json(lst)} for lst in lists]
    comments = (
        list(Comment.objects.filter(feature_id=feature.id).select_related("user").order_by("created_at"))
        if row["_has_comments"]
        else []
    )
    body["comments"] = [comment_json(c, feature) for c in comments]
    return body


def _slow_body(*, model_name: str, source_name: str, index: int, user) -> dict:
    from features.api.serializers import feature_json

    return feature_json(feature_get(model_name=model_name, source_name=source_name, index=index, user=user))


# --- the dashboard page: one query, none compiled per request --------------------------------

# The page's snippets (at most ``per_group`` of each quantile group by max value) and its groups'
# counts, built as JSON by PostgreSQL inside the feature's own row (columns of the compiled
# lookup: ``"features_feature"."id"`` is the feature). ``real`` values print as PostgreSQL's text
# output, which is what psycopg parses on the ORM path (e.g. ``0.1``).
SNIPPET_FIELDS = (
    "id", "tokens", "values", "max_value", "max_value_token_index", "qualifying_token_index",
    "bin_min", "bin_max", "bin_contains",
)  # fmt: skip
DASHBOARD_ACTIVATIONS_JSON_SQL = (
    "SELECT COALESCE(json_agg(json_build_array(" + ", ".join(f"r.{f}" for f in SNIPPET_FIELDS) + ")"
    " ORDER BY r.max_value DESC, r.id), '[]')::text FROM (SELECT a.*, row_number() OVER (PARTITION BY"
    " COALESCE(a.bin_min, -1.0), COALESCE(a.bin_max, -1.0) ORDER BY a.max_value DESC, a.id) AS _rank"
    ' FROM features_activation a WHERE a.feature_id = "features_feature"."id") r WHERE r._rank <= %s'
)
# distinct contexts per group, as the ORM's Count(ROW(tokens, values), distinct=True)
GROUP_COUNTS_JSON_SQL = (
    "SELECT COALESCE(json_agg(json_build_array(g.bin_min, g.bin_max, g.n, g.c) ORDER BY g.bin_min, g.bin_max),"
    " '[]')::text FROM (SELECT bin_min, bin_max, COUNT(DISTINCT ROW(tokens, values)) AS n,"
    ' MAX(bin_contains) AS c FROM features_activation WHERE feature_id = "features_feature"."id"'
    " GROUP BY bin_min, bin_max) g"
)
_PER_GROUP = -2_000_000_017


class DashboardSnippet:
    """One snippet of the dashboard: the ``Activation`` columns the page shows (``pk`` too)."""

    __slots__ = SNIPPET_FIELDS

    def __init__(self, row):
        # JSON has one kind of number: whole floats (3.0) come back as ints; the ORM gives floats
        ident, self.tokens, values, max_value, self.max_value_token_index, self.qualifying_token_index = row[
            :6
        ]
        bin_min, bin_max, bin_contains = row[6:]
        self.id = ident
        self.values = list(map(float, values)) if values is not None else None
        self.max_value = float(max_value)
        self.bin_min = None if bin_min is None else float(bin_min)
        self.bin_max = None if bin_max is None else float(bin_max)
        self.bin_contains = None if bin_contains is None else float(bin_contains)

    @property
    def pk(self):
        return self.id


def _page_query(user) -> CompiledQuery:
    """The feature page's lookup for ``user``'s kind, compiled once (``neuronsite.compiled_query``)."""
    kind = user_kind(user)
    return compiled(("features.page", kind), lambda: _page_queryset(kind), prepare=True)


def _page_queryset(kind: str):
    stand_in = user_stand_in(kind)
    same_source = Feature.objects.filter(source_id=OuterRef("source_id"))
    signed_in = kind != "anonymous"
    qs = (
        Feature.objects.visible_to(stand_in)
        .select_related(
            "source", "source__source_set", "source__model", "source__source_set__release", "creator"
        )
        .filter(source__model__name=_MODEL, source__name=_SOURCE, index=_INDEX)
        .annotate(
            _has_explanations=Exists(Explanation.objects.filter(feature_id=OuterRef("pk"))),
            _has_lists=Exists(ListItem.objects.filter(feature_id=OuterRef("pk"))),
            _has_comments=Exists(Comment.objects.filter(feature_id=OuterRef("pk"))),
            # selectors.feature_adjacent in the same row: previous / next stored index of the
            # source (index-ordered subqueries) and whether the viewer bookmarked it
            prev_index=Subquery(
                same_source.filter(index__lt=OuterRef("index")).order_by("-index").values("index")[:1]
            ),
            next_index=Subquery(
                same_source.filter(index__gt=OuterRef("index")).order_by("index").values("index")[:1]
            ),
            bookmarked=(
                Exists(Bookmark.objects.filter(user_id=USER_ID, feature=OuterRef("pk")))
                if signed_in
                else Value(False)
            ),
        )
    )
    qs = qs.annotate(
        _snippets_json=RawSQL(DASHBOARD_ACTIVATIONS_JSON_SQL, [_PER_GROUP]),
        _groups_json=RawSQL(GROUP_COUNTS_JSON_SQL, []),
    )
    sentinels = {"model": _MODEL, "source": _SOURCE, "index": _INDEX, "per_group": _PER_GROUP}
    if signed_in:
        sentinels["user"] = USER_ID
    return qs, sentinels


def _attach(feature, name: str, objects: list) -> None:
    """Put ``objects`` where ``prefetch_related(name)`` would have (``feature.<name>.all()``).
    For none (the row said there are none), an empty queryset of the related model (``none()``:
    filtering it further stays empty, as the relation's own would) instead of the relation's
    manager and filtered queryset (~2.5x its CPU; three of them on most pages)."""
    if objects:
        qs = getattr(feature, name).all()
    else:
        qs = getattr(Feature, name).rel.related_model._default_manager.none()
    qs._result_cache, qs._prefetch_done = objects, True
    feature.__dict__.setdefault("_prefetched_objects_cache", {})[name] = qs


def feature_dashboard_get(*, model_name: str, source_name: str, index, user, per_group: int = 25) -> Feature:
    """:func:`features.selectors.feature_dashboard_get` (the same feature, groups and errors) in
    ONE query for a feature without explanations, lists or comments (one more for each kind it
    has), none compiled per request, plus ``prev_index``, ``next_index`` and ``bookmarked``
    (:func:`features.selectors.feature_adjacent`). The feature, its source, source set, release
    and model are the ORM's instances; its snippets are :class:`DashboardSnippet` rows (from
    PostgreSQL's JSON: no model instance per snippet)."""
    import orjson
    from django.db.models import Prefetch, prefetch_related_objects

    from features import selectors

    index = parse_index(index)
    values = {
        "model": model_name, "source": source_name, "index": index, "user": getattr(user, "pk", None),
        "per_group": per_group,
    }  # fmt: skip
    feature = _page_query(user).first(**values)
    if feature is None:  # the usual selector says what is missing (and raises)
        return selectors.feature_dashboard_get(
            model_name=model_name, source_name=source_name, index=index, user=user, per_group=per_group
        )
    activations = [DashboardSnippet(row) for row in orjson.loads(feature._snippets_json)]
    _attach(feature, "activations", activations)
    # the querysets are built only for what the row says exists (most features: none of them)
    related = [
        ("explanations", feature._has_explanations, lambda: explanations_for_display(user=user)),
        (
            "lists",
            feature._has_lists,
            lambda: lists_visible(user=user).select_related("owner").order_by("-updated_at"),
        ),
        (
            "comments",
            feature._has_comments,
            lambda: Comment.objects.select_related("user").order_by("created_at"),
        ),
    ]
    for name, present, queryset in related:
        if present:
            prefetch_related_objects([feature], Prefetch(name, queryset=queryset()))
        else:
            _attach(feature, name, [])
    counts = [
        {
            "bin_min": None if a is None else float(a),
            "bin_max": None if b is None else float(b),
            "n": n,
            "contains": None if c is None else float(c),
        }
        for a, b, n, c in orjson.loads(feature._groups_json)
    ]
    feature.activation_groups = selectors.activation_groups(feature=feature, counts=counts)
    return feature


# --- the dashboard's nearest features (decoder cosine), each with its best explanation ----------

# selectors._top_explanation_subquery (most votes, then newest, then id; hidden ones left out) per
# neighbour, written once: the ORM compiled this query (subquery, GROUP BY, Count) on every page
# of a feature with neighbours, about 2-3 ms of CPU, more than the rest of the page's queries.
NEIGHBOURS_SQL = (
    'SELECT f."index", (SELECT e."description" FROM "features_explanation" e'
    ' LEFT OUTER JOIN "features_vote" v ON (e."id" = v."explanation_id")'
    ' WHERE e."feature_id" = f."id" AND NOT (e."status" = %s)'
    ' GROUP BY e."id" ORDER BY COUNT(v."id") DESC, e."created_at" DESC, e."id" ASC LIMIT 1)'
    ' FROM "features_feature" f WHERE f."source_id" = %s AND f."index" = ANY(%s)'
)


def feature_neighbours_explained(*, feature) -> list[dict]:
    """:func:`features.selectors.feature_neighbours_explained` (same list) in one precompiled query."""
    indices = list(feature.topk_cos_sim_indices or [])
    if not indices:
        return []
    with prepared_cursor(connection) as cur:
        cur.execute(NEIGHBOURS_SQL, [Explanation.Status.HIDDEN.value, feature.source_id, indices])
        rows = dict(cur.fetchall())
    values = list(feature.topk_cos_sim_values or [])
    return [
        {
            "index": idx,
            "cosine": values[i] if i < len(values) else None,
            "exists": idx in rows,
            "explanation": rows.get(idx),
        }
        for i, idx in enumerate(indices)
        if idx != feature.index
    ]
