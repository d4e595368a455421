"""The batch-wide (columnar) snippet path encodes exactly what the per-snippet path encodes,
and hands every bad input back to the per-snippet path (which names the problem)."""

import copy
from datetime import UTC, datetime

import orjson
import pytest

from features.importers.binary import activation_row, encode_activation, timestamptz
from features.importers.columnar import activations_block, encode_block
from features.importers.prepare import features_prepare
from features.importers.validation import normalize_features
from features.tests.saedashboard_synth import samples_dir

SAMPLES = sorted(samples_dir().rglob("batch-*.json"))
WHEN = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)


def _slow_rows(features, ids, *, zero_bos=False, creator_id=7, required=("feature_index", "activations")):
    """The reference: per-snippet validation and encoding."""
    normalized = normalize_features(copy.deepcopy(features), zero_bos=zero_bos, required=required)
    return [
        encode_activation(activation_row(feature_id=ids[p], a=a, creator_id=creator_id, created_at=WHEN))
        for p, f in enumerate(normalized)
        for a in f["activations"]
    ]


def _fast_rows(features, ids, *, zero_bos=False, creator_id=7, required=("feature_index", "activations")):
    prepared = features_prepare(
        copy.deepcopy(features), zero_bos=zero_bos, creator_id=creator_id, created_at=WHEN, required=required
    )
    data = prepared.rows_with_ids([ids[p] for p in prepared.snippet_positions])
    ends = [*prepared.row_offsets.tolist()[1:], len(data)]
    return [data[start:end] for start, end in zip(prepared.row_offsets.tolist(), ends, strict=True)]


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: f"{p.parent.name}/{p.name}")
@pytest.mark.parametrize("zero_bos", [False, True])
def test_columnar_encoding_is_byte_identical_on_samples(path, zero_bos):
    features = orjson.loads(path.read_bytes())["features"]
    ids = [1000 + i for i in range(len(features))]
    block = activations_block([f["activations"] for f in copy.deepcopy(features)], zero_bos=zero_bos)
    assert block is not None  # the real producer's output takes the fast path
    assert _fast_rows(features, ids, zero_bos=zero_bos) == _slow_rows(features, ids, zero_bos=zero_bos)
    expected_max = {
        p: max(max(a["values"]) for a in f["activations"]) for p, f in enumerate(features) if f["activations"]
    }
    assert block.feature_max == pytest.approx(expected_max)


def test_columnar_handles_unicode_bos_ties_nulls_and_data_sources():
    features = [
        {
            "feature_index": 0,
            "activations": [
                {
                    "tokens": ["<|endoftext|>", "Ġé", "日本", "x"],
                    "values": [5.0, 1.0, 3.0, 3.0],
                    "qualifying_token_index": 2,
                },
                {"tokens": ["a"], "values": [0], "data_source": "pile", "data_index": 12, "bin_min": 0.5},
            ],
        },
        {"feature_index": 1, "activations": []},
        {"feature_index": 2, "activations": [{"tokens": ["b", "c"], "values": [1, 2.5], "bin_max": 2.0}]},
    ]
    for zero_bos in (False, True):
        for creator_id in (None, 3):
            fast = _fast_rows(features, [1, 2, 3], zero_bos=zero_bos, creator_id=creator_id)
            assert fast == _slow_rows(features, [1, 2, 3], zero_bos=zero_bos, creator_id=creator_id)
        block = activations_block([f["activations"] for f in features], zero_bos=zero_bos)
        assert block.max_index.tolist() == ([2, 0, 1] if zero_bos else [0, 0, 1])
        rows, offsets = encode_block(block, creator_id=None, created_at=WHEN, timestamptz=timestamptz)
        assert len(offsets) == 3 and offsets[0] == 0


def test_non_empty_dfa_values_take_the_per_snippet_path():
    features = [
        {
            "feature_index": 0,
            "activations": [{"tokens": ["a", "b"], "values": [1.0, 2.0], "dfa_values": [0.5, 0.1]}],
        }
    ]
    assert activations_block([features[0]["activations"]]) is None
    assert _fast_rows(features, [9]) == _slow_rows(features, [9])


@pytest.mark.parametrize(
    "bad",
    [
        {"tokens": ["a", "b"], "values": [1.0]},
        {"tokens": ["a"], "values": [float("nan")]},
        {"tokens": ["a"], "values": [float("inf")]},
        {"tokens": ["a"], "values": ["1.0"]},
        {"tokens": ["a"], "values": [None]},
        {"tokens": [1], "values": [1.0]},
        {"tokens": ["a\x00b"], "values": [1.0]},
        {"tokens": [], "values": []},
        {"tokens": "ab", "values": [1.0, 2.0]},
        {"values": [1.0]},
        {"tokens": ["a"], "values": [1.0], "bin_min": "x"},
        {"tokens": ["a"], "values": [1.0], "qualifying_token_index": 5},
        {"tokens": ["a"], "values": [1.0], "dfa_values": [0.5]},
        "not an object",
    ],
)
def test_columnar_path_declines_bad_snippets(bad):
    good = {"tokens": ["x", "y"], "values": [0.0, 1.0]}
    assert activations_block([[good, bad]]) is None
