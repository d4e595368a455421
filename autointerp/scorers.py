"""Scorers, by Neuronpedia's type names. Each takes an explanation, the feature's top activating
examples (20) and non-activating examples (up to 5 zero-activation texts; the 5 fixed decoys
when the feature has none) and returns ``(value in [0, 1], details JSON)``, or raises
``UpstreamError`` when a call failed or an answer did not parse (nothing is stored then).

- ``eleuther_fuzz``: delphi ``FuzzingScorer`` (highlighted tokens; is the highlighting right?).
  value = correct / examples.
- ``eleuther_recall``: delphi ``DetectionScorer`` (Neuronpedia stores detection under this
  name; does the text have the feature?). value = correct / examples.
- ``eleuther_embedding``: delphi ``EmbeddingScorer`` with the local embedding model on CPU.
  value = ROC AUC of the similarities (activating above non-activating), no LLM.
- ``recall_alt``: one JSON-answer call per example; top activations should match, zero
  activations and the fixed decoys should not. value = correct / (top + zero + decoys).
"""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass

from autointerp.explainers import Example, unparseable

N_TOP = 20
N_ZERO = 5


@dataclass(frozen=True)
class ScorerSpec:
    name: str
    uses_llm: bool
    display_name: str
    description: str


SCORERS: dict[str, ScorerSpec] = {
    s.name: s
    for s in (
        ScorerSpec("eleuther_fuzz", True, "Fuzz (EleutherAI)", "delphi FuzzingScorer: correct / examples."),
        ScorerSpec(
            "eleuther_recall", True, "Detection (EleutherAI)", "delphi DetectionScorer: correct / examples."
        ),
        ScorerSpec(
            "eleuther_embedding",
            False,
            "Embedding (EleutherAI)",
            "delphi EmbeddingScorer with all-MiniLM-L6-v2: ROC AUC of activating vs non-activating similarity.",
        ),
        ScorerSpec(
            "recall_alt",
            True,
            "Recall (alt)",
            "One JSON verdict per example: correct / (top + zero + decoys).",
        ),
    )
}

# Fixed decoys (texts unrelated to most features), as Neuronpedia's recall_alt uses.
DECOYS: tuple[str, ...] = (
    "The quarterly report shows revenue growth across all regions.",
    "She planted tomatoes and basil in the garden last spring.",
    "Press the red button twice to reset the device.",
    "The river flooded the valley after three days of rain.",
    "He tuned the violin before the evening concert began.",
)


def decoy_examples() -> list[Example]:
    out = []
    for text in DECOYS:
        words = text.split(" ")
        tokens = [words[0]] + [" " + w for w in words[1:]]
        out.append(Example(tokens=tokens, values=[0.0] * len(tokens)))
    return out


# --- eleuther classifiers (delphi) --------------------------------------------------------------


def _classifier_details(outputs, *, highlighted: bool) -> list[dict]:
    return [
        {
            "text": "".join(o.str_tokens),
            "distance": o.distance,
            "ground_truth": bool(o.activating),
            "prediction": o.prediction,
            "highlighted": highlighted,
            "correct": o.correct,
            "probability": o.probability,
            "conditional_probability": None,
            "activations": [float(a) for a in o.activations],
            "str_tokens": list(o.str_tokens),
        }
        for o in outputs
    ]


async def _score_classifier(kind: str, explanation: str, top: list[Example], negatives: list[Example], llm):
    from autointerp.delphi_adapter import delphi, delphi_client
    from autointerp.explainers import delphi_record

    d = delphi()
    errors: list = []
    answers: list = []
    client = delphi_client(llm, errors=errors, answers=answers, max_tokens=100)
    record = delphi_record(top, not_active=negatives, explanation=explanation)
    if kind == "eleuther_fuzz":
        scorer = d.FuzzingScorer(client, n_examples_shown=1, threshold=0.3, log_prob=False, temperature=0)
    else:
        scorer = d.DetectionScorer(client, n_examples_shown=1, log_prob=False, temperature=0)
    result = await scorer(record)
    if errors:
        raise errors[0]
    outputs = list(result.score)
    if not outputs:
        raise unparseable("no examples were scored", "")
    bad = [o for o in outputs if o.prediction is None]
    if bad:
        raise unparseable(
            f"{len(bad)} of {len(outputs)} answers were not a list of 0/1", answers[-1] if answers else ""
        )
    correct = sum(1 for o in outputs if o.correct)
    return correct / len(outputs), _classifier_details(outputs, highlighted=kind == "eleuther_fuzz")


