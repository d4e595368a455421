"""The API page of a semantic search (``hydrate="api"``) in one raw SQL statement, no model objects.

Building a page of 20 hits through the ORM (explanations with five joined tables, a vote count,
prefetched scores, three top activations per feature as ``Activation`` instances) cost ~16 ms of
Python per query, more than the HNSW ranking itself. Here one fixed statement (no SQL compiled
per call) returns the whole page as one JSON text, built by PostgreSQL in ranking order with the
API's keys in the API's order: the explanation, its feature, source and model, its vote count,
its scores and its feature's three best activations (LATERAL joins on their indexes), timestamps
formatted as ``_iso`` formats them.

The API sends that text as it is (``autointerp.api.search``: spliced into the response body, not
parsed and rendered again), so it is the API's JSON as PostgreSQL writes it: integers as JSON
numbers, score details as their JSON, floats in PostgreSQL's shortest exact form. It is the same
JSON *value* as ``features.api.serializers`` (``explanation_json``, ``activation_json``) builds from
model objects, not the same bytes: PostgreSQL writes the float 9.0 as ``9`` (a JSON number either
way), and a NaN or infinity would come out as a string, but none can occur (scores, activations and
feature statistics are checked finite when written). ``autointerp/tests/test_search_hydrate.py``
compares the parsed pages on a fixture with every field set.
"""

from __future__ import annotations

import json
from typing import NamedTuple

from django.contrib.auth import get_user_model
from django.db import connection

from features.models import (
    Activation,
    ExplainerModel,
    Explanation,
    ExplanationScore,
    ExplanationScoreType,
    ExplanationType,
    Feature,
    Vote,
)
from models_app.models import Model, Source

TOP_ACTIVATIONS = 3


def _iso_sql(column: str) -> str:
    """SQL for ``features.api.serializers._iso`` of a timestamptz: ``datetime.isoformat()`` in UTC
    with ``Z``, microseconds only when there are any: one ``to_char`` with microseconds, whose
    ``.000000`` is dropped (it was a conversion to UTC, an ``extract`` and two ``to_char`` calls
    per timestamp; a page formats ~140)."""
    return (
        f"replace(to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), '.000000Z', 'Z')"
    )


_SQL: dict[str, str] = {}
UNNEST_WINDOW = "unnest(%s::bigint[], %s::float8[]) WITH ORDINALITY AS w(id, distance, ord)"


