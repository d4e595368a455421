"""The generator's feature rows checked on its arrays and column by column (``featurerows.py``)
are exactly ``normalize_features``' output, type for type (ints stay ints, -0.0 becomes +0.0
where the importers make it so), and anything they cannot prove goes back to the importers'
check, which names the problem (real tiny model and SAE)."""

from __future__ import annotations

import copy

import pytest

torch = pytest.importorskip("torch")

from inference.tests.test_dashboards_copyrows import HOOK, N_FEATURES, tiny  # noqa: E402,F401  (the same tiny model and SAE)


def _arrays(tiny):  # noqa: F811
    from inference.dashboards.engine import DashboardConfig, compute_dashboards_arrays

    model, sae, tokens, vocab, ignore = tiny
    return compute_dashboards_arrays(
        model=model, sae=sae, hook_name=HOOK, tokens=tokens, feature_indices=range(N_FEATURES),
        vocab=vocab, config=DashboardConfig(ignore_token_ids=ignore),
    )  # fmt: skip


def _decorate(d: dict) -> dict:  # what the generation adds (services._decorate's keys)
    i = d["feature_index"]
    d["topk_cos_sim_indices"] = [(i + 1) % N_FEATURES, (i + 2) % N_FEATURES]
    d["topk_cos_sim_values"] = [0.5, -0.0]
    d["umap_x"], d["umap_y"], d["umap_cluster"] = 0.25 * i, -1, i % 3
    d["umap_log_feature_sparsity"] = None if i % 2 else -1.5
    d["hook_name"] = HOOK
    return d


def _old(arrays, positions, decorate=_decorate):
    from features.importers.validation import normalize_features

    dicts = [decorate(d) for d in arrays.feature_dicts(positions, activations=False)]
    return normalize_features(dicts, d_sae=N_FEATURES, defer_activations=True)


def test_feature_rows_are_the_importers_dicts_type_for_type(tiny):  # noqa: F811
    from inference.dashboards.featurerows import feature_rows

    arrays = _arrays(tiny)
    arrays.pos_v[2, 0] = -0.0  # a negative zero and a zero: the importers store +0.0 floats
    arrays.neg_v[3, 1] = 0.0
    assert (arrays.nnz == 0).any() and (arrays.hist == 0).any()  # dead features, empty bins
    full = int((arrays.nnz > 0).nonzero()[0][0])
    arrays.hist[full] = 1 + arrays.hist[full]  # a histogram without an empty bar stays ints
    for positions in (range(0, N_FEATURES), range(0, 10), range(10, N_FEATURES), range(5, 6)):
        new = feature_rows(arrays, positions, decorate=_decorate, d_sae=N_FEATURES)
        assert new is not None
        # repr tells 1 from 1.0 and -0.0 from 0.0, and shows the key order
        assert repr(new) == repr(_old(arrays, positions))
    new = feature_rows(arrays, range(0, N_FEATURES), decorate=_decorate, d_sae=N_FEATURES)
    assert repr(new[2]["pos_values"][0]) == "0.0"
    assert {type(h) for h in new[full]["freq_hist_data_bar_heights"]} == {int}
    assert float in {type(h) for f in new for h in f["freq_hist_data_bar_heights"]}


def test_feature_rows_decline_what_they_cannot_prove(tiny):  # noqa: F811
    from features.importers.validation import FeatureDataError
    from inference.dashboards.copyrows import SnippetEncoder
    from inference.dashboards.featurerows import feature_rows

    arrays = _arrays(tiny)
    everything = range(N_FEATURES)
    assert feature_rows(arrays, everything, decorate=_decorate, d_sae=N_FEATURES - 1) is None
    assert feature_rows(arrays, everything, decorate=lambda d: dict(d), d_sae=N_FEATURES) is None

    def replaces(d):
        d["pos_values"] = [float(v) for v in d["pos_values"]]
        return d

    assert feature_rows(arrays, everything, decorate=replaces, d_sae=N_FEATURES) is None
    assert (
        feature_rows(arrays, everything, decorate=lambda d: d.pop("pos_str") and d, d_sae=N_FEATURES) is None
    )
    arrays.pos_v[4, 1] = float("nan")
    assert feature_rows(arrays, everything, decorate=_decorate, d_sae=N_FEATURES) is None
    # the writer then takes the importers' path, which names the feature and the field
    encoder = SnippetEncoder(arrays, data_source="pydoc")
    from datetime import UTC, datetime

    with pytest.raises(FeatureDataError) as info:
        encoder.prepare(0, N_FEATURES, decorate=_decorate, d_sae=N_FEATURES, creator_id=None,
                        created_at=datetime(2026, 11, 28, tzinfo=UTC))  # fmt: skip
    assert info.value.field == "pos_values" and info.value.feature_index == int(arrays.index[4])
    arrays = _arrays(tiny)
    arrays.vocab = [t + "\x00" for t in arrays.vocab]
    assert feature_rows(arrays, everything, decorate=_decorate, d_sae=N_FEATURES) is None


