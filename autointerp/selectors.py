"""Autointerp reads: semantic explanation search (cosine over the HNSW index of the embeddings
cast to halfvec, re-ranked by the exact cosine), runs.

Visibility (model, source set, source; hidden explanations) is part of the SQL ``WHERE``, so the
``LIMIT`` counts only rows the user may see and pages come back full; pgvector's iterative index
scan (0.8) keeps walking the HNSW graph until enough rows pass the filters.
"""

from __future__ import annotations

import json
from array import array

from django.conf import settings
from django.db import ProgrammingError, connection, transaction
from django.db.models import Count, Prefetch
from psycopg.errors import InvalidSqlStatementName

from autointerp import search_prepared
from autointerp.search_hydrate import TOP_ACTIVATIONS, JsonPage, hits_from_text, page_sql
from autointerp.search_prepared import forget_prepared, prepared_statement
from features.models import EMBEDDING_DIM, Activation, Explanation, ExplanationScore, Feature
from models_app.models import Source, source_chain_visible_q
from neuronsite.errors import ValidationFailed

# HNSW candidate list per query (EXPLANATION_SEARCH_EF_SEARCH), at least twice the rows asked for.
# bench/search at 200,000 rows (index m 16, ef_construction 64), 200 queries: ef_search 100 gave
# recall@20 0.978 but 4 queries found none of their true neighbours (the walk stayed in another
# cluster); 200 found all four; 400 (the old value) reads twice the index pages of 200. The same
# held for the halfvec index built with ef_construction 64 (2026-11-28): ef 100 recall@20 0.987,
# 200 0.997; at topK 50 ef 100 left queries at recall 0. Built with ef_construction 128 (migration
# 0003), ef 100 gives recall@50 0.997 (min 0.96) at 2/3 of the index pages of ef 200 on the old graph.
# 2026-11-28 (S4), 600 queries of bench/search at 200,000 rows, pages of 20 (ef = max(this, 2 x rows
# asked for)): ef 60 recall@20 0.996 but 2 queries at 0; ef 80 and 100 both 0.9997 (min 0.95, none
# below 0.9); ef 80 reads ~11% fewer index pages (2,500 vs 2,800) and its statement ran ~17%
# faster (p50, first-seen vectors). Pages of 50 (the chat monitor's topK) still get ef 102.
# 2026-11-28 (S5), 400 first-seen queries: the queries at recall 0 are walks that never reach the
# query's cluster (also without any filter: not the visibility filter or the iterative scan), a rate
# that falls with ef: 8 of 400 below 0.9 at ef 40, 2 at 60, 1 at 80. Index m 12 or ef_construction 256
# did not lower it (bench/search), so ef stays 80.
EF_SEARCH = int(getattr(settings, "EXPLANATION_SEARCH_EF_SEARCH", 80))
MAX_SCAN_TUPLES = 40_000
ONE_PER_FEATURE_OVERSAMPLE = 5
# the HNSW scan never reaches past MAX_SCAN_TUPLES rows: a page that starts beyond it is empty
# (and an offset of 2**63 never reaches SQL as a LIMIT that overflows bigint)
MAX_SEMANTIC_OFFSET = MAX_SCAN_TUPLES


def _check_query(query: str) -> str:
    query = (query or "").strip()
    if len(query) < 3:
        raise ValidationFailed({"query": "must be at least 3 characters"})
    return query


_QUERY_CACHE_SIZE = 2048
_query_cache: dict[tuple[str, str], list[float]] = {}


def embed_query(query: str) -> tuple[list[float], str]:
    """The query's embedding, cached per process (paging through results, or the same search from
    many users, embeds once). The embedding model itself stays loaded (``engines.embeddings``)."""
    from autointerp.engines.embeddings import get_embedder

    embedder = get_embedder()
    key = (embedder.name, query)
    vector = _query_cache.get(key)
    if vector is None:
        vector = embedder.encode([query])[0]
        if len(_query_cache) >= _QUERY_CACHE_SIZE:
            _query_cache.pop(next(iter(_query_cache)))
        _query_cache[key] = vector
    return vector, embedder.name


_SOURCES_SQL_CACHE_SIZE = 512
_sources_sql_cache: dict[tuple, tuple[str, tuple]] = {}


