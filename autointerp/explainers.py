"""Explainers, by Neuronpedia's type names. Each takes a feature's top activations (display
tokens + values, already de-duplicated by text) and returns one explanation string, or raises
``UpstreamError`` when the LLM fails or its answer does not parse (nothing is stored then).

- ``eleuther_acts_top20``: delphi's ``DefaultExplainer`` (its prompt and its parser), 20 examples.
- ``oai_token-act-pair``: OpenAI's neuron-explainer prompt (token<TAB>activation, 0–10), 10 examples.
- ``np_max-act-logits``: top activating tokens in context plus the top positive logits, 10 examples.
- ``top-tokens``: the deterministic offline explainer of the demo, no LLM.
"""

from __future__ import annotations

import math
import re
from array import array
from dataclasses import dataclass
from functools import lru_cache

from neuronsite.errors import UpstreamError


@dataclass(frozen=True)
class Example:
    """One activating text: display tokens and their activations."""

    tokens: list[str]
    values: list[float]

    @property
    def max_value(self) -> float:
        return max(self.values) if self.values else 0.0

    @property
    def text(self) -> str:
        return "".join(self.tokens)

    def normalized(self, top: float) -> list[int]:
        """Activations on delphi's / OpenAI's 0–10 integer scale relative to ``top``."""
        if top <= 0:
            return [0 for _ in self.values]
        return [max(0, min(10, math.floor(10 * v / top))) for v in self.values]


@dataclass(frozen=True)
class ExplainerSpec:
    name: str
    n_examples: int
    uses_llm: bool
    display_name: str
    description: str


TOP_TOKENS = "top-tokens"  # the demo's type name (inference.demo.seed.EXPLANATION_TYPE)
TOP_TOKENS_MODEL = "neuronsite-top-tokens"

EXPLAINERS: dict[str, ExplainerSpec] = {
    spec.name: spec
    for spec in (
        ExplainerSpec(
            "eleuther_acts_top20",
            20,
            True,
            "EleutherAI default (top 20 activations)",
            "delphi DefaultExplainer over the top 20 activating texts, highlighted, with activations.",
        ),
        ExplainerSpec(
            "oai_token-act-pair",
            10,
            True,
            "OpenAI token-activation pairs",
            "OpenAI's neuron-explainer prompt: each text as token<TAB>activation (0-10).",
        ),
        ExplainerSpec(
            "np_max-act-logits",
            10,
            True,
            "Neuronpedia max activations + top logits",
            "Top activating tokens in context and the feature's top positive logits.",
        ),
        ExplainerSpec(
            TOP_TOKENS,
            10,
            False,
            "Top tokens",
            "Deterministic summary of the tokens a feature fires on most and what precedes them (no LLM).",
        ),
    )
}


def unparseable(why: str, answer: str) -> UpstreamError:
    return UpstreamError(
        f"The LLM's answer could not be parsed ({why}); nothing was stored. Answer: {answer[:300]!r}"
    )


# --- eleuther_acts_top20 (delphi) ----------------------------------------------------------------


def delphi_record(examples: list[Example], *, not_active: list[Example] = (), explanation: str = ""):
    """A delphi ``LatentRecord`` from our examples (train = test = the activating examples),
    holding torch tensors as delphi's own loader builds them (its scorers need them)."""
    import torch

    from autointerp.delphi_adapter import delphi

    d = delphi()
    top = max((e.max_value for e in examples), default=0.0)
    activating = [
        d.ActivatingExample(
            tokens=torch.zeros(len(e.tokens), dtype=torch.long),
            activations=torch.tensor(e.values, dtype=torch.float32),
            normalized_activations=torch.tensor(e.normalized(top), dtype=torch.float32),
            str_tokens=list(e.tokens),
            quantile=0,
        )
        for e in examples
    ]
    inactive = [
        d.NonActivatingExample(
            tokens=torch.zeros(len(e.tokens), dtype=torch.long),
            activations=torch.tensor(e.values, dtype=torch.float32),
            str_tokens=list(e.tokens),
            distance=-1,
        )
        for e in not_active
    ]
    return d.LatentRecord(
        latent=d.Latent("feature", 0),
        examples=activating,
        train=activating,
        test=activating,
        not_active=inactive,
        explanation=explanation,
    )