def _feature(i: int, **extra) -> dict:
    f = {
        "feature_index": i,
        "pos_str": ["a", "b"],
        "pos_values": [1.5, 0],
        "neg_str": ["c"],
        "neg_values": [-0.0],
        "frac_nonzero": 0.25,
        "freq_hist_data_bar_heights": [3, 0, 1],
        "freq_hist_data_bar_values": [0.1, 0.2, 0.3],
        "logits_hist_data_bar_heights": [2, 5],
        "logits_hist_data_bar_values": [-1.0, 1.0],
        "activations": [],
    }
    f.update(extra)
    return f


GOOD = {
    "plain": {},
    "optional fields": {
        "max_act_approx": 2,
        "umap_x": 1,
        "umap_cluster": 4,
        "hook_name": "h",
        "vector_label": "v",
    },
    "vector": {"vector": [0.5, 1], "vector_default_steer_strength": 3, "has_vector": 0},
    "empty vector": {"vector": [], "has_vector": None},
    "quantiles": {"activation_quantiles": {"0.99": 1, "0.999": 2.5}},
    "int arrays": {"topk_cos_sim_indices": [3, 1], "topk_cos_sim_values": [0.9, 0.0]},
    "nulls": {"pos_str": None, "pos_values": None, "activation_quantiles": None},
}
BAD = {
    "nan": {"pos_values": [float("nan"), 1.0]},
    "inf scalar": {"umap_y": float("inf")},
    "float32 range": {"freq_hist_data_bar_values": [1e39, 0.0, 0.0]},
    "huge int": {"freq_hist_data_bar_values": [10**400, 0.0, 0.0]},
    "bool": {"pos_values": [True, 1.0]},
    "string value": {"neg_values": ["x"]},
    "NUL": {"neg_str": ["a\x00"]},
    "pair lengths": {"neg_values": [1.0, 2.0]},
    "frac": {"frac_nonzero": 1.5},
    "quantile null": {"activation_quantiles": {"0.9": None}},
    "cluster float": {"umap_cluster": 2.0},
    "string index": {"feature_index": "3"},
    "float index": {"feature_index": 3.0},
    "negative index": {"feature_index": -1},
    "index past d_sae": {"feature_index": 99},
    "int array floats": {"topk_cos_sim_indices": [1.0], "topk_cos_sim_values": [0.5]},
    "activations": {"activations": None},
}


@pytest.mark.parametrize("name", GOOD)
def test_columns_give_normalize_features_output(name):
    from features.importers.validation import normalize_features
    from inference.dashboards.featurerows import normalize_columns

    batch = [_feature(0, **GOOD[name]), _feature(5), _feature(7, **GOOD[name])]
    new = normalize_columns(copy.deepcopy(batch), d_sae=10)
    assert new is not None
    assert repr(new) == repr(normalize_features(copy.deepcopy(batch), d_sae=10, defer_activations=True))


@pytest.mark.parametrize("name", BAD)
def test_columns_decline_what_the_importers_refuse_or_convert(name):
    from features.importers.validation import FeatureDataError, normalize_features
    from inference.dashboards.featurerows import normalize_columns

    batch = [_feature(1), _feature(2, **BAD[name])]
    assert normalize_columns(copy.deepcopy(batch), d_sae=10) is None
    try:
        normalize_features(copy.deepcopy(batch), d_sae=10, defer_activations=True)
    except (FeatureDataError, OverflowError):
        pass  # refused there, with the feature and the field (OverflowError: the importers' own)
    else:
        assert name in ("string index", "float index", "int array floats", "cluster float")  # converted


def test_columns_decline_a_duplicate_index():
    from inference.dashboards.featurerows import normalize_columns

    assert normalize_columns([_feature(1), _feature(1)], d_sae=10) is None
    assert normalize_columns([], d_sae=10) == []
