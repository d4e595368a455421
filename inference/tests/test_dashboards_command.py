"""``manage.py generate_dashboards`` end to end: real loaders on local folders, the importers'
write path, resume after a real kill, and clear errors on bad input."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

ROOT = Path(__file__).resolve().parents[2]
HOOK = "blocks.1.hook_resid_pre"


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    from inference.testing import build_tiny_model, build_tiny_sae

    base = tmp_path_factory.mktemp("dash")
    model = build_tiny_model(base / "model", n_ctx=32, vocab_size=300)
    sae = build_tiny_sae(base / "sae", d_in=32, d_sae=48, hook_name=HOOK, model_name="dash-tiny")
    return model, sae


@pytest.fixture
def source(db, folders):
    from inference.testing import register_tiny

    _, _, sources = register_tiny(
        model_name="dash-tiny", model_folder=folders[0], sae_folders={1: folders[1]}
    )
    return sources[0]


def _features(source):
    from features.models import Feature

    return {f.index: f for f in Feature.objects.filter(source=source).prefetch_related("activations")}


def test_generate_dashboards_writes_every_feature_matching_a_direct_computation(source, folders):
    import torch

    from inference.loading import load_model, load_sae

    call_command(
        "generate_dashboards",
        "--model",
        "dash-tiny",
        "--source",
        source.name,
        "--n-prompts",
        "24",
        "--ctx-len",
        "16",
        "--batch-size",
        "16",
        "--no-umap",
        verbosity=0,
    )
    feats = _features(source)
    assert sorted(feats) == list(range(48))
    # brute force with the real loaders and sae_lens, over every token
    from inference.dashboards.corpus import tokenize_corpus

    model, sae = load_model(source.model), load_sae(source)
    tokens = tokenize_corpus(model.tokenizer, "pydoc", n_prompts=24, ctx_len=16)
    with torch.inference_mode():
        _, cache = model.run_with_cache(tokens, names_filter=HOOK)
        acts = sae.encode(cache[HOOK])
    acts = acts * (tokens != model.tokenizer.bos_token_id).unsqueeze(-1)
    for index, f in feats.items():
        col = acts[..., index].flatten()
        assert f.frac_nonzero == pytest.approx(int((col > 0).sum()) / int((tokens != 1).sum()))
        top = [a for a in f.activations.all() if a.bin_min == -1]
        prompt_max = acts[..., index].max(dim=1).values  # one snippet per prompt
        assert len(top) == min(20, int((prompt_max > 0).sum()))
        if top:
            qualifying = sorted((a.values[a.qualifying_token_index] for a in top), reverse=True)
            assert qualifying == pytest.approx(prompt_max.topk(len(top)).values.tolist(), rel=1e-5)
            assert f.max_act_approx == pytest.approx(float(col.max()), rel=1e-5)
            assert top[0].data_source == "pydoc"
        assert len(f.topk_cos_sim_indices) == 10 and index not in f.topk_cos_sim_indices
        assert f.hook_name == HOOK
    source.refresh_from_db()
    assert source.num_prompts == 24 and source.num_tokens_in_prompt == 16


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--source", "9-nope"], "not found"),
        (["--features", "40:99"], "outside 0:48"),
        (["--features", "x"], "must look like"),
        (["--ctx-len", "999"], "exceeds the model's context"),
        (["--corpus", "/no/such/file.jsonl"], "does not exist"),
    ],
)
def test_bad_input_is_a_clear_command_error(source, args, message):
    from features.models import Feature

    base = {"--model": "dash-tiny", "--source": source.name}
    argv = [x for k, v in base.items() if k not in args for x in (k, v)] + args
    with pytest.raises(CommandError, match=message):
        call_command("generate_dashboards", *argv, "--no-umap", verbosity=0)
    assert not Feature.objects.filter(source=source).exists()


def test_a_killed_generation_resumes_where_it_stopped(transactional_db, folders, tmp_path):
    from django.db import connection

    from features.models import Activation, Feature, ImportLedger
    from inference.testing import register_tiny

    _, _, (source,) = register_tiny(
        model_name="dash-tiny", model_folder=folders[0], sae_folders={1: folders[1]}
    )
    env = {
        **os.environ,
        "EMBEDDED_DB_NAME": connection.settings_dict["NAME"],
        "DJANGO_SETTINGS_MODULE": "neuronsite.settings",
    }
    argv = [
        sys.executable, "manage.py", "generate_dashboards", "--model", "dash-tiny", "--source", source.name,
        "--n-prompts", "400", "--ctx-len", "32", "--batch-size", "4", "--features-per-pass", "4",
        "--no-umap", "-v", "0",
    ]  # fmt: skip
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if ImportLedger.objects.filter(kind="dashboards").count() >= 2:
            break
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()[0].decode()[-2000:]
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = ImportLedger.objects.filter(kind="dashboards").count()
    assert 2 <= done_before < 12
    assert Feature.objects.filter(source=source).count() == 4 * done_before  # whole batches only
    first_ids = set(Feature.objects.filter(source=source).values_list("id", flat=True))

    out = subprocess.run(
        argv[:-2] + ["-v", "1"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert f"{12 - done_before} batches written" in out.stdout and f"{done_before} already done" in out.stdout
    assert ImportLedger.objects.filter(kind="dashboards").count() == 12
    assert sorted(Feature.objects.filter(source=source).values_list("index", flat=True)) == list(range(48))
    assert first_ids <= set(Feature.objects.filter(source=source).values_list("id", flat=True))
    n_snippets = Activation.objects.filter(feature__source=source).count()

    again = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and Activation.objects.filter(feature__source=source).count() == n_snippets