# delphi's DefaultExplainer(threshold=0.3, activations=True, cot=False), as we construct it
ELEUTHER_THRESHOLD = 0.3
ELEUTHER_MAX_SHOWN = 10  # delphi's _join_activations stops once more than this many are listed


@lru_cache(maxsize=1)
def _eleuther_explainer():
    from autointerp.delphi_adapter import delphi

    return delphi().DefaultExplainer(client=None, threshold=ELEUTHER_THRESHOLD, activations=True, cot=False)


@lru_cache(maxsize=1)
def _eleuther_prefix() -> tuple[dict, ...]:
    """delphi's system message and three few-shot exchanges (the same for every feature)."""
    from autointerp.delphi_adapter import delphi

    delphi()  # registers delphi's packages without vllm first
    from delphi.explainers.default.prompt_builder import build_prompt

    return tuple(build_prompt(examples="", activations=True, cot=False)[:-1])


def _eleuther_example(e: Example, top: float) -> str:
    """One example exactly as delphi's ``_highlight`` + ``_join_activations`` write it for a record
    from ``delphi_record``, in one pass: delphi recomputes ``max(activations)`` for every token
    (quadratic in the text length), which made prompt building most of a batch run's CPU."""
    values = array("f", e.values).tolist()  # the float32 values delphi's tensors hold
    tokens = e.tokens
    threshold = (max(values) if values else 0.0) * ELEUTHER_THRESHOLD
    parts, inside = [], False
    shown, count = [], 0
    for k, (token, value) in enumerate(zip(tokens, values, strict=False)):
        above = value > threshold
        if above != inside:
            parts.append("<<" if above else ">>")
            inside = above
        parts.append(token)
        if above and count <= ELEUTHER_MAX_SHOWN:
            normalized = max(0, min(10, math.floor(10 * e.values[k] / top))) if top > 0 else 0
            shown.append(f'("{token}" : {normalized}), ')
            count += 1
    if inside:
        parts.append(">>")
    parts.extend(tokens[len(values) :])  # delphi highlights over the tokens, lists over the pairs
    return "".join(parts) + "\nActivations: " + "".join(shown)


def eleuther_prompt(examples: list[Example]) -> list[dict]:
    """delphi's ``DefaultExplainer`` prompt for these examples (its few-shot prefix, its format)."""
    top = max((e.max_value for e in examples), default=0.0)
    text = "\n".join(_eleuther_example(e, top) for e in examples)
    return [dict(m) for m in _eleuther_prefix()] + [{"role": "user", "content": f"\n{text}\n"}]


async def _explain_eleuther(examples: list[Example], llm) -> str:
    # what DefaultExplainer.__call__ does (its prompt, temperature 0, its parser), with our client
    answer = (await llm.chat(eleuther_prompt(examples), temperature=0.0, max_tokens=1000)).text
    text = (_eleuther_explainer().parse_explanation(answer) or "").strip()
    if not text or text == "Explanation could not be parsed.":
        raise unparseable("no '[EXPLANATION]:' line", answer)
    return text


# --- oai_token-act-pair -------------------------------------------------------------------------

OAI_SYSTEM = (
    "We're studying neurons in a neural network. Each neuron looks for some particular thing in a short "
    "document. Look at the parts of the document the neuron activates for and summarize in a single "
    "sentence what the neuron is looking for. Don't list examples of words.\n\nThe activation format is "
    "token<tab>activation. Activation values range from 0 to 10. A neuron finding what it's looking for is "
    "represented by a non-zero activation value. The higher the activation value, the stronger the match."
)
OAI_TAIL = "Explanation of neuron 1 behavior: the main thing this neuron does is find"