def _visible_sources_sql(*, user, model_name, source_names, release_name) -> tuple[str, tuple]:
    """SQL (and params) of the ids of the sources in scope that ``user`` may see (the source, its
    model and its source set visible: ``source_chain_visible_q``, the one visibility rule).
    Compiling it cost more than running it, and it depends only on who asks and the scope, so
    the compiled text is kept per (user, staff flag, scope)."""
    authenticated = user is not None and user.is_authenticated
    key = (
        user.pk if authenticated else None,
        bool(authenticated and user.is_staff),
        model_name,
        tuple(source_names) if source_names else None,
        release_name,
    )
    cached = _sources_sql_cache.get(key)
    if cached is not None:
        return cached
    sources = Source.objects.filter(source_chain_visible_q(user, prefix=""))
    if model_name is not None:
        sources = sources.filter(model__name=model_name)
    if source_names:
        sources = sources.filter(name__in=source_names)
    if release_name is not None:
        sources = sources.filter(source_set__release__name=release_name)
    compiled = sources.order_by().values("pk").query.sql_with_params()
    if len(_sources_sql_cache) >= _SOURCES_SQL_CACHE_SIZE:
        _sources_sql_cache.pop(next(iter(_sources_sql_cache)))
    _sources_sql_cache[key] = compiled
    return compiled


_VECTOR_FORMATS: dict[int, str] = {}


def _vector_literal(vector) -> str:
    """The query vector as pgvector's text literal. The column holds float32, so the values are
    rounded to float32 first (``array('f')``, as the server's parse of a longer decimal would) and
    written with 9 significant digits, which give back exactly that float32: the same vector as
    Python's 17-digit ``repr`` of each value, in a third of the client CPU (~0.1 ms against
    ~0.4 ms for 384 values) and 5 kB of text rather than 8 kB to send and parse."""
    values = array("f", vector)
    fmt = _VECTOR_FORMATS.get(len(values))
    if fmt is None:
        fmt = _VECTOR_FORMATS.setdefault(len(values), "[" + ",".join(["%.9g"] * len(values)) + "]")
    return fmt % tuple(values)


# The HNSW index (features migration 0004) is over the embeddings cast to halfvec: the walk
# visits half the bytes per vector. The ranking orders by exactly the indexed expression, then
# re-ranks the rows it took by the exact float32 cosine (the distance every caller reports).
SEARCH_ORDER_SQL = f"(e.embedding::halfvec({EMBEDDING_DIM})) <=> %s::halfvec({EMBEDDING_DIM})"
SEARCH_INDEX = "explanation_embedding_half_hnsw"
# what the migration runs (benchmarks that bulk-load rebuild the index with it)
SEARCH_INDEX_SQL = (
    f"CREATE INDEX IF NOT EXISTS {SEARCH_INDEX} ON features_explanation USING hnsw "
    f"((embedding::halfvec({EMBEDDING_DIM})) halfvec_cosine_ops) WITH (m = 16, ef_construction = 128)"
)
# join_collapse_limit / from_collapse_limit 1: the joins run in the order written (the ranked
# rows first, then each one's rows by primary key). Searching join orders for the page's ten
# tables cost more than running it: planning p50 12.6 ms against 1.6 ms (bench/search rows, load
# ~14), the same plan and execution time.
# plan_cache_mode force_generic_plan: the API page's statement is a prepared statement
# (``search_prepared``) planned once per connection, not once per call (a custom plan of the page's
# statement cost 1.5-3 ms, load ~10; executing the generic plan 0.2 ms, the same plan).
_SETTINGS_SQL = (
    "SELECT set_config('hnsw.ef_search', %s, true), set_config('hnsw.iterative_scan', "
    "'strict_order', true), set_config('hnsw.max_scan_tuples', %s, true), "
    "set_config('enable_sort', 'off', true), set_config('join_collapse_limit', '1', true), "
    "set_config('from_collapse_limit', '1', true), set_config('plan_cache_mode', 'force_generic_plan', true)"
)
_RESET_SQL = (
    "; RESET hnsw.ef_search; RESET hnsw.iterative_scan; RESET hnsw.max_scan_tuples; RESET enable_sort; "
    "RESET join_collapse_limit; RESET from_collapse_limit; RESET plan_cache_mode"
)


