"""Neuronpedia export layout: export -> import into an empty database -> export gives identical files."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from django.core.management import call_command

from features.models import Activation, Explanation, ExplanationType, Feature
from features.tests.saedashboard_synth import samples_dir
from models_app.models import Model, Source, SourceRelease

SAMPLES = samples_dir()


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _wipe():
    """Empty every table this layout touches (the 'empty database' of the round trip)."""
    from accounts.models import User

    Model.objects.all().delete()
    SourceRelease.objects.all().delete()
    ExplanationType.objects.all().delete()
    User.objects.all().delete()


@pytest.mark.django_db(transaction=True)
def test_export_import_export_identical(tmp_path, make_user):
    call_command("import_saedashboard", str(SAMPLES), verbosity=0)
    source = Source.objects.get(name="0-res-demo")
    release = SourceRelease.objects.create(
        name="demo-release", description="Demo", urls=["https://example.org"]
    )
    source.source_set.release = release
    source.source_set.save()
    author = make_user(username="alice")
    etype = ExplanationType.objects.create(name="oai_token-act-pair")
    f3 = Feature.objects.get(source=source, index=3)
    Explanation.objects.create(feature=f3, description="Python keywords", type=etype, author=author)
    Explanation.objects.create(feature=f3, description="code ↵ newline", notes="second")
    Feature.objects.filter(pk=f3.pk).update(
        topk_cos_sim_indices=[4, 9],
        topk_cos_sim_values=[0.5, 0.25],
        umap_x=1.5,
        umap_y=-2.0,
        umap_cluster=3,
        activation_quantiles={"0.99": 1.25},
        vector=[0.1, 0.2],
        has_vector=True,
        vector_label="v",
    )
    counts = (Feature.objects.count(), Activation.objects.count(), Explanation.objects.count())

    first, second = tmp_path / "one", tmp_path / "two"
    call_command("export_neuronpedia", str(first), model="tiny-pydoc", batch_size=20, verbosity=0)
    files = _tree(first)
    assert "tiny-pydoc/0-res-demo/features/batch-0.jsonl.gz" in files
    assert "tiny-pydoc/0-res-demo/release.jsonl" in files and "tiny-pydoc/1-res-demo/source.jsonl" in files
    # layout and column names as Neuronpedia writes them
    rows = [
        json.loads(line)
        for line in gzip.decompress(files["tiny-pydoc/0-res-demo/features/batch-0.jsonl.gz"]).splitlines()
    ]
    assert len(rows) == 20 and rows[3]["index"] == "3" and rows[3]["layer"] == "0-res-demo"
    assert rows[3]["topkCosSimIndices"] == [4, 9] and rows[3]["pos_str"] == f3.pos_str
    acts = [
        json.loads(line)
        for line in gzip.decompress(files["tiny-pydoc/0-res-demo/activations/batch-0.jsonl.gz"]).splitlines()
    ]
    assert {
        "tokens",
        "values",
        "maxValue",
        "maxValueTokenIndex",
        "binMin",
        "binMax",
        "binContains",
        "dataIndex",
    } <= set(acts[0])
    exps = [
        json.loads(line)
        for line in gzip.decompress(files["tiny-pydoc/0-res-demo/explanations/batch-0.jsonl.gz"]).splitlines()
    ]
    assert [e["description"] for e in exps] == ["Python keywords", "code ↵ newline"]
    assert exps[0]["authorId"] == "alice" and exps[0]["typeName"] == "oai_token-act-pair"

    _wipe()
    assert Feature.objects.count() == 0
    call_command("import_neuronpedia", str(first), verbosity=0)
    assert (Feature.objects.count(), Activation.objects.count(), Explanation.objects.count()) == counts
    call_command("export_neuronpedia", str(second), model="tiny-pydoc", batch_size=20, verbosity=0)
    assert _tree(second) == files

    # re-running the import changes nothing
    call_command("import_neuronpedia", str(first), verbosity=0)
    assert (Feature.objects.count(), Activation.objects.count(), Explanation.objects.count()) == counts


@pytest.mark.django_db(transaction=True)
def test_explanations_only_and_from_batch(tmp_path):
    call_command("import_saedashboard", str(SAMPLES), verbosity=0)
    source = Source.objects.get(name="1-res-demo")
    for i in (0, 25, 40):
        Explanation.objects.create(
            feature=Feature.objects.get(source=source, index=i), description=f"feature {i}"
        )
    call_command(
        "export_neuronpedia",
        str(tmp_path),
        model="tiny-pydoc",
        source=["1-res-demo"],
        batch_size=20,
        verbosity=0,
    )
    Explanation.objects.all().delete()
    Activation.objects.all().delete()
    call_command(
        "import_neuronpedia", str(tmp_path / "tiny-pydoc"), explanations_only=True, from_batch=1, verbosity=0
    )
    assert sorted(Explanation.objects.values_list("description", flat=True)) == ["feature 25", "feature 40"]
    assert Activation.objects.count() == 0
