"""generate_explanations / score_explanations: resumable, per-feature failures recorded, counts."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from autointerp.models import AutointerpRun
from features.models import Activation, Explanation, ExplanationScore


@pytest.fixture
def source_with_features(make_source, make_feature):
    source = make_source(model="tiny", set_name="res-batch", layer=0)
    for i in range(6):
        feature = make_feature(source=source, index=i)
        if i == 5:
            continue  # no activations
        word = "Ġbad" if i == 4 else f"Ġword{i}"
        Activation.objects.create(feature=feature, tokens=["Ġthe", word], values=[0.0, 2.0], max_value=2.0)
        Activation.objects.create(
            feature=feature, tokens=["Ġzero", "Ġtext"], values=[0.0, 0.0], max_value=0.0
        )
    return source


def answer(messages):
    prompt = messages[-1]["content"]
    if "bad" in prompt:
        return "no idea"
    if "Text examples:" in prompt:  # detection
        return "[1]" if "word" in prompt.split("Text examples:")[1] else "[0]"
    word = next(w for w in prompt.replace("<<", " ").replace(">>", " ").split() if w.startswith("word"))
    return f"[EXPLANATION]: the token {word}"


def _generate(capsys, *extra):
    call_command(
        "generate_explanations", "--model", "tiny", "--source", "0-res-batch", "--type", "eleuther_acts_top20",
        "--concurrency", "3", *extra, verbosity=0,
    )  # fmt: skip
    return capsys.readouterr().out


def test_generate_resumes_and_records_failures(llm, source_with_features, capsys):
    llm.answer = answer
    out = _generate(capsys, "--features", "0:2")
    assert "2 done, 0 skipped (already done), 0 failed of 2; 2 LLM calls" in out
    out = _generate(capsys)
    assert "2 done, 2 skipped (already done), 2 failed of 6; 3 LLM calls" in out
    assert "feature 4: The LLM's answer could not be parsed" in out
    assert "feature 5: No activations found for this neuron" in out
    descriptions = dict(Explanation.objects.values_list("feature__index", "description"))
    assert descriptions == {i: f"the token word{i}" for i in range(4)}
    run = AutointerpRun.objects.latest("started_at")
    assert (run.status, run.done, run.skipped, run.failed, run.calls) == ("done", 2, 2, 2, 3)
    assert run.prompt_tokens > 0 and [f["index"] for f in run.failures] == [5, 4]
    # A third run retries only the failures.
    llm.requests.clear()
    out = _generate(capsys)
    assert "0 done, 4 skipped (already done), 2 failed of 6; 1 LLM calls" in out


def test_provider_down_fails_features_not_the_run(llm, source_with_features, capsys, settings):
    settings.AUTOINTERP_MAX_RETRIES = 0
    llm.fail_next(*([503] * 100))
    out = _generate(capsys)
    assert "0 done, 0 skipped (already done), 6 failed of 6" in out and "HTTP 503" in out
    assert not Explanation.objects.exists()


def test_score_batch_skips_scored(llm, source_with_features, capsys):
    llm.answer = answer
    _generate(capsys)
    call_command(
        "score_explanations", "--model", "tiny", "--source", "0-res-batch", "--scorer", "eleuther_recall",
        "--concurrency", "4", verbosity=0,
    )  # fmt: skip
    out = capsys.readouterr().out
    assert "4 done, 0 skipped (already done), 0 failed of 4; 8 LLM calls" in out
    # each feature: its activating text holds "word" (correct), its zero text does not (correct)
    assert set(ExplanationScore.objects.values_list("value", flat=True)) == {1.0}
    call_command(
        "score_explanations",
        "--model",
        "tiny",
        "--source",
        "0-res-batch",
        "--scorer",
        "eleuther_recall",
        verbosity=0,
    )
    assert "0 done, 4 skipped" in capsys.readouterr().out


def test_bad_arguments(llm, source_with_features):
    with pytest.raises(CommandError, match="explanationType: unsupported explanation type 'nope'"):
        call_command("generate_explanations", "--model", "tiny", "--source", "0-res-batch", "--type", "nope")
    with pytest.raises(CommandError, match="Source 'tiny/9-x' not found"):
        call_command("generate_explanations", "--model", "tiny", "--source", "9-x", "--type", "top-tokens")
    with pytest.raises(CommandError, match="features: must look like 0:100"):
        call_command(
            "generate_explanations",
            "--model",
            "tiny",
            "--source",
            "0-res-batch",
            "--type",
            "top-tokens",
            "--features",
            "5:2",
        )
    with pytest.raises(CommandError, match="concurrency: must be between 1 and 512"):
        call_command(
            "score_explanations",
            "--model",
            "tiny",
            "--source",
            "0-res-batch",
            "--scorer",
            "recall_alt",
            "--concurrency",
            "0",
        )
    assert not AutointerpRun.objects.exists()