# --- eleuther_embedding -------------------------------------------------------------------------


def _auc(pos: list[float], neg: list[float]) -> float:
    if not pos or not neg:
        return 0.0
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


async def _score_embedding(explanation: str, top: list[Example], negatives: list[Example]):
    from autointerp.delphi_adapter import delphi
    from autointerp.engines.embeddings import sentence_transformer
    from autointerp.explainers import delphi_record

    record = delphi_record(top, not_active=negatives, explanation=explanation)
    n_active = len(record.test)
    result = await delphi().EmbeddingScorer(sentence_transformer())(record)
    # delphi shuffles; an example is activating when its distance is a quantile (ours: 0), and
    # non-activating examples carry distance -1.
    details = [
        {
            "text": o.text,
            "distance": o.distance,
            "similarity": float(o.similarity),
            "ground_truth": o.distance != -1,
        }
        for o in result.score
    ]
    pos = [d["similarity"] for d in details if d["ground_truth"]]
    neg = [d["similarity"] for d in details if not d["ground_truth"]]
    assert len(pos) == n_active
    return _auc(pos, neg), details


# --- recall_alt ---------------------------------------------------------------------------------

RECALL_SYSTEM = (
    "You judge whether an explanation of a language-model feature matches a text. You are given the "
    'explanation and the text as a JSON list of {"token", "activation"} pairs. Answer only with JSON: '
    '{"match": true or false, "reason": "<one short sentence>"}. "match" is true when the text contains '
    "what the explanation describes."
)


def recall_prompt(explanation: str, example: Example) -> list[dict]:
    pairs = [
        {"token": t, "activation": round(float(v), 3)}
        for t, v in zip(example.tokens, example.values, strict=True)
    ]
    user = f"Explanation: {explanation}\n\nText: {json.dumps(pairs, ensure_ascii=False)}\n\nDoes it match?"
    return [{"role": "system", "content": RECALL_SYSTEM}, {"role": "user", "content": user}]


def _parse_verdict(answer: str) -> tuple[bool, str]:
    match = re.search(r"\{.*\}", answer, re.DOTALL)
    if match is None:
        raise unparseable('no JSON object {"match": ..., "reason": ...}', answer)
    try:
        body = json.loads(match.group(0))
    except ValueError:
        raise unparseable("invalid JSON", answer) from None
    if not isinstance(body, dict) or not isinstance(body.get("match"), bool):
        raise unparseable('"match" is not true/false', answer)
    return body["match"], str(body.get("reason", ""))[:500]


async def _score_recall_alt(explanation: str, top: list[Example], zero: list[Example], llm):
    groups = {"top": top, "zero": zero, "decoy": decoy_examples()}

    async def ask(example: Example) -> str:
        return (await llm.chat(recall_prompt(explanation, example), temperature=0.0, max_tokens=200)).text

    # Answers are parsed only after every call has returned, so a provider failure is always the
    # error reported (an unparseable answer that happened to arrive first used to win the race).
    async with asyncio.TaskGroup() as tg:
        tasks = {name: [tg.create_task(ask(e)) for e in examples] for name, examples in groups.items()}
    details: dict[str, list] = {}
    correct = total = 0
    for name, examples in groups.items():
        details[name] = []
        for example, task in zip(examples, tasks[name], strict=True):
            match, reason = _parse_verdict(task.result())
            ok = match if name == "top" else not match
            correct += int(ok)
            total += 1
            details[name].append(
                {
                    "tokens": example.tokens,
                    "values": example.values,
                    "match": match,
                    "reason": reason,
                    "correct": ok,
                }
            )
    return correct / total, details


# --- entry point --------------------------------------------------------------------------------


async def score(type_name: str, explanation: str, top: list[Example], zero: list[Example], *, llm=None):
    """``(value, details)`` for ``type_name``. ``zero`` are the feature's zero-activation texts."""
    top = top[:N_TOP]
    zero = zero[:N_ZERO]
    try:
        if type_name == "recall_alt":
            return await _score_recall_alt(explanation, top, zero, llm)
        negatives = zero or decoy_examples()
        if type_name == "eleuther_embedding":
            return await _score_embedding(explanation, top, negatives)
        return await _score_classifier(type_name, explanation, top, negatives, llm)
    except ExceptionGroup as group:  # from the TaskGroup: the first failure says why
        raise group.exceptions[0] from None