def oai_prompt(examples: list[Example]) -> list[dict]:
    top = max((e.max_value for e in examples), default=0.0)
    blocks, nonzero = [], []
    for e in examples:
        norm = e.normalized(top)
        blocks.append(
            "<start>\n" + "\n".join(f"{t}\t{a}" for t, a in zip(e.tokens, norm, strict=True)) + "\n<end>"
        )
        nonzero.append(
            "<start>\n" + "\n".join(f"{t}\t{a}" for t, a in zip(e.tokens, norm, strict=True) if a) + "\n<end>"
        )
    user = (
        "\n\nNeuron 1\nActivations:\n"
        + "\n".join(blocks)
        + "\n\n\nSame activations, but with all zeros filtered out:\n"
        + "\n".join(nonzero)
        + "\n\n\n"
        + OAI_TAIL
    )
    return [{"role": "system", "content": OAI_SYSTEM}, {"role": "user", "content": user}]


def _first_line(answer: str) -> str:
    text = answer.strip()
    if OAI_TAIL in text:  # some models echo the prompt's last line
        text = text.split(OAI_TAIL, 1)[1]
    text = re.sub(r"^\[?EXPLANATION\]?:\s*", "", text.strip(), flags=re.I)
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), "")
    return line.strip().strip('"').rstrip(".").strip()


# --- np_max-act-logits --------------------------------------------------------------------------

NP_SYSTEM = (
    "You are explaining the behavior of a feature in a language model. You are given the texts where it "
    "activates most, with the most strongly activating token marked [[like this]], and the tokens whose "
    "output logits it boosts most. Answer with a concise explanation of what the feature detects or "
    "predicts, in at most 12 words, with no preamble and no trailing period."
)


def np_prompt(examples: list[Example], top_logits: list[str]) -> list[dict]:
    lines = []
    for i, e in enumerate(examples, 1):
        peak = max(range(len(e.values)), key=lambda k: e.values[k]) if e.values else 0
        text = "".join(f"[[{t}]]" if k == peak else t for k, t in enumerate(e.tokens))
        lines.append(
            f"{i}. {text}  (max activation {e.max_value:.2f} on {e.tokens[peak]!r})" if e.tokens else f"{i}."
        )
    logits = ", ".join(repr(t) for t in top_logits[:10]) or "(none)"
    user = "Top activating texts:\n" + "\n".join(lines) + f"\n\nTop positive logits: {logits}\n\nExplanation:"
    return [{"role": "system", "content": NP_SYSTEM}, {"role": "user", "content": user}]


# --- top-tokens (offline) -----------------------------------------------------------------------


def top_tokens(examples: list[Example]) -> str:
    from inference.demo.seed import top_tokens_explanation

    peaks, previous = [], []
    for e in examples:
        if not e.values:
            continue
        k = max(range(len(e.values)), key=lambda i: e.values[i])
        peaks.append(e.tokens[k])
        previous.append(e.tokens[k - 1] if k > 0 else "")
    text = top_tokens_explanation(peaks, previous)
    if not text:
        raise unparseable("no activating tokens", "")
    return text


# --- entry point --------------------------------------------------------------------------------


async def explain(type_name: str, examples: list[Example], *, llm=None, top_logits: list[str] = ()) -> str:
    """One explanation of ``type_name`` for these examples (already cut to the type's count)."""
    if type_name == TOP_TOKENS:
        return top_tokens(examples)
    if type_name == "eleuther_acts_top20":
        return await _explain_eleuther(examples, llm)
    messages = (
        oai_prompt(examples) if type_name == "oai_token-act-pair" else np_prompt(examples, list(top_logits))
    )
    answer = (await llm.chat(messages, temperature=0.0, max_tokens=200)).text
    text = _first_line(answer)
    if not text:
        raise unparseable("empty explanation", answer)
    return text