def _rank_sql(*, sources: tuple[str, tuple], vector, embedder_name: str, fetch: int) -> tuple[str, list]:
    """The ranking statement: ``(id, feature_id, distance)`` of the ``fetch`` nearest visible
    explanations, nearest first (ties by id). The visible sources are an InitPlan
    (``ARRAY(SELECT ...)``, evaluated once), so the HNSW index is walked in distance order and
    each candidate is checked by one feature primary-key probe."""
    sources_sql, sources_params = sources
    e, f = Explanation._meta.db_table, Feature._meta.db_table
    literal = _vector_literal(vector)
    sql = (
        "SELECT r.id, r.feature_id, r.embedding <=> %s::vector AS distance FROM "
        f'(SELECT e.id, e.feature_id, e.embedding FROM "{e}" e JOIN "{f}" f ON f.id = e.feature_id '
        "WHERE e.embedding IS NOT NULL AND e.embedding_model = %s AND e.status <> %s "
        f"AND f.source_id = ANY(ARRAY({sources_sql})) ORDER BY {SEARCH_ORDER_SQL} LIMIT %s) r "
        "ORDER BY distance, r.id"
    )
    params = [literal, embedder_name, Explanation.Status.HIDDEN, *sources_params, literal, fetch]
    return sql, params


def _run_ranked(sql: str, params: list, *, fetch: int, prepared: bool = False) -> list[tuple]:
    """Run ``sql`` (a statement built on ``_rank_sql``) under the ranking's planner settings, in
    one round trip, and return its rows. ``prepared``: as a prepared statement of this connection
    (PREPARE on its first use, in the same round trip), executed with its generic plan.

    The settings are transaction-local: iterative scans keep walking the graph until the filtered
    LIMIT is filled (in index distance order), up to max_scan_tuples; enable_sort off makes the
    planner take rows in index order (a LIMIT over an ordered HNSW scan) rather than filter-join
    everything and sort it."""
    settings_params = [str(max(EF_SEARCH, min(2 * fetch, 1000))), str(MAX_SCAN_TUPLES)]
    if connection.settings_dict.get("OPTIONS", {}).get("server_side_binding"):
        with transaction.atomic(), connection.cursor() as cursor:  # no multi-statement queries
            cursor.execute(_SETTINGS_SQL, settings_params)
            cursor.execute(sql, params)
            return [tuple(r) for r in cursor.fetchall()]
    if prepared and search_prepared.ENABLED:
        try:
            return _run(sql, params, settings_params, prepared=True)
        except ProgrammingError as exc:
            if not isinstance(exc.__cause__, InvalidSqlStatementName):
                raise
            # the server lost the connection's prepared statements (DISCARD ALL, a pooler that
            # hands out another session): forget them and prepare again
            forget_prepared()
            return _run(sql, params, settings_params, prepared=True)
    return _run(sql, params, settings_params, prepared=False)


def _run(sql: str, params: list, settings_params: list, *, prepared: bool) -> list[tuple]:
    if connection.in_atomic_block:  # inside the caller's transaction: put the settings back after
        head, tail = "", _RESET_SQL
    else:
        head, tail = "BEGIN; ", "; COMMIT"
    statement, names, name, savepoint = sql, None, None, False
    if prepared:
        before, statement, names, name = prepared_statement(sql, params)
        head = f"{head}{before}"
        if connection.in_atomic_block:  # a lost prepared statement must not abort the caller's
            savepoint = True
            head, tail = (
                f"SAVEPOINT explanation_search; {head}",
                f"; RELEASE SAVEPOINT explanation_search{tail}",
            )
    with connection.cursor() as cursor:
        try:
            cursor.execute(f"{head}{_SETTINGS_SQL}; {statement}{tail}", [*settings_params, *params])
        except Exception:
            if savepoint:
                cursor.execute(
                    "ROLLBACK TO SAVEPOINT explanation_search; RELEASE SAVEPOINT explanation_search"
                )
            elif not connection.in_atomic_block:
                cursor.execute("ROLLBACK")
            raise
        if names is not None:
            names[sql] = name
        raw = cursor.cursor
        results = 0
        while True:  # the statements' results in order: the settings' row, then ours
            if raw.description is not None:
                results += 1
                if results == 2:
                    return [tuple(r) for r in raw.fetchall()]
            if not raw.nextset():
                return []


