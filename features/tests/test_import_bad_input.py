"""Bad input stops the batch with a CommandError naming the file, the feature index and the field;
nothing of that batch is written and earlier batches stay. One test per kind of bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from features.models import Activation, Feature, ImportLedger
from features.tests.saedashboard_synth import write_batches
from models_app.models import Model, Source

pytestmark = pytest.mark.django_db


@pytest.fixture
def batches(tmp_path):
    """Two good files (batch-0, batch-1); tests break batch-1."""
    paths = write_batches(tmp_path, n_files=2, features_per_file=4, n_acts=3, n_tokens=8)
    return tmp_path, paths


def _break(path: Path, mutate) -> None:
    doc = json.loads(path.read_text())
    mutate(doc)
    path.write_text(json.dumps(doc))


def _import_fails(root, *needles, **opts) -> str:
    with pytest.raises(CommandError) as err:
        call_command("import_saedashboard", str(root), verbosity=0, **opts)
    message = str(err.value)
    for needle in needles:
        assert needle in message, message
    return message


def _only_first_batch_written():
    assert ImportLedger.objects.count() == 1
    assert sorted(Feature.objects.values_list("index", flat=True)) == [0, 1, 2, 3]
    assert Activation.objects.count() == 4 * 3


def test_malformed_json(batches):
    root, paths = batches
    paths[1].write_text(paths[1].read_text()[:-200])
    _import_fails(root, "batch-1.json", "malformed JSON")
    _only_first_batch_written()


def test_tokens_and_values_of_different_lengths(batches):
    root, paths = batches
    _break(paths[1], lambda d: d["features"][2]["activations"][1]["values"].pop())
    _import_fails(root, "batch-1.json", "feature 6", "activations[1].values", "7 values for 8 tokens")
    _only_first_batch_written()


@pytest.mark.parametrize("bad", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_inf(batches, bad):
    root, paths = batches
    text = paths[1].read_text()
    doc = json.loads(text)
    doc["features"][1]["activations"][0]["values"][3] = 12345.678
    text = json.dumps(doc).replace("12345.678", bad)
    paths[1].write_text(text)
    _import_fails(root, "batch-1.json", "feature 5", "activations[0].values", "finite")
    _only_first_batch_written()


def test_nan_in_a_feature_statistic(batches):
    root, paths = batches
    text = paths[1].read_text().replace('"frac_nonzero": ', '"frac_nonzero": NaN, "x": ', 1)
    paths[1].write_text(text)
    _import_fails(root, "batch-1.json", "feature 4", "frac_nonzero", "finite")
    _only_first_batch_written()


@pytest.mark.parametrize(
    ("mutate", "needles"),
    [
        (lambda d: d["features"][3].pop("pos_str"), ("feature 7", "'pos_str'", "missing")),
        (
            lambda d: d["features"][0]["activations"][2].pop("tokens"),
            ("feature 4", "activations[2].tokens", "missing"),
        ),
        (lambda d: d["features"][1].pop("feature_index"), ("'feature_index'", "missing")),
        (lambda d: d.pop("layer"), ("'layer'", "missing")),
    ],
)
def test_missing_required_fields(batches, mutate, needles):
    root, paths = batches
    _break(paths[1], mutate)
    _import_fails(root, "batch-1.json", *needles)
    _only_first_batch_written()


def test_unknown_model_in_model_option(batches):
    root, _ = batches
    _import_fails(root, "Unknown model 'no-such-model'", "--model", model="no-such-model")
    assert not Feature.objects.exists() and not Model.objects.filter(name="no-such-model").exists()


def test_feature_index_out_of_range(batches):
    root, paths = batches
    _break(paths[1], lambda d: d["features"][2].__setitem__("feature_index", 4096))
    _import_fails(root, "batch-1.json", "feature 4096", "'feature_index'", "d_sae", d_sae=64)
    _only_first_batch_written()
    assert Source.objects.get().d_sae == 64


def test_negative_feature_index(batches):
    root, paths = batches
    _break(paths[1], lambda d: d["features"][0].__setitem__("feature_index", -3))
    _import_fails(root, "batch-1.json", "'feature_index'", "out of range")
    _only_first_batch_written()


def _exported_then_emptied(batches, tmp_path) -> Path:
    """The batches imported, exported in Neuronpedia's layout, then the database emptied."""
    root, _ = batches
    call_command("import_saedashboard", str(root), verbosity=0)
    out = tmp_path / "export"
    call_command("export_neuronpedia", str(out), model="synth-model", batch_size=4, verbosity=0)
    Model.objects.all().delete()
    ImportLedger.objects.all().delete()
    return out


def test_truncated_gzip_in_neuronpedia_export(batches, tmp_path):
    out = _exported_then_emptied(batches, tmp_path)
    broken = out / "synth-model" / "3-res-synth" / "activations" / "batch-1.jsonl.gz"
    broken.write_bytes(broken.read_bytes()[:-40])
    with pytest.raises(CommandError) as err:
        call_command("import_neuronpedia", str(out), verbosity=0)
    assert "activations/batch-1.jsonl.gz" in str(err.value)
    # features of both batches and the activations of batch 0 are in; none of batch 1's activations
    assert Feature.objects.count() == 8
    assert sorted(set(Activation.objects.values_list("feature__index", flat=True))) == [0, 1, 2, 3]
    assert Activation.objects.count() == 12


def test_bad_value_in_neuronpedia_export_names_line_and_feature(batches, tmp_path):
    out = _exported_then_emptied(batches, tmp_path)
    path = out / "synth-model" / "3-res-synth" / "activations" / "batch-0.jsonl.gz"
    import gzip

    lines = gzip.decompress(path.read_bytes()).splitlines()
    row = json.loads(lines[4])
    row["tokens"] = row["tokens"][:-1]
    lines[4] = json.dumps(row).encode()
    path.write_bytes(gzip.compress(b"\n".join(lines) + b"\n"))
    with pytest.raises(CommandError) as err:
        call_command("import_neuronpedia", str(out), verbosity=0)
    message = str(err.value)
    assert (
        "activations/batch-0.jsonl.gz" in message
        and "line 5" in message
        and f"feature {row['index']}" in message
    )
    assert Activation.objects.count() == 0