def page_sql(window: str = UNNEST_WINDOW) -> str:
    """The page as one JSON text, hits in ranking order, objects with the API's keys in its order,
    over ``window``: a FROM item named ``w`` with columns ``(id, distance, ord)`` (the ranked
    explanations; by default two arrays of parameters, or a CTE of the statement that ranks
    them, ``autointerp.selectors``), its last parameter the number of activations per hit.
    The statement's row is ``(hits, n)``: the JSON text (NULL for no hits) and their number.
    """
    if window not in _SQL:
        t = {
            name: model._meta.db_table
            for name, model in {
                "e": Explanation,
                "f": Feature,
                "s": Source,
                "m": Model,
                "u": get_user_model(),
                "t": ExplanationType,
                "x": ExplainerModel,
                "sc": ExplanationScore,
                "st": ExplanationScoreType,
                "v": Vote,
                "a": Activation,
            }.items()
        }
        score = (
            "json_build_object('id', r.id::text, 'explanationScoreTypeName', st.name, "
            "'explanationScoreModelName', sm.name, 'value', r.value, 'jsonDetails', "
            "CASE WHEN r.details IN ('{}', '[]', '\"\"', '0', 'false', 'null') THEN NULL "
            # the jsonb itself: json_build_object writes its text as it is (a ``::json`` cast
            # would parse that text again to validate it; the same output)
            f"ELSE r.details END, 'createdAt', {_iso_sql('r.created_at')})"
        )
        activation = (
            "json_build_object('id', r.id::text, 'modelId', m.name, 'layer', s.name, 'source', s.name, "
            "'index', f.index::text, 'tokens', r.tokens, 'values', r.values, 'maxValue', r.max_value, "
            "'maxValueTokenIndex', r.max_value_token_index, 'minValue', r.min_value, "
            "'binMin', r.bin_min, 'binMax', r.bin_max, "
            "'binContains', CASE WHEN r.bin_contains < 0 THEN NULL ELSE r.bin_contains END, "
            "'qualifyingTokenIndex', r.qualifying_token_index, 'dataSource', NULLIF(r.data_source, ''), "
            "'dataIndex', r.data_index, 'dfaValues', r.dfa_values, "
            "'dfaTargetIndex', r.dfa_target_index, 'dfaMaxValue', r.dfa_max_value, "
            f"'creatorId', r.creator_id, 'createdAt', {_iso_sql('r.created_at')})"
        )
        hit = (
            "json_build_object('id', e.id::text, 'modelId', m.name, 'layer', s.name, 'source', s.name, "
            "'index', f.index::text, 'description', e.description, 'typeName', t.name, "
            "'explanationModelName', x.name, 'authorId', e.author_id, 'author', "
            "CASE WHEN e.author_id IS NULL THEN NULL ELSE json_build_object('name', u.username) END, "
            "'status', e.status, "
            f"""'votes', (SELECT count(*) FROM "{t["v"]}" v WHERE v.explanation_id = e.id), """
            "'voted', false, 'scores', coalesce(sc.rows, '[]'::json), "
            f"'createdAt', {_iso_sql('e.created_at')}, 'updatedAt', {_iso_sql('e.updated_at')}, "
            "'cosine_similarity', 1.0::float8 - w.distance, "
            "'neuron', json_build_object('modelId', m.name, 'layer', s.name, 'index', f.index::text, "
            "'maxActApprox', f.max_act_approx, 'frac_nonzero', f.frac_nonzero, 'pos_str', f.pos_str, "
            "'pos_values', f.pos_values, 'activations', coalesce(a.rows, '[]'::json)))"
        )
        _SQL[window] = (
            f"SELECT json_agg({hit} ORDER BY w.ord)::text AS hits, count(*) AS n "
            f"FROM {window} "
            f'JOIN "{t["e"]}" e ON e.id = w.id '
            f'JOIN "{t["f"]}" f ON f.id = e.feature_id '
            f'JOIN "{t["s"]}" s ON s.id = f.source_id '
            f'JOIN "{t["m"]}" m ON m.id = s.model_id '
            f'LEFT JOIN "{t["u"]}" u ON u.id = e.author_id '
            f'LEFT JOIN "{t["t"]}" t ON t.id = e.type_id '
            f'LEFT JOIN "{t["x"]}" x ON x.id = e.explainer_model_id '
            # ``r.id + 0``: no index yields this order, so the planner reads the explanation's scores
            # by their explanation_id index and sorts them, even under the ranking's enable_sort
            # off (the page is planned in the ranking's statement), which otherwise walks the
            # whole primary key in id order to skip the sort
            f"LEFT JOIN LATERAL (SELECT json_agg({score} ORDER BY r.id + 0) AS rows "
            f'FROM "{t["sc"]}" r JOIN "{t["st"]}" st ON st.id = r.score_type_id '
            f'LEFT JOIN "{t["x"]}" sm ON sm.id = r.scorer_model_id WHERE r.explanation_id = e.id) sc ON true '
            f"LEFT JOIN LATERAL (SELECT json_agg({activation} ORDER BY r.max_value DESC, r.id) AS rows "
            f'FROM (SELECT * FROM "{t["a"]}" y WHERE y.feature_id = f.id '
            "ORDER BY y.max_value DESC, y.id LIMIT %s) r) a ON true"
        )
    return _SQL[window]


class JsonPage(NamedTuple):
    """A page of hits as PostgreSQL wrote it: ``text`` (a JSON array, sent as it is) and ``count``
    (its number of hits)."""

    text: str
    count: int


def api_hits(window: list[tuple[int, int, float]]) -> list[dict]:
    """Neuronpedia's search hits for ``window`` (``(explanation id, feature id, distance)`` in
    ranking order): ``explanation_json`` + ``cosine_similarity`` + ``neuron`` (with the feature's
    three best activations), the same JSON as ``autointerp.api.search.hit_json`` builds from model
    objects. Rows deleted since the ranking are left out."""
    if not window:
        return []
    with connection.cursor() as cursor:
        cursor.execute(
            page_sql(), [[pk for pk, _, _ in window], [float(d) for _, _, d in window], TOP_ACTIVATIONS]
        )
        text, _ = cursor.fetchone()
    return hits_from_text(text)


def hits_from_text(text: str | None) -> list[dict]:
    """The hits of ``page_sql``'s JSON text as dicts (a float such as 9.0 comes back as the int 9,
    which compares equal)."""
    return json.loads(text) if text is not None else []