def _ranked_ids(
    *, vector, embedder_name: str, sources: tuple[str, tuple], fetch: int
) -> list[tuple[int, int, float]]:
    """``(id, feature_id, distance)`` of the ``fetch`` nearest visible explanations."""
    sql, params = _rank_sql(sources=sources, vector=vector, embedder_name=embedder_name, fetch=fetch)
    return _run_ranked(sql, params, fetch=fetch)


def _light_rows(
    *, vector, embedder_name: str, sources: tuple[str, tuple], offset: int, limit: int
) -> tuple[list[dict], bool]:
    """The chat monitor's steer search page (``hydrate="light"``) in the ranking's own statement:
    per explanation its description, its feature's index, max activation and quantiles, and its
    source."""
    fetch = offset + limit + 1
    rank_sql, params = _rank_sql(sources=sources, vector=vector, embedder_name=embedder_name, fetch=fetch)
    e, f, s = Explanation._meta.db_table, Feature._meta.db_table, Source._meta.db_table
    sql = (
        "SELECT k.id, k.feature_id, k.distance, e.description, f.index, f.max_act_approx, "
        f'f.activation_quantiles::text, s.name, s.layer FROM ({rank_sql}) k JOIN "{e}" e ON e.id = k.id '
        f'JOIN "{f}" f ON f.id = k.feature_id JOIN "{s}" s ON s.id = f.source_id '
        "ORDER BY k.distance, k.id"
    )
    rows = _run_ranked(sql, params, fetch=fetch)
    page = [
        {
            "id": pk,
            "feature_id": feature_id,
            "similarity": 1.0 - float(distance),
            "description": description,
            "index": index,
            "max_act_approx": max_act,
            "activation_quantiles": json.loads(quantiles) if quantiles else {},
            "source": source,
            "layer": layer,
        }
        for pk, feature_id, distance, description, index, max_act, quantiles, source, layer in rows[
            offset : offset + limit
        ]
    ]
    return page, len(rows) > offset + limit


