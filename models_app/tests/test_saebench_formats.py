"""import_saebench against SAEBench's real output format (issue 16, item 10). The fixtures in
saebench/ have the exact shape SAEBench 0.6.0 writes (taken from its acceptance-test data, with
the sae_lens ids pointed at our tiny source and core's 4096 per-latent rows cut to 70): per-SAE
``{release}_{sae_id}_eval_results.json`` files for core, absorption, sparse probing, SCR and TPP,
and ``run_eval``'s results keyed by ``{release}_{sae_id}`` for autointerp and unlearning."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from models_app.models import Eval, EvalType

FIXTURES = Path(__file__).parent / "saebench"
HOOK0, HOOK1 = "blocks.0.hook_resid_pre", "blocks.1.hook_resid_pre"


def _fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def _as_layer1(data: dict, metric_changes: dict) -> dict:
    """The same result for the layer-1 SAE (plain file), with some metrics changed."""
    data = json.loads(json.dumps(data))
    data["sae_lens_id"] = HOOK1
    for (category, metric), value in metric_changes.items():
        data["eval_result_metrics"][category][metric] = value
    return data


@pytest.fixture
def sources(make_source):
    a = make_source(layer=0, sae_release="tiny-release", sae_id=HOOK0)
    b = make_source(layer=1, sae_release="tiny-release", sae_id=HOOK1)
    return a, b


def test_every_saebench_eval_type_imports_and_shows(sources, tmp_path, client, django_assert_max_num_queries):
    a, b = sources
    files = sorted(str(p) for p in FIXTURES.glob("*.json"))
    assert len(files) == 7
    call_command("import_saebench", *files, model="tiny")  # matched by each file's sae_lens ids
    got = dict(Eval.objects.filter(source=a).values_list("type__name", "type__display_name"))
    assert got == {
        "core": "Core",
        "absorption_first_letter": "Absorption",
        "autointerp": "AutoInterp",
        "sparse_probing": "Sparse Probing",
        "scr": "SCR",
        "tpp": "TPP",
        "unlearning": "Unlearning",
    }
    core = Eval.objects.get(source=a, type__name="core")
    assert core.output["eval_result_metrics"]["sparsity"]["l0"] == pytest.approx(376.9798, abs=1e-4)
    assert len(core.detailed_metrics["eval_result_details"]) == 70
    assert core.detailed_metrics["eval_result_unstructured"] == {}
    assert "eval_result_details" not in core.output and core.output["sae_bench_commit_hash"]
    featured = EvalType.objects.get(name="core").featured_metrics
    assert {"category": "sparsity", "metric": "l0", "title": "L0 Sparsity"} in featured

    # a second source: its core result (plain file) and its sparse probing
    core_b = _as_layer1(
        _fixture("tiny-release_blocks.0.hook_resid_pre_core_eval_results.json"), {("sparsity", "l0"): 12.5}
    )
    path = tmp_path / "tiny-release_blocks.1.hook_resid_pre_core_eval_results.json"
    path.write_text(json.dumps(core_b))
    call_command("import_saebench", str(path), model="tiny")
    assert Eval.objects.filter(source=b).count() == 1

    # the source page: the default-display metrics as pills, every metric, readable details
    html = client.get(f"/tiny/{a.name}").content.decode()
    assert 'data-eval-type="absorption_first_letter"' in html and 'data-eval-type="unlearning"' in html
    assert "L0 Sparsity 376.9798" in html and "Unlearning Score 0.0976" in html
    assert '<tr class="featured"><td>sparsity</td><td>l0</td><td>376.9798</td></tr>' in html
    assert '<th scope="col">first_letter</th>' in html and "Details (26 rows)" in html  # absorption
    assert "Per-row details stored for 70 rows" in html  # core's per-latent rows are not listed
    assert "LabHC/bias_in_bios_class_set1_results" in html  # sparse probing, per dataset

    # the comparison: an overview of every type's default metrics, and one type at a time
    with django_assert_max_num_queries(4):
        page = client.get("/tiny/evals").content.decode()
    overview = page.split('id="evals-overview"')[1].split("</table>")[0]
    assert '<th scope="col">Core: L0 Sparsity</th>' in overview
    assert '<th scope="col">Unlearning: Unlearning Score</th>' in overview
    row_a = overview.split(f"{a.name}</a></th>")[1].split("</tr>")[0]
    row_b = overview.split(f"{b.name}</a></th>")[1].split("</tr>")[0]
    assert "<td>376.9798</td>" in row_a and "<td>12.5000</td>" in row_b
    assert row_b.count("<td>—</td>") == row_a.count("<td>") - 5  # b has only core's 5 featured metrics
    table = page.split('id="evals-table"')[1].split("</table>")[0]
    headers = table.split("</thead>")[0]
    assert headers.index("KL Divergence Score") < headers.index("kl_div_with_ablation")  # featured first
    assert '<option value="core" selected>Core (core)</option>' in page
    probing = client.get("/tiny/evals?type=sparse_probing").content.decode()
    assert "SAE Top 1 Test Accuracy" in probing.split('id="evals-table"')[1]


def test_keyed_results_with_several_saes_and_old_formats(sources, tmp_path):
    a, b = sources
    one = _fixture("autointerp_run_eval_results.json")["tiny-release_blocks.0.hook_resid_pre"]
    two = _as_layer1(one, {("autointerp", "autointerp_score"): 0.5})
    both = tmp_path / "both.json"
    both.write_text(
        json.dumps({"tiny-release_blocks.0.hook_resid_pre": one, "tiny-release_blocks.1.hook_resid_pre": two})
    )
    # without --source every entry goes to its own source
    call_command("import_saebench", str(both), model="tiny")
    assert Eval.objects.get(source=b).output["eval_result_metrics"]["autointerp"]["autointerp_score"] == 0.5
    Eval.objects.all().delete()
    # with --source only that source's entry is taken
    call_command("import_saebench", str(both), model="tiny", source=b.name)
    assert list(Eval.objects.values_list("source__name", flat=True)) == [b.name]

    c = a.__class__.objects.create(
        model=a.model, source_set=a.source_set, name="2-res-test", layer=2, d_sae=8, local_path="/x"
    )
    with pytest.raises(CommandError, match="holds several SAEs' results and none is for 2-res-test"):
        call_command("import_saebench", str(both), model="tiny", source=c.name)
    old = tmp_path / "mdl.json"
    old.write_text(
        json.dumps(
            {
                "eval_instance_id": "31e1",
                "sae_lens_release": "tiny-release",
                "sae_lens_id": HOOK0,
                "eval_type_id": "mdl",
                "eval_config": {},
                "eval_results": [{"k": None}],
            }
        )
    )
    with pytest.raises(CommandError, match="pre-0.3 format"):
        call_command("import_saebench", str(old), model="tiny", source=a.name)
    assert Eval.objects.count() == 1
