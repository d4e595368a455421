"""Neuronpedia's JSON shapes for features, activations, explanations, lists and comments.

Plain functions over prefetched objects (DRF serializers per row are too slow for thousands of
activation snippets). Field names follow Neuronpedia's webapp API so its clients work as-is.
"""

from __future__ import annotations

from features.models import Activation, Comment, Explanation, Feature, List


def _iso(dt) -> str | None:
    return dt.isoformat().replace("+00:00", "Z") if dt else None


def source_json(source) -> dict:
    return {
        "id": source.name,
        "modelId": source.model.name,
        "setName": source.source_set.name,
        "layer": source.layer,
        "hookName": source.hook_name,
        "saelensRelease": source.sae_release or None,
        "saelensSaeId": source.sae_id or None,
        "saelensConfig": source.config or None,
        "dSae": source.d_sae,
        "architecture": source.architecture or None,
        "dataset": source.dataset or None,
        "numPrompts": source.num_prompts,
        "numTokensInPrompt": source.num_tokens_in_prompt,
        "visibility": source.visibility,
        "inferenceEnabled": source.inference_enabled,
        "hasDashboards": source.has_dashboards,
        "createdAt": _iso(source.created_at),
    }


def api_bin_contains(value: float | None) -> float | None:
    """``binContains`` as clients read it: a fraction in [0, 1] or null. SAEDashboard marks the
    top-activations group with ``bin_contains = -1`` (and ``bin_min = -1``); the official client
    rejects a fraction outside [0, 1], so that group is served as ``binContains: null`` with
    ``binMin: -1`` kept, which is how the SAEDashboard meaning is recovered (README, "API")."""
    if value is None or value < 0:
        return None
    return value


def activation_json(act: Activation, feature: Feature) -> dict:
    return {
        "id": str(act.pk),
        "modelId": feature.source.model.name,
        "layer": feature.source.name,
        "source": feature.source.name,
        "index": str(feature.index),
        "tokens": act.tokens,
        "values": act.values,
        "maxValue": act.max_value,
        "maxValueTokenIndex": act.max_value_token_index,
        "minValue": act.min_value,
        "binMin": act.bin_min,
        "binMax": act.bin_max,
        "binContains": api_bin_contains(act.bin_contains),
        "qualifyingTokenIndex": act.qualifying_token_index,
        "dataSource": act.data_source or None,
        "dataIndex": act.data_index,
        "dfaValues": act.dfa_values,
        "dfaTargetIndex": act.dfa_target_index,
        "dfaMaxValue": act.dfa_max_value,
        "creatorId": act.creator_id,
        "createdAt": _iso(act.created_at),
    }


def search_neuron_json(feature: Feature) -> dict:
    """The ``neuron`` of an explanation search hit (Neuronpedia's shape)."""
    return {
        "modelId": feature.source.model.name,
        "layer": feature.source.name,
        "index": str(feature.index),
        "maxActApprox": feature.max_act_approx,
        "frac_nonzero": feature.frac_nonzero,
        "pos_str": feature.pos_str,
        "pos_values": feature.pos_values,
    }


def explanation_json(exp: Explanation, feature: Feature) -> dict:
    return {
        "id": str(exp.pk),
        "modelId": feature.source.model.name,
        "layer": feature.source.name,
        "source": feature.source.name,
        "index": str(feature.index),
        "description": exp.description,
        "typeName": exp.type.name if exp.type_id else None,
        "explanationModelName": exp.explainer_model.name if exp.explainer_model_id else None,
        "authorId": exp.author_id,
        "author": {"name": exp.author.username} if exp.author_id else None,
        "status": exp.status,
        "votes": getattr(exp, "vote_count", None),
        "voted": getattr(exp, "voted", False),
        "scores": [
            {
                "id": str(score.pk),
                "explanationScoreTypeName": score.score_type.name,
                "explanationScoreModelName": score.scorer_model.name if score.scorer_model_id else None,
                "value": score.value,
                "jsonDetails": score.details or None,
                "createdAt": _iso(score.created_at),
            }
            for score in exp.scores.all()
        ],
        "createdAt": _iso(exp.created_at),
        "updatedAt": _iso(exp.updated_at),
    }


