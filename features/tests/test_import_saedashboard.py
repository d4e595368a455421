"""import_saedashboard on the real SAEDashboard samples: counts and spot values against the JSON."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command

from features.models import Activation, Feature, ImportLedger
from features.tests.saedashboard_synth import samples_dir
from features.tokens import token_display
from models_app.models import Model, Source

SAMPLES = samples_dir()
pytestmark = pytest.mark.skipif(not SAMPLES.exists(), reason="SAEDashboard samples not present")


def _sample_docs():
    for path in sorted(SAMPLES.rglob("batch-*.json")):
        yield path, json.loads(path.read_text())


def _f32(x):
    """float32 rounding of a number or list (stored columns are PostgreSQL real)."""
    import struct

    if isinstance(x, list):
        return [_f32(v) for v in x]
    return struct.unpack("f", struct.pack("f", x))[0]


@pytest.mark.django_db(transaction=True)
def test_import_every_sample_file_counts_and_values():
    docs = list(_sample_docs())
    assert len(docs) >= 2
    call_command("import_saedashboard", str(SAMPLES), verbosity=0)

    expected_features = sum(len(d["features"]) for _, d in docs)
    expected_acts = sum(len(f["activations"]) for _, d in docs for f in d["features"])
    assert Feature.objects.count() == expected_features
    assert Activation.objects.count() == expected_acts
    assert ImportLedger.objects.count() == len(docs)

    for _path, doc in docs:
        source = Source.objects.get(model__name=doc["model_id"], name=f"{doc['layer']}-{doc['sae_set']}")
        assert source.source_set.name == doc["sae_set"] and source.layer == doc["layer"]
        assert source.hook_name == f"blocks.{doc['layer']}.hook_resid_pre"
        # spot-check the first, middle and last feature of every file
        for raw in (doc["features"][0], doc["features"][len(doc["features"]) // 2], doc["features"][-1]):
            feature = Feature.objects.get(source=source, index=raw["feature_index"])
            assert feature.pos_str == raw["pos_str"] and feature.neg_str == raw["neg_str"]
            assert _f32(feature.pos_values) == _f32(raw["pos_values"])
            assert feature.frac_nonzero == raw["frac_nonzero"]
            assert _f32(feature.freq_hist_data_bar_heights) == _f32(raw["freq_hist_data_bar_heights"])
            assert _f32(feature.logits_hist_data_bar_values) == _f32(raw["logits_hist_data_bar_values"])
            assert feature.correlated_features_indices == raw["correlated_features_indices"]
            assert _f32(feature.neuron_alignment_l1) == _f32(raw["neuron_alignment_l1"])
            acts = list(feature.activations.order_by("id"))
            assert len(acts) == len(raw["activations"])
            for act, raw_act in zip(acts, raw["activations"], strict=True):
                assert act.tokens == raw_act["tokens"]
                assert _f32(act.values) == _f32(raw_act["values"])
                assert _f32(act.max_value) == _f32(max(raw_act["values"]))
                assert act.max_value_token_index == raw_act["values"].index(max(raw_act["values"]))
                assert _f32(act.min_value) == _f32(min(raw_act["values"]))
                assert _f32(act.bin_min) == _f32(raw_act["bin_min"]) and _f32(act.bin_max) == _f32(
                    raw_act["bin_max"]
                )
                assert act.qualifying_token_index == raw_act["qualifying_token_index"]
            if raw["activations"]:
                assert feature.max_act_approx == pytest.approx(
                    max(max(a["values"]) for a in raw["activations"])
                )
    model = Model.objects.get(name=docs[0][1]["model_id"])
    assert model.layers >= 1 + max(d["layer"] for _, d in docs)


@pytest.mark.django_db(transaction=True)
def test_reimport_changes_nothing_and_summary_line(capsys):
    from io import StringIO

    call_command("import_saedashboard", str(SAMPLES), verbosity=0)
    before = (
        Feature.objects.count(),
        Activation.objects.count(),
        sorted(Activation.objects.values_list("id", flat=True)),
    )
    out = StringIO()
    call_command("import_saedashboard", str(SAMPLES), stdout=out, verbosity=0)
    after = (
        Feature.objects.count(),
        Activation.objects.count(),
        sorted(Activation.objects.values_list("id", flat=True)),
    )
    assert before == after
    assert "0 batch(es)" in out.getvalue() and "skipped" in out.getvalue()


def test_token_display_forms():
    assert token_display("Ġthe") == " the"
    assert token_display("Ċ") == "↵"
    assert token_display("ĊĊĠ") == "↵↵ "
    assert token_display("set") == "set"
    assert token_display("Ã©") == "é"
    assert token_display("Ã") == "\ufffd"  # half of a two-byte UTF-8 character
    assert token_display("▁hello") == " hello"


@pytest.mark.django_db
def test_zero_bos_option(tmp_path):
    from features.tests.saedashboard_synth import write_batches

    (path,) = write_batches(tmp_path, n_files=1, features_per_file=1, n_acts=2, n_tokens=4)
    doc = json.loads(path.read_text())
    for act in doc["features"][0]["activations"]:
        act["tokens"][0] = "<|endoftext|>"
        act["values"] = [9.0, 0.5, 2.0, 0.0]
    path.write_text(json.dumps(doc))
    call_command("import_saedashboard", str(path), verbosity=0)
    act = Activation.objects.first()
    assert act.values[0] == 9.0 and act.max_value == 9.0 and act.max_value_token_index == 0
    path.write_text(json.dumps(doc) + " ")  # new checksum: re-imported, replacing
    call_command("import_saedashboard", str(path), zero_bos=True, verbosity=0)
    assert Activation.objects.count() == 2
    act = Activation.objects.first()
    assert act.tokens[0] == "<|endoftext|>" and act.values[0] == 0.0
    assert act.max_value == 2.0 and act.max_value_token_index == 2 and act.min_value == 0.0
    assert Feature.objects.get().max_act_approx == 2.0
