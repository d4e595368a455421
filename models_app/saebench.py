"""SAEBench's eval output format, as facts (read from SAEBench 0.6.0's ``eval_output.py``
dataclasses and ``eval_output_schema_*.json``; no SAEBench code is used).

One eval run writes ``{sae_release}_{sae_id}_eval_results.json``: one object with ``eval_type_id``,
``eval_config``, ``eval_id``, ``datetime_epoch_millis``, ``eval_result_metrics`` (``{category:
{metric: number | null}}``, flat per category), optional ``eval_result_details`` (a list of flat
rows: per first letter, per dataset, per latent), ``eval_result_unstructured`` (anything),
``sae_bench_commit_hash``, ``sae_lens_id``, ``sae_lens_release_id``, ``sae_lens_version`` and,
in newer runs, ``sae_cfg_dict``. Its ``run_eval`` functions return (and people save) the same
objects keyed by ``f"{sae_release}_{sae_id}"``; both shapes are read here.

``FEATURED`` lists, per eval type, the metrics SAEBench marks ``ui_default_display`` (the ones a
UI shows by default), with their titles."""

from __future__ import annotations

from neuronsite.errors import ValidationFailed

# eval_type_id -> (title, one-line description, [(category, metric, title), ...] shown by default)
KNOWN_TYPES: dict[str, tuple[str, str, list[tuple[str, str, str]]]] = {
    "core": (
        "Core",
        "Reconstruction quality, sparsity and model preservation (from SAELens' evals).",
        [
            ("model_behavior_preservation", "kl_div_score", "KL Divergence Score"),
            ("model_performance_preservation", "ce_loss_score", "Cross Entropy Loss Score"),
            ("reconstruction_quality", "explained_variance", "Explained Variance"),
            ("shrinkage", "l2_ratio", "L2 Ratio"),
            ("sparsity", "l0", "L0 Sparsity"),
        ],
    ),
    "absorption_first_letter": (
        "Absorption",
        "Feature absorption on the first-letter task.",
        [
            ("mean", "mean_absorption_fraction_score", "Mean Absorption Fraction Score"),
            ("mean", "mean_full_absorption_score", "Mean Full Absorption Score"),
            ("mean", "mean_num_split_features", "Mean Number of Split Features"),
        ],
    ),
    "autointerp": (
        "AutoInterp",
        "Interpretability of SAE latents: an LLM explains, then predicts activations.",
        [("autointerp", "autointerp_score", "AutoInterp Score")],
    ),
    "sparse_probing": (
        "Sparse Probing",
        "Probing for supervised concepts with the top-k SAE latents vs the model's activations.",
        [
            ("llm", "llm_test_accuracy", "LLM Test Accuracy"),
            ("llm", "llm_top_1_test_accuracy", "LLM Top 1 Test Accuracy"),
            ("llm", "llm_top_2_test_accuracy", "LLM Top 2 Test Accuracy"),
            ("llm", "llm_top_5_test_accuracy", "LLM Top 5 Test Accuracy"),
            ("sae", "sae_test_accuracy", "SAE Test Accuracy"),
            ("sae", "sae_top_1_test_accuracy", "SAE Top 1 Test Accuracy"),
            ("sae", "sae_top_2_test_accuracy", "SAE Top 2 Test Accuracy"),
            ("sae", "sae_top_5_test_accuracy", "SAE Top 5 Test Accuracy"),
        ],
    ),
    "scr": (
        "SCR",
        "Spurious Correlation Removal: ablating latents to debias a biased probe.",
        [
            ("scr_metrics", "scr_metric_threshold_10", "SCR Metric, Top 10 SAE latents"),
            ("scr_metrics", "scr_metric_threshold_20", "SCR Metric, Top 20 SAE latents"),
        ],
    ),
    "tpp": (
        "TPP",
        "Targeted Probe Perturbation: ablating latents to damage one class's probe only.",
        [
            ("tpp_metrics", "tpp_threshold_10_total_metric", "TPP Metric, Top 10 SAE latents"),
            ("tpp_metrics", "tpp_threshold_20_total_metric", "TPP Metric, Top 20 SAE latents"),
        ],
    ),
    "unlearning": (
        "Unlearning",
        "Unlearning biology knowledge (WMDP-bio) by clamping latents, keeping MMLU.",
        [("unlearning", "unlearning_score", "Unlearning Score")],
    ),
    "ravel": (
        "RAVEL",
        "Targeted modification of entity attributes (RAVEL).",
        [
            ("ravel", "disentanglement_score", "Disentanglement Score"),
            ("ravel", "cause_score", "Cause Score"),
            ("ravel", "isolation_score", "Isolation Score"),
        ],
    ),
    "meta_structure_decoder_variance": (
        "Meta-Structure Decoder Variance",
        "How well a BatchTopK meta-SAE compresses the decoder matrix.",
        [("meta_structure", "decoder_fraction_variance_explained", "Decoder Fraction Variance Explained")],
    ),
}
# SAEBench's own test data writes RAVEL's id in capitals
ALIASES = {"RAVEL": "ravel"}


def type_info(type_name: str) -> tuple[str, str, list[dict]]:
    """(display name, description, featured metrics as ``[{category, metric, title}]``) of an eval
    type; an unknown type gets its id with spaces and nothing featured."""
    title, description, featured = KNOWN_TYPES.get(
        ALIASES.get(type_name, type_name), (type_name.replace("_", " "), "", [])
    )
    return title, description, [{"category": c, "metric": m, "title": t} for c, m, t in featured]


def outputs_of(data) -> list[tuple[str | None, dict]]:
    """The eval outputs in one file: ``[(key, output)]`` where key is the ``{release}_{sae_id}``
    key of a keyed file, None for a plain one."""
    if isinstance(data, dict) and "eval_type_id" not in data and data:
        if all(isinstance(v, dict) and "eval_type_id" in v for v in data.values()):
            return list(data.items())
        if "eval_results" in data and "eval_instance_id" in data:  # SAEBench before 0.3 (e.g. mdl)
            raise ValidationFailed(
                {
                    "eval_result_metrics": "missing: this is SAEBench's pre-0.3 format (eval_results); "
                    "re-run the eval with a current SAEBench"
                }
            )
    if isinstance(data, list):
        raise ValidationFailed({"file": "must be a JSON object (one SAEBench result)"})
    return [(None, data)]