def _api_page(
    *, vector, embedder_name: str, sources: tuple[str, tuple], offset: int, limit: int, one_per_feature: bool
) -> tuple[JsonPage, bool]:
    """The API's page (``hydrate="json"``) in one statement, one round trip: the ranking, one hit
    per feature when asked (each feature's nearest explanation), the window
    ``[offset, offset + limit)``, whether more follow, and the page's JSON text
    (``search_hydrate.page_sql`` over the window) with its number of hits."""
    want = offset + limit + 1
    fetch = want * ONE_PER_FEATURE_OVERSAMPLE if one_per_feature else want
    ranked, params = _rank_sql(sources=sources, vector=vector, embedder_name=embedder_name, fetch=fetch)
    if one_per_feature:
        ranked = (
            f"SELECT DISTINCT ON (feature_id) id, feature_id, distance FROM ({ranked}) d "
            "ORDER BY feature_id, distance, id"
        )
    sql = (
        "WITH k AS MATERIALIZED (SELECT id, distance, row_number() OVER (ORDER BY distance, id) AS ord "
        f"FROM ({ranked}) r), w AS (SELECT id, distance, ord FROM k WHERE ord > %s AND ord <= %s) "
        f"SELECT EXISTS (SELECT 1 FROM k WHERE ord > %s), p.hits, p.n FROM ({page_sql('w')}) p"
    )
    rows = _run_ranked(
        sql, [*params, offset, offset + limit, offset + limit, TOP_ACTIVATIONS], fetch=fetch, prepared=True
    )
    if not rows:
        return JsonPage("[]", 0), False
    has_more, text, count = rows[0]
    return JsonPage(text or "[]", int(count)), bool(has_more)


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
    hydrate: str = "api",
) -> tuple[list, bool]:
    """Visible explanations nearest in meaning to ``query`` (cosine), ``(page, has_more)``.
    ``hydrate="api"``: the page is the API's hits as plain dicts (Neuronpedia's JSON, with
    scores, votes and the feature's 3 best activations), built by one raw SQL statement
    (``autointerp.search_hydrate``: the ORM cost more than the ranking); ``hydrate="json"``: the
    same page unparsed, a ``search_hydrate.JsonPage`` (the JSON text and its number of hits),
    which the API sends as it is. Otherwise the page is
    ``Explanation`` objects, each with ``similarity`` and ``feature__source__model``:
    ``hydrate="orm"`` also loads its scores and ``top_activations`` (3) (the same page as "api"
    through the ORM, kept as the reference the raw path is tested and benchmarked against);
    ``hydrate="page"`` (the search page) does not; ``hydrate="light"`` (the chat monitor's steer
    search): plain dicts read by the ranking statement itself (``id``, ``feature_id``,
    ``similarity``, ``description``, the feature's ``index``, ``max_act_approx`` and
    ``activation_quantiles``, its ``source`` name and ``layer``)."""
    query = _check_query(query)
    if vector is None:
        vector, embedder_name = embed_query(query)
    if offset >= MAX_SEMANTIC_OFFSET:
        return (JsonPage("[]", 0) if hydrate == "json" else []), False
    sources = _visible_sources_sql(
        user=user, model_name=model_name, source_names=source_names, release_name=release_name
    )
    scope = {
        "vector": vector,
        "embedder_name": embedder_name,
        "sources": sources,
        "offset": offset,
        "limit": limit,
    }
    if hydrate in ("api", "json"):
        page, has_more = _api_page(**scope, one_per_feature=one_per_feature)
        return (page if hydrate == "json" else hits_from_text(page.text)), has_more
    if hydrate == "light":
        return _light_rows(**scope)
    want = offset + limit + 1
    fetch = want * ONE_PER_FEATURE_OVERSAMPLE if one_per_feature else want
    ids = _ranked_ids(vector=vector, embedder_name=embedder_name, sources=sources, fetch=fetch)
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
    if not distance:
        return [], has_more
    # not the 384 floats of each row's embedding: parsing them cost more than the rest of the row
    qs = (
        Explanation.objects.filter(pk__in=list(distance))
        .defer("embedding")
        .annotate(vote_count=Count("votes"))
    )
    if hydrate == "orm":
        qs = qs.select_related(
            "feature__source__model", "feature__source__source_set", "type", "author", "explainer_model"
        )
    else:  # the page shows the feature reference, text, type, author and votes
        qs = qs.select_related("feature__source__model", "type", "author")
    if hydrate == "orm":
        qs = qs.prefetch_related(
            Prefetch(
                "scores",
                queryset=ExplanationScore.objects.select_related("score_type", "scorer_model").order_by("id"),
            )
        )
    rows = {e.pk: e for e in qs}
    page = [rows[pk] for pk, _, _ in window if pk in rows]
    for e in page:
        e.similarity = 1.0 - float(distance[e.pk])
    if hydrate == "orm":
        attach_top_activations(page)
    return page, has_more


def attach_top_activations(explanations: list[Explanation], n: int = 3) -> None:
    """Set ``top_activations`` (the feature's best ``n`` by max value) on each, in one query: per
    feature, the first ``n`` rows of the (feature, -max_value) index (a LATERAL join; fixed SQL
    text, nothing to compile per call)."""
    feature_ids = list(dict.fromkeys(e.feature_id for e in explanations))
    if not feature_ids:
        return
    table = Activation._meta.db_table
    rows = Activation.objects.raw(
        f"SELECT a.* FROM unnest(%s::bigint[]) WITH ORDINALITY AS f(id, ord) CROSS JOIN LATERAL "
        f'(SELECT * FROM "{table}" x WHERE x.feature_id = f.id ORDER BY x.max_value DESC, x.id LIMIT %s) a '
        "ORDER BY f.ord, a.max_value DESC, a.id",
        [feature_ids, n],
    )
    by_feature: dict[int, list] = {}
    for row in rows:
        by_feature.setdefault(row.feature_id, []).append(row)
    for e in explanations:
        e.top_activations = by_feature.get(e.feature_id, [])
