"""POST /api/explanation/score: each value equals the hand computation from scripted answers."""

from __future__ import annotations

import json
import math

import pytest

from features.models import ExplanationScore

SCORE = "/api/explanation/score"


def _examples_part(messages) -> str:
    return messages[-1]["content"].split("Text examples:", 1)[1]


def classifier_answer(marker: str):
    """'[1]' when the shown example holds ``marker``, else '[0]' (one example per call)."""
    return lambda messages: "[1]" if marker in _examples_part(messages) else "[0]"


def recall_answer(messages) -> str:
    text = messages[-1]["content"].split("Text: ", 1)[1]
    return json.dumps({"match": '"token": " cat"' in text, "reason": "looked for cat"})


@pytest.fixture
def explanation(cat_feature, signed_in):
    from features import services

    return services.explanation_create(
        feature=cat_feature, description="felines", type_name="human", author=signed_in.user
    )


def _score(client, explanation, scorer_type, **kw):
    return client.post(
        SCORE, {"explanationId": explanation.pk, "scorerType": scorer_type, **kw}, format="json"
    )


def test_detection_stored_as_eleuther_recall(llm, explanation, signed_in):
    llm.answer = classifier_answer(" cat")
    r = _score(signed_in, explanation, "eleuther_recall")
    assert r.status_code == 200, r.json()
    score = r.json()["score"]
    # 4 activating texts (3 with " cat": correct; the dog one: missed) + 2 zero texts (correct).
    assert score["value"] == pytest.approx(5 / 6)
    assert score["explanationScoreTypeName"] == "eleuther_recall"
    assert score["explanationScoreModelName"] == "scripted-scorer"
    assert score["initiatedByUserId"] == signed_in.user.pk and score["explanationId"] == str(explanation.pk)
    details = score["jsonDetails"]
    assert len(details) == 6 and set(details[0]) == {
        "text", "distance", "ground_truth", "prediction", "highlighted", "correct", "probability",
        "conditional_probability", "activations", "str_tokens",
    }  # fmt: skip
    assert sum(d["correct"] for d in details) == 5
    assert all(d["highlighted"] is False for d in details)
    assert len(llm.chat_requests()) == 6
    assert "Latent explanation: felines" in llm.chat_requests()[0]["messages"][-1]["content"]
    assert ExplanationScore.objects.get().value == pytest.approx(5 / 6)


def test_fuzz_counts_highlighted_examples(llm, explanation, signed_in):
    llm.answer = classifier_answer("<< cat>>")
    r = _score(signed_in, explanation, "eleuther_fuzz")
    assert r.status_code == 200, r.json()
    details = r.json()["score"]["jsonDetails"]
    # Activating texts highlight their peak token; zero texts get random (wrong) highlights.
    expected = sum(1 for d in details if d["ground_truth"] == ("<< cat>>" in _shown(llm, d["text"]))) / len(
        details
    )
    assert r.json()["score"]["value"] == pytest.approx(expected) == pytest.approx(5 / 6)
    assert all(d["highlighted"] for d in details)


def _shown(llm, text):
    """The highlighted form of ``text`` as the scorer sent it."""
    for body in llm.chat_requests():
        part = _examples_part(body["messages"])
        if part.replace("<<", "").replace(">>", "").strip().endswith(text.strip()):
            return part
    raise AssertionError(text)


def test_recall_alt_one_call_per_example_with_decoys(llm, explanation, signed_in):
    llm.answer = recall_answer
    r = _score(signed_in, explanation, "recall_alt")
    assert r.status_code == 200, r.json()
    score = r.json()["score"]
    # top: 3 of 4 match (dog does not) + zero: 2 of 2 do not + decoys: 5 of 5 do not = 10 / 11.
    assert score["value"] == pytest.approx(10 / 11)
    details = score["jsonDetails"]
    assert [len(details[k]) for k in ("top", "zero", "decoy")] == [4, 2, 5]
    assert details["top"][0]["tokens"] == [" the", " cat", " sat"] and details["top"][0]["match"] is True
    assert details["top"][0]["reason"] == "looked for cat"
    assert len(llm.chat_requests()) == 11


def test_rescoring_adds_a_row(llm, explanation, signed_in):
    llm.answer = recall_answer
    assert _score(signed_in, explanation, "recall_alt").status_code == 200
    assert _score(signed_in, explanation, "recall_alt").status_code == 200
    assert ExplanationScore.objects.count() == 2


def test_embedding_scorer_is_auc_of_similarities(explanation, signed_in, settings):
    settings.OPENAI_API_KEY = ""  # needs no LLM
    r = _score(signed_in, explanation, "eleuther_embedding")
    assert r.status_code == 200, r.json()
    score = r.json()["score"]
    assert score["explanationScoreModelName"] == "all-MiniLM-L6-v2"
    details = score["jsonDetails"]
    pos = [d["similarity"] for d in details if d["ground_truth"]]
    neg = [d["similarity"] for d in details if not d["ground_truth"]]
    assert (len(pos), len(neg)) == (4, 2)
    auc = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg) / (len(pos) * len(neg))
    assert score["value"] == pytest.approx(auc)
    assert score["value"] > 0.5  # "felines" is nearer the cat texts than stocks and rain
    assert all(-1 <= s <= 1 and not math.isnan(s) for s in pos + neg)


@pytest.mark.parametrize("scorer", ["eleuther_recall", "eleuther_fuzz", "recall_alt"])
def test_failure_or_garbage_stores_no_score(llm, explanation, signed_in, settings, scorer):
    settings.AUTOINTERP_MAX_RETRIES = 0
    llm.fail_next(500)
    r = _score(signed_in, explanation, scorer)
    assert r.status_code == 502 and "scripted failure 500" in r.json()["error"]
    llm.answer = lambda messages: "I think so"
    r = _score(signed_in, explanation, scorer)
    assert r.status_code == 502 and "could not be parsed" in r.json()["error"]
    assert not ExplanationScore.objects.exists()


def test_bad_input(llm, explanation, signed_in, make_feature, settings):
    r = _score(signed_in, explanation, "simulation")
    assert r.status_code == 400 and "scorerType" in r.json()["error"] and "simulation" in r.json()["error"]
    r = signed_in.post(SCORE, {"explanationId": 999999, "scorerType": "recall_alt"}, format="json")
    assert r.status_code == 404 and "999999" in r.json()["error"]
    r = signed_in.post(SCORE, {"explanationId": "abc", "scorerType": "recall_alt"}, format="json")
    assert r.status_code == 400 and "explanationId" in r.json()["error"]
    settings.OPENAI_API_KEY = ""
    r = _score(signed_in, explanation, "recall_alt")
    assert r.status_code == 400 and "OPENAI_API_KEY" in r.json()["error"]
    assert not ExplanationScore.objects.exists()
