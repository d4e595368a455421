"""Synthetic SAEDashboard batch files (the real format, made-up numbers) for import tests."""

from __future__ import annotations

import json
import random
from pathlib import Path


def synth_feature(index: int, *, n_acts: int, n_tokens: int, rng: random.Random) -> dict:
    def floats(n, lo=-1.0, hi=1.0):
        return [round(rng.uniform(lo, hi), 3) for _ in range(n)]

    return {
        "feature_index": index,
        "neuron_alignment_indices": [1, 2, 3],
        "neuron_alignment_values": floats(3),
        "neuron_alignment_l1": floats(3, 0, 1),
        "correlated_neurons_indices": [4, 5, 6],
        "correlated_neurons_l1": floats(3, 0, 1),
        "correlated_neurons_pearson": floats(3),
        "correlated_features_indices": [7, 8, 9],
        "correlated_features_l1": floats(3, 0, 1),
        "correlated_features_pearson": floats(3),
        "neg_str": [f"Ġn{i}" for i in range(10)],
        "neg_values": sorted(floats(10, -1, 0)),
        "pos_str": [f"Ġp{i}" for i in range(10)],
        "pos_values": sorted(floats(10, 0, 1), reverse=True),
        "frac_nonzero": round(rng.random() / 10, 5),
        "freq_hist_data_bar_values": floats(50, 0, 1),
        "freq_hist_data_bar_heights": [rng.randrange(20) for _ in range(50)],
        "logits_hist_data_bar_heights": [rng.randrange(60) for _ in range(50)],
        "logits_hist_data_bar_values": floats(50),
        "n_prompts_total": 1000,
        "n_tokens_in_prompt": n_tokens,
        "dataset": "synthetic",
        "decoder_weights_dist": [],
        "vector": [],
        "activations": [
            {
                "bin_min": -1,
                "bin_max": 3.0,
                "bin_contains": -1,
                "tokens": [f"Ġt{index}_{a}_{t}" for t in range(n_tokens)],
                "values": floats(n_tokens, 0, 3),
                "qualifying_token_index": rng.randrange(n_tokens),
                "dfa_values": [],
                "dfa_maxValue": 0,
                "dfa_targetIndex": -1,
            }
            for a in range(n_acts)
        ],
    }


def write_batches(
    folder: Path,
    *,
    n_files: int,
    features_per_file: int,
    n_acts: int,
    n_tokens: int,
    model_id: str = "synth-model",
    layer: int = 3,
    sae_set: str = "res-synth",
    seed: int = 0,
) -> list[Path]:
    rng = random.Random(seed)
    folder = Path(folder) / f"{model_id}_{sae_set}_blocks.{layer}.hook_resid_post"
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for n in range(n_files):
        features = [
            synth_feature(n * features_per_file + i, n_acts=n_acts, n_tokens=n_tokens, rng=rng)
            for i in range(features_per_file)
        ]
        path = folder / f"batch-{n}.json"
        path.write_text(
            json.dumps({"model_id": model_id, "layer": layer, "sae_set": sae_set, "features": features})
        )
        paths.append(path)
    return paths


def samples_dir() -> Path:
    """The real SAEDashboard files in ``shared/samples`` beside the checkout (as CI lays it out),
    else the workspace's copy."""
    beside = Path(__file__).resolve().parents[3] / "shared" / "samples" / "saedashboard"
    return beside if beside.exists() else Path("/work/shared/samples/saedashboard")
