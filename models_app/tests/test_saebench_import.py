"""SAEBench results (issue 16, item 10): import_saebench stores them per source (matched by name
or by the file's sae_lens ids), replaces a re-import, refuses bad files with a CommandError naming
the problem and writes nothing; the source page shows them and the model's evals page compares
sources."""

import json

import pytest
from django.core.management import CommandError, call_command

from models_app.models import Eval


def _core(l0: float, sae_id: str = "blocks.0.hook_resid_pre") -> dict:
    return {
        "eval_type_id": "core",
        "eval_config": {"batch_size_prompts": 16},
        "eval_id": "abc",
        "datetime_epoch_millis": 1732000000000,
        "eval_result_metrics": {
            "model_behavior_preservation": {"kl_div_score": 0.98, "kl_div_with_sae": 0.05},
            "reconstruction_quality": {"explained_variance": 0.81, "cossim": 0.93},
            "sparsity": {"l0": l0, "l1": None},
        },
        "eval_result_details": [{"feature": 0, "freq": 0.01}],
        "sae_bench_commit_hash": "deadbeef1234",
        "sae_lens_id": sae_id,
        "sae_lens_release_id": "tiny-release",
        "sae_lens_version": "6.5.0",
    }


def _write(tmp_path, name, data):
    path = tmp_path / name
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return str(path)


def test_import_show_and_compare(tmp_path, client, make_source, django_assert_max_num_queries):
    a = make_source(layer=0, sae_release="tiny-release", sae_id="blocks.0.hook_resid_pre")
    b = make_source(layer=1, sae_release="tiny-release", sae_id="blocks.1.hook_resid_pre")
    call_command("import_saebench", _write(tmp_path, "a.json", _core(12.0)), model="tiny", source=a.name)
    # matched by the file's sae_lens ids
    call_command(
        "import_saebench", _write(tmp_path, "b.json", _core(30.5, "blocks.1.hook_resid_pre")), model="tiny"
    )
    absorption = {
        "eval_type_id": "absorption_first_letter",
        "eval_result_metrics": {"mean": {"mean_absorption_score": 0.2}},
    }
    call_command("import_saebench", _write(tmp_path, "c.json", absorption), model="tiny", source=a.name)
    assert Eval.objects.count() == 3
    ev = Eval.objects.get(source=b, type__name="core")
    assert ev.output["eval_result_metrics"]["sparsity"]["l0"] == 30.5
    assert (
        "eval_result_details" not in ev.output
        and ev.detailed_metrics["eval_result_details"][0]["feature"] == 0
    )
    # re-import replaces
    call_command(
        "import_saebench", _write(tmp_path, "b2.json", _core(31.0, "blocks.1.hook_resid_pre")), model="tiny"
    )
    assert (
        Eval.objects.get(source=b, type__name="core").output["eval_result_metrics"]["sparsity"]["l0"] == 31.0
    )
    assert Eval.objects.count() == 3

    html = client.get("/tiny/0-res-test").content.decode()
    assert "<td>sparsity</td><td>l0</td><td>12.0000</td>" in html and "absorption_first_letter" in html
    assert 'href="/tiny/evals"' in html
    with django_assert_max_num_queries(4):
        r = client.get("/tiny/evals")
    page = r.content.decode()
    assert r.status_code == 200 and '<option value="core" selected>' in page
    table = page.split('id="evals-table"')[1]
    row_a = table.split('href="/tiny/0-res-test#evals">0-res-test</a></th>')[1].split("</tr>")[0]
    row_b = table.split('href="/tiny/1-res-test#evals">1-res-test</a></th>')[1].split("</tr>")[0]
    assert "<td>12.0000</td>" in row_a and "<td>31.0000</td>" in row_b and "<td>—</td>" in row_a  # l1 is null
    other = client.get("/tiny/evals?type=absorption_first_letter").content.decode()
    other = other.split('id="evals-table"')[1]  # the chosen type's table (the overview lists every source)
    assert "mean_absorption_score" in other and "1-res-test" not in other


@pytest.mark.parametrize(
    ("content", "kwargs", "message"),
    [
        ("{not json", {"source": "0-res-test"}, "not valid JSON"),
        ([1, 2], {"source": "0-res-test"}, "must be a JSON object"),
        ({"eval_result_metrics": {"a": {"b": 1}}}, {"source": "0-res-test"}, "eval_type_id"),
        (
            {"eval_type_id": "core", "eval_result_metrics": {"a": {"b": "x"}}},
            {"source": "0-res-test"},
            "eval_result_metrics.a.b",
        ),
        (
            {"eval_type_id": "core", "eval_result_metrics": {}},
            {"source": "0-res-test"},
            "eval_result_metrics",
        ),
        (_core(1.0), {"source": "9-nope"}, "not found"),
        ({**_core(1.0), "sae_lens_id": "blocks.7.x"}, {}, "No source of 'tiny' loads"),
    ],
)
def test_bad_files_are_clear_command_errors_and_write_nothing(
    tmp_path, make_source, content, kwargs, message
):
    make_source(layer=0, sae_release="tiny-release", sae_id="blocks.0.hook_resid_pre")
    good = _write(tmp_path, "good.json", _core(5.0))
    bad = _write(tmp_path, "bad.json", content)
    with pytest.raises(CommandError, match=message):
        call_command("import_saebench", good, bad, model="tiny", **kwargs)
    assert Eval.objects.count() == 0  # the good file before it was not kept either
    with pytest.raises(CommandError, match="Model 'nope' not found"):
        call_command("import_saebench", good, model="nope")
    with pytest.raises(CommandError, match="cannot read"):
        call_command("import_saebench", str(tmp_path / "missing.json"), model="tiny", source="0-res-test")


def test_upload_on_the_source_page(client, make_source, make_user):
    from django.core.files.uploadedfile import SimpleUploadedFile

    owner, other = make_user(), make_user()
    source = make_source(owner=owner)
    url = f"/tiny/{source.name}/evals/upload"

    def upload(data, name="result.json"):
        body = data if isinstance(data, bytes) else json.dumps(data).encode()
        return client.post(url, {"file": SimpleUploadedFile(name, body, "application/json")}, follow=True)

    client.force_login(other)
    assert "Upload a SAEBench result" not in client.get(f"/tiny/{source.name}").content.decode()
    r = upload(_core(4.0))
    assert "is not yours" in r.content.decode() and not Eval.objects.exists()
    client.force_login(owner)
    assert "Upload a SAEBench result" in client.get(f"/tiny/{source.name}").content.decode()
    r = upload(b"{oops")
    assert "not valid JSON" in r.content.decode() and not Eval.objects.exists()
    r = upload({"eval_type_id": "core", "eval_result_metrics": {"x": {"y": "z"}}})
    assert "eval_result_metrics.x.y" in r.content.decode() and not Eval.objects.exists()
    r = upload(_core(4.0))
    assert "Imported the core eval." in r.content.decode()
    assert "<td>sparsity</td><td>l0</td><td>4.0000</td>" in r.content.decode()
    client.logout()
    assert client.post(url).status_code == 302  # sign in first
