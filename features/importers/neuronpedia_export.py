"""Export sources in Neuronpedia's layout (see ``neuronpedia_layout``).

Rows are turned into JSON by PostgreSQL (``json_build_object``): real columns print in their
shortest exact form and nothing is loaded as Python objects. Batches are 1,024 features (by index)
with their activations and explanations; identifiers of activations and explanations are derived
from the feature and the row's rank, so that export -> import -> export gives identical files.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import orjson
from django.db import connection

from features.importers.neuronpedia_layout import DEFAULT_BATCH_SIZE, SQL_ISO, iso, open_gz_writer
from models_app.models import Model, Source

_FEATURE_JSON = f"""
json_build_object(
  'modelId', m.name, 'layer', s.name, 'index', f."index"::text, 'sourceSetName', ss.name,
  'creatorId', u.username, 'createdAt', {SQL_ISO.format(col="f.created_at")},
  'maxActApprox', f.max_act_approx, 'hasVector', f.has_vector, 'vector', coalesce(f.vector, '{{}}'),
  'vectorLabel', nullif(f.vector_label, ''), 'vectorDefaultSteerStrength', f.vector_default_steer_strength,
  'hookName', nullif(f.hook_name, ''),
  'topkCosSimIndices', f.topk_cos_sim_indices, 'topkCosSimValues', f.topk_cos_sim_values,
  'neuron_alignment_indices', f.neuron_alignment_indices, 'neuron_alignment_values', f.neuron_alignment_values,
  'neuron_alignment_l1', f.neuron_alignment_l1,
  'correlated_neurons_indices', f.correlated_neurons_indices, 'correlated_neurons_pearson', f.correlated_neurons_pearson,
  'correlated_neurons_l1', f.correlated_neurons_l1,
  'correlated_features_indices', f.correlated_features_indices,
  'correlated_features_pearson', f.correlated_features_pearson, 'correlated_features_l1', f.correlated_features_l1,
  'neg_str', f.neg_str, 'neg_values', f.neg_values, 'pos_str', f.pos_str, 'pos_values', f.pos_values,
  'frac_nonzero', f.frac_nonzero,
  'freq_hist_data_bar_heights', f.freq_hist_data_bar_heights, 'freq_hist_data_bar_values', f.freq_hist_data_bar_values,
  'logits_hist_data_bar_heights', f.logits_hist_data_bar_heights,
  'logits_hist_data_bar_values', f.logits_hist_data_bar_values,
  'decoder_weights_dist', f.decoder_weights_dist,
  'umap_cluster', f.umap_cluster, 'umap_log_feature_sparsity', f.umap_log_feature_sparsity,
  'umap_x', f.umap_x, 'umap_y', f.umap_y, 'activation_quantiles', f.activation_quantiles
)::text
"""

_FEATURES_SQL = f"""
SELECT f."index", {_FEATURE_JSON}
FROM features_feature f
JOIN models_app_source s ON s.id = f.source_id
JOIN models_app_sourceset ss ON ss.id = s.source_set_id
JOIN models_app_model m ON m.id = s.model_id
LEFT JOIN accounts_user u ON u.id = f.creator_id
WHERE f.source_id = %s AND f."index" > %s
ORDER BY f."index"
LIMIT %s
"""

_ACTIVATIONS_SQL = f"""
SELECT json_build_object(
  'id', concat_ws(':', m.name, s.name, f."index", 'a' || row_number() OVER w),
  'modelId', m.name, 'layer', s.name, 'index', f."index"::text,
  'creatorId', u.username, 'createdAt', {SQL_ISO.format(col="a.created_at")},
  'dataSource', nullif(a.data_source, ''), 'dataIndex', a.data_index,
  'tokens', a.tokens, 'values', a."values",
  'maxValue', a.max_value, 'maxValueTokenIndex', a.max_value_token_index, 'minValue', a.min_value,
  'dfaValues', a.dfa_values, 'dfaTargetIndex', a.dfa_target_index, 'dfaMaxValue', a.dfa_max_value,
  'binMin', a.bin_min, 'binMax', a.bin_max, 'binContains', a.bin_contains,
  'qualifyingTokenIndex', a.qualifying_token_index
)::text
FROM features_activation a
JOIN features_feature f ON f.id = a.feature_id
JOIN models_app_source s ON s.id = f.source_id
JOIN models_app_model m ON m.id = s.model_id
LEFT JOIN accounts_user u ON u.id = a.creator_id
WHERE f.source_id = %s AND f."index" BETWEEN %s AND %s
WINDOW w AS (PARTITION BY a.feature_id ORDER BY a.max_value DESC, a.id)
ORDER BY f."index", a.max_value DESC, a.id
"""

_EXPLANATIONS_SQL = f"""
SELECT json_build_object(
  'id', concat_ws(':', m.name, s.name, f."index", 'e' || row_number() OVER w),
  'modelId', m.name, 'layer', s.name, 'index', f."index"::text,
  'description', e.description, 'authorId', u.username,
  'typeName', t.name, 'explanationModelName', em.name,
  'scoreV1', 0, 'scoreV2', NULL, 'notes', nullif(e.notes, ''), 'status', e.status,
  'createdAt', {SQL_ISO.format(col="e.created_at")}, 'updatedAt', {SQL_ISO.format(col="e.updated_at")}
)::text
FROM features_explanation e
JOIN features_feature f ON f.id = e.feature_id
JOIN models_app_source s ON s.id = f.source_id
JOIN models_app_model m ON m.id = s.model_id
LEFT JOIN accounts_user u ON u.id = e.author_id
LEFT JOIN features_explanationtype t ON t.id = e.type_id
LEFT JOIN features_explainermodel em ON em.id = e.explainer_model_id
WHERE f.source_id = %s AND f."index" BETWEEN %s AND %s
WINDOW w AS (PARTITION BY e.feature_id ORDER BY e.created_at, e.id)
ORDER BY f."index", e.created_at, e.id
"""


def _username(user) -> str | None:
    return user.username if user is not None else None


def model_row(model: Model, *, neurons_per_layer: int | None) -> dict:
    return {
        "id": model.name,
        "displayNameShort": model.display_name_short,
        "displayName": model.display_name,
        "creatorId": _username(model.owner),
        "tlensId": model.tl_model_name or None,
        "hfModelId": model.hf_model_id or None,
        "dimension": model.d_model,
        "visibility": model.visibility,
        "defaultSourceSetName": model.default_source_set.name if model.default_source_set_id else None,
        "defaultSourceId": model.default_source.name if model.default_source_id else None,
        "inferenceEnabled": model.inference_enabled,
        "instruct": model.instruct,
        "layers": model.layers,
        "neuronsPerLayer": neurons_per_layer or 0,
        "owner": model.creator_name,
        "website": model.website or None,
        "createdAt": iso(model.created_at),
        "updatedAt": iso(model.updated_at),
    }


def release_row(release) -> dict:
    return {
        "name": release.name,
        "visibility": release.visibility,
        "featured": release.featured,
        "description": release.description,
        "descriptionShort": release.description_short or None,
        "urls": release.urls,
        "creatorName": release.creator_name,
        "creatorId": _username(release.owner),
        "createdAt": iso(release.created_at),
    }


def source_set_row(ss) -> dict:
    return {
        "modelId": ss.model.name,
        "name": ss.name,
        "hasDashboards": ss.has_dashboards,
        "allowInferenceSearch": ss.allow_inference_search,
        "allowSteering": ss.allow_steering,
        "visibility": ss.visibility,
        "description": ss.description,
        "type": ss.type,
        "creatorName": ss.creator_name,
        "urls": ss.urls,
        "creatorId": _username(ss.owner),
        "releaseName": ss.release.name if ss.release_id else None,
        "hasGraphs": ss.allow_graphs,
        "graphEnabled": ss.allow_graphs,
        "showUmap": ss.show_umap,
        "createdAt": iso(ss.created_at),
    }


def source_row(source: Source) -> dict:
    return {
        "id": source.name,
        "modelId": source.model.name,
        "setName": source.source_set.name,
        "layerNumber": source.layer,
        "hookName": source.hook_name or None,
        "hasDashboards": source.has_dashboards,
        "inferenceEnabled": source.inference_enabled,
        "saelensConfig": source.config or None,
        "saelensRelease": source.sae_release or None,
        "saelensSaeId": source.sae_id or None,
        "architecture": source.architecture or None,
        "dSae": source.d_sae,
        "visibility": source.visibility,
        "creatorId": _username(source.owner),
        "num_prompts": source.num_prompts,
        "num_tokens_in_prompt": source.num_tokens_in_prompt,
        "dataset": source.dataset or None,
        "createdAt": iso(source.created_at),
    }


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))


def _write_query(path: Path, sql: str, params: list) -> int:
    n = 0
    out = open_gz_writer(path)
    try:
        with connection.cursor() as cur:
            cur.execute(sql, params)
            while rows := cur.fetchmany(2000):
                out.write(b"".join(r[-1].encode() + b"\n" for r in rows))
                n += len(rows)
    finally:
        out.close()
    return n


def source_export(
    *,
    source: Source,
    out_dir: Path,
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_batch: Callable[[int, int, int], None] | None = None,
) -> dict:
    """Write one source's folder; returns counts. ``on_batch(features, activations, explanations)``
    is called after each batch (progress)."""
    source = Source.objects.select_related(
        "model",
        "model__owner",
        "model__default_source_set",
        "model__default_source",
        "source_set",
        "source_set__release",
        "source_set__release__owner",
        "source_set__owner",
        "owner",
    ).get(pk=source.pk)
    folder = Path(out_dir) / source.model.name / source.name
    for kind in ("features", "activations", "explanations"):
        (folder / kind).mkdir(parents=True, exist_ok=True)
        for old in (folder / kind).glob("batch-*.jsonl*"):
            old.unlink()
    _write_jsonl(folder / "model.jsonl", [model_row(source.model, neurons_per_layer=source.d_sae)])
    release = source.source_set.release
    if release is not None:
        _write_jsonl(folder / "release.jsonl", [release_row(release)])
    _write_jsonl(folder / "sourceset.jsonl", [source_set_row(source.source_set)])
    _write_jsonl(folder / "source.jsonl", [source_row(source)])

    totals = {"features": 0, "activations": 0, "explanations": 0, "batches": 0}
    last_index, batch = -1, 0
    while True:
        with connection.cursor() as cur:
            cur.execute(_FEATURES_SQL, [source.pk, last_index, batch_size])
            rows = cur.fetchall()
        if not rows:
            break
        first, last = rows[0][0], rows[-1][0]
        out = open_gz_writer(folder / "features" / f"batch-{batch}.jsonl.gz")
        try:
            out.write(b"".join(r[1].encode() + b"\n" for r in rows))
        finally:
            out.close()
        acts = _write_query(
            folder / "activations" / f"batch-{batch}.jsonl.gz", _ACTIVATIONS_SQL, [source.pk, first, last]
        )
        exps = _write_query(
            folder / "explanations" / f"batch-{batch}.jsonl.gz", _EXPLANATIONS_SQL, [source.pk, first, last]
        )
        totals["features"] += len(rows)
        totals["activations"] += acts
        totals["explanations"] += exps
        totals["batches"] += 1
        if on_batch:
            on_batch(len(rows), acts, exps)
        last_index, batch = last, batch + 1
    return totals
