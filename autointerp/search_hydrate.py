"""The API page of a semantic search (``hydrate="api"``) in one raw SQL statement, no model objects.

Building a page of 20 hits through the ORM (explanations with five joined tables, a vote count,
prefetched scores, three top activations per feature as ``Activation`` instances) cost ~16 ms of
Python per query, more than the HNSW ranking itself. Here one fixed statement returns one tuple
per hit, in ranking order: the explanation's fields, its feature, source and model names, its
vote count, its scores and its feature's three best activations as JSON arrays (LATERAL joins),
with their timestamps as ``timestamptz[]`` so they format exactly as the ORM's datetimes do, and
their floats apart from their integers (JSON writes the float 9.0 as ``9``: the float columns are
read with ``parse_int=float``, the score values as ``float8[]``). The
rows become Neuronpedia's JSON directly, the same dicts ``features.api.serializers``
(``explanation_json``, ``activation_json``) build from model objects: ``autointerp/tests/
test_search_hydrate.py`` compares the two on a fixture with every field set.
"""

from __future__ import annotations

import json

from django.contrib.auth import get_user_model
from django.db import connection

from features.api.serializers import _iso, api_bin_contains
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

_SQL: str | None = None


def _sql() -> str:
    global _SQL
    if _SQL is None:
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
        _SQL = (
            "SELECT e.id, e.description, e.status, e.author_id, u.username, t.name, x.name, "
            "e.created_at, e.updated_at, f.index, f.max_act_approx, f.frac_nonzero, f.pos_str, "
            "f.pos_values, s.name, m.name, "
            f'(SELECT count(*) FROM "{t["v"]}" v WHERE v.explanation_id = e.id), '
            "sc.rows, sc.vals, sc.times, a.rows, a.vals, a.times "
            "FROM unnest(%s::bigint[]) WITH ORDINALITY AS w(id, ord) "
            f'JOIN "{t["e"]}" e ON e.id = w.id '
            f'JOIN "{t["f"]}" f ON f.id = e.feature_id '
            f'JOIN "{t["s"]}" s ON s.id = f.source_id '
            f'JOIN "{t["m"]}" m ON m.id = s.model_id '
            f'LEFT JOIN "{t["u"]}" u ON u.id = e.author_id '
            f'LEFT JOIN "{t["t"]}" t ON t.id = e.type_id '
            f'LEFT JOIN "{t["x"]}" x ON x.id = e.explainer_model_id '
            "LEFT JOIN LATERAL (SELECT json_agg(json_build_array(r.id, st.name, sm.name, r.details) "
            "ORDER BY r.id)::text AS rows, array_agg(r.value ORDER BY r.id) AS vals, "
            "array_agg(r.created_at ORDER BY r.id) AS times "
            f'FROM "{t["sc"]}" r JOIN "{t["st"]}" st ON st.id = r.score_type_id '
            f'LEFT JOIN "{t["x"]}" sm ON sm.id = r.scorer_model_id WHERE r.explanation_id = e.id) sc ON true '
            "LEFT JOIN LATERAL (SELECT json_agg(json_build_array(r.id, r.tokens, r.max_value_token_index, "
            "r.qualifying_token_index, r.data_source, r.data_index, r.dfa_target_index, r.creator_id) "
            "ORDER BY r.max_value DESC, r.id)::text AS rows, "
            "json_agg(json_build_array(r.values, r.max_value, r.min_value, r.bin_min, r.bin_max, "
            "r.bin_contains, r.dfa_values, r.dfa_max_value) ORDER BY r.max_value DESC, r.id)::text AS vals, "
            "array_agg(r.created_at ORDER BY r.max_value DESC, r.id) AS times "
            f'FROM (SELECT * FROM "{t["a"]}" y WHERE y.feature_id = f.id '
            "ORDER BY y.max_value DESC, y.id LIMIT %s) r) a ON true "
            "ORDER BY w.ord"
        )
    return _SQL


def api_hits(window: list[tuple[int, int, float]]) -> list[dict]:
    """Neuronpedia's search hits for ``window`` (``(explanation id, feature id, distance)`` in
    ranking order): ``explanation_json`` + ``cosine_similarity`` + ``neuron`` (with the feature's
    three best activations), exactly as ``autointerp.api.search.hit_json`` builds them from model
    objects. Rows deleted since the ranking are left out."""
    if not window:
        return []
    distance = {pk: d for pk, _, d in window}
    with connection.cursor() as cursor:
        cursor.execute(_sql(), [list(distance), TOP_ACTIVATIONS])
        rows = cursor.fetchall()
    loads = json.loads
    hits = []
    for (
        pk,
        description,
        status,
        author_id,
        username,
        type_name,
        explainer_name,
        created_at,
        updated_at,
        index,
        max_act_approx,
        frac_nonzero,
        pos_str,
        pos_values,
        source_name,
        model_name,
        votes,
        score_rows,
        score_values,
        score_times,
        act_rows,
        act_values,
        act_times,
    ) in rows:
        index = str(index)
        scores = []
        if score_rows is not None:
            for (sid, score_type, scorer, details), value, at in zip(
                loads(score_rows), score_values, score_times, strict=True
            ):
                scores.append(
                    {
                        "id": str(sid),
                        "explanationScoreTypeName": score_type,
                        "explanationScoreModelName": scorer,
                        "value": value,
                        "jsonDetails": details or None,
                        "createdAt": _iso(at),
                    }
                )
        activations = []
        if act_rows is not None:
            for act, val, at in zip(
                loads(act_rows), loads(act_values, parse_int=float), act_times, strict=True
            ):
                activations.append(
                    {
                        "id": str(act[0]),
                        "modelId": model_name,
                        "layer": source_name,
                        "source": source_name,
                        "index": index,
                        "tokens": act[1],
                        "values": val[0],
                        "maxValue": val[1],
                        "maxValueTokenIndex": act[2],
                        "minValue": val[2],
                        "binMin": val[3],
                        "binMax": val[4],
                        "binContains": api_bin_contains(val[5]),
                        "qualifyingTokenIndex": act[3],
                        "dataSource": act[4] or None,
                        "dataIndex": act[5],
                        "dfaValues": val[6],
                        "dfaTargetIndex": act[6],
                        "dfaMaxValue": val[7],
                        "creatorId": act[7],
                        "createdAt": _iso(at),
                    }
                )
        hits.append(
            {
                "id": str(pk),
                "modelId": model_name,
                "layer": source_name,
                "source": source_name,
                "index": index,
                "description": description,
                "typeName": type_name,
                "explanationModelName": explainer_name,
                "authorId": author_id,
                "author": {"name": username} if author_id is not None else None,
                "status": status,
                "votes": votes,
                "voted": False,
                "scores": scores,
                "createdAt": _iso(created_at),
                "updatedAt": _iso(updated_at),
                "cosine_similarity": 1.0 - float(distance[pk]),
                "neuron": {
                    "modelId": model_name,
                    "layer": source_name,
                    "index": index,
                    "maxActApprox": max_act_approx,
                    "frac_nonzero": frac_nonzero,
                    "pos_str": pos_str,
                    "pos_values": pos_values,
                    "activations": activations,
                },
            }
        )
    return hits