def list_json(lst: List) -> dict:
    return {
        "id": str(lst.pk),
        "name": lst.name,
        "description": lst.description,
        "testText": lst.default_test_text or None,
        "visibility": lst.visibility,
        "userId": lst.owner_id,
        "user": {"name": lst.owner.username},
        "createdAt": _iso(lst.created_at),
        "updatedAt": _iso(lst.updated_at),
    }


def comment_json(comment: Comment, feature: Feature) -> dict:
    return {
        "id": str(comment.pk),
        "modelId": feature.source.model.name,
        "layer": feature.source.name,
        "index": str(feature.index),
        "text": comment.text,
        "userId": comment.user_id,
        "user": {"name": comment.user.username},
        "createdAt": _iso(comment.created_at),
    }


def feature_stats_json(feature: Feature) -> dict:
    source = feature.source
    return {
        "modelId": source.model.name,
        "layer": source.name,
        "index": str(feature.index),
        "sourceSetName": source.source_set.name,
        "creatorId": feature.creator_id,
        "createdAt": _iso(feature.created_at),
        "maxActApprox": feature.max_act_approx,
        "hasVector": feature.has_vector,
        "vector": feature.vector or [],
        "vectorLabel": feature.vector_label or None,
        "vectorDefaultSteerStrength": feature.vector_default_steer_strength,
        "hookName": feature.hook_name or source.hook_name or None,
        "topkCosSimIndices": feature.topk_cos_sim_indices,
        "topkCosSimValues": feature.topk_cos_sim_values,
        "neuron_alignment_indices": feature.neuron_alignment_indices,
        "neuron_alignment_values": feature.neuron_alignment_values,
        "neuron_alignment_l1": feature.neuron_alignment_l1,
        "correlated_neurons_indices": feature.correlated_neurons_indices,
        "correlated_neurons_pearson": feature.correlated_neurons_pearson,
        "correlated_neurons_l1": feature.correlated_neurons_l1,
        "correlated_features_indices": feature.correlated_features_indices,
        "correlated_features_pearson": feature.correlated_features_pearson,
        "correlated_features_l1": feature.correlated_features_l1,
        "neg_str": feature.neg_str,
        "neg_values": feature.neg_values,
        "pos_str": feature.pos_str,
        "pos_values": feature.pos_values,
        "frac_nonzero": feature.frac_nonzero,
        "freq_hist_data_bar_heights": feature.freq_hist_data_bar_heights,
        "freq_hist_data_bar_values": feature.freq_hist_data_bar_values,
        "logits_hist_data_bar_heights": feature.logits_hist_data_bar_heights,
        "logits_hist_data_bar_values": feature.logits_hist_data_bar_values,
        "decoder_weights_dist": feature.decoder_weights_dist,
        "activation_quantiles": feature.activation_quantiles or None,
        "umap_cluster": feature.umap_cluster,
        "umap_log_feature_sparsity": feature.umap_log_feature_sparsity,
        "umap_x": feature.umap_x,
        "umap_y": feature.umap_y,
    }


def model_json(model) -> dict:
    return {
        "id": model.name,
        "displayName": model.display_name or model.name,
        "displayNameShort": model.display_name_short or model.display_name or model.name,
        "creatorName": model.creator_name or None,
        "ownerId": model.owner_id,
        "layers": model.layers,
        "dimension": model.d_model,
        "tlensId": model.tl_model_name or None,
        "hfModelId": model.hf_model_id or None,
        "instruct": model.instruct,
        "inferenceEnabled": model.inference_enabled,
        "visibility": model.visibility,
        "website": model.website or None,
        "createdAt": _iso(model.created_at),
        "updatedAt": _iso(model.updated_at),
    }


def feature_json(feature: Feature) -> dict:
    """The full ``GET /api/feature/{model}/{source}/{index}`` body."""
    source = feature.source
    body = feature_stats_json(feature)
    body["model"] = model_json(source.model)
    body["source"] = source_json(source)
    body["activations"] = [activation_json(a, feature) for a in feature.activations.all()]
    body["explanations"] = [explanation_json(e, feature) for e in feature.explanations.all()]
    body["lists"] = [{"list": list_json(lst)} for lst in feature.lists.all()]
    body["comments"] = [comment_json(c, feature) for c in feature.comments.all()]
    return body
