"""Graph steering (Neuronpedia's ``/api/steer-logits``) with circuit-tracer's interventions.

Set-point semantics: each feature is set to ``value = its current activation at
token_active_position + delta`` (``0`` when ``ablate``), at ``steer_position`` (default: the active
position) or, with ``steer_generated_tokens``, from that position through every generated token
(circuit-tracer's open-ended ``slice(pos, None)``). Positions holding special tokens (BOS,
chat-template markers) cannot be steered.

The default generation runs the same ``feature_intervention_generate`` path with one zero-delta
intervention: circuit-tracer 0.5.0 counts positions without BOS when it is given no intervention
at all (a shape error with tokenizers that do not add BOS themselves).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from inference.graphs.engine import GraphEngineError, TranscoderSpec, cached_replacement_model


@dataclass(frozen=True)
class SteerFeature:
    layer: int
    index: int
    token_active_position: int
    steer_position: int | None = None
    steer_generated_tokens: bool = False
    delta: float | None = None
    ablate: bool = False


def _interventions(model, ids, features: list[SteerFeature]) -> list[tuple]:
    n_pos = int(ids.shape[-1])
    special = set(model.tokenizer.all_special_ids or [])
    _, acts = model.get_activations(ids)
    out = []
    for i, f in enumerate(features):
        if f.ablate and f.delta is not None:
            raise GraphEngineError(f"features[{i}]: When ablate is True, delta must be None")
        if not f.ablate and f.delta is None:
            raise GraphEngineError(f"features[{i}]: When ablate is False, delta must be provided")
        if not 0 <= f.layer < model.cfg.n_layers:
            raise GraphEngineError(f"features[{i}].layer: must be between 0 and {model.cfg.n_layers - 1}")
        if not 0 <= f.index < model.transcoders.d_transcoder:
            raise GraphEngineError(f"features[{i}].index: must be below {model.transcoders.d_transcoder}")
        position = f.token_active_position if f.steer_position is None else f.steer_position
        for name, pos in (("token_active_position", f.token_active_position), ("steer_position", position)):
            if not 0 <= pos < n_pos:
                raise GraphEngineError(f"features[{i}].{name}: Position is out of bounds (0..{n_pos - 1})")
        if int(ids[position]) in special:
            raise GraphEngineError(f"features[{i}].steer_position: special-token positions cannot be steered")
        current = float(acts[f.layer, f.token_active_position, f.index])
        value = 0.0 if f.ablate else current + float(f.delta)
        out.append((f.layer, slice(position, None) if f.steer_generated_tokens else position, f.index, value))
    return out


def _run(model, text, interventions, *, n_tokens, temperature, freq_penalty, freeze_attention, seed, top_k):
    import torch

    torch.manual_seed(seed)
    tokens, logits, _ = model.feature_intervention_generate(
        text,
        interventions,
        freeze_attention=freeze_attention,
        max_new_tokens=n_tokens,
        do_sample=temperature > 0,
        temperature=temperature if temperature > 0 else 1.0,
        freq_penalty=freq_penalty,
        stop_at_eos=False,
        verbose=False,
        return_type="tokens",
        return_activations=False,
    )
    tokens = tokens[0]
    generated = tokens[-n_tokens:].tolist()
    probs = torch.softmax(logits.float(), dim=-1)
    by_token = []
    for step, token_id in enumerate(generated):
        entry: dict[str, Any] = {"token": model.tokenizer.decode([token_id]), "top_logits": []}
        if top_k:
            values, indices = probs[step].topk(top_k)
            entry["top_logits"] = [
                {"token": model.tokenizer.decode([int(t)]), "prob": float(p)}
                for p, t in zip(values.tolist(), indices.tolist(), strict=True)
            ]
        by_token.append(entry)
    return model.tokenizer.decode(tokens.tolist(), skip_special_tokens=True), by_token


def steer_logits(
    model,
    prompt: str,
    features: list[SteerFeature],
    *,
    n_tokens: int = 10,
    top_k: int = 5,
    freeze_attention: bool = True,
    temperature: float = 0.0,
    freq_penalty: float = 0.0,
    seed: int = 16,
) -> dict:
    """Default vs steered generations with top-k token probabilities for each generated token."""
    ids = model.ensure_tokenized(prompt)
    interventions = _interventions(model, ids, features)
    noop = [(0, 0, 0, float(model.get_activations(ids)[1][0, 0, 0]))]
    common = dict(
        n_tokens=n_tokens,
        temperature=temperature,
        freq_penalty=freq_penalty,
        freeze_attention=freeze_attention,
        seed=seed,
        top_k=top_k,
    )
    default_text, default_logits = _run(model, prompt, noop, **common)
    steered_text, steered_logits = _run(model, prompt, interventions, **common)
    return {
        "DEFAULT_GENERATION": default_text,
        "STEERED_GENERATION": steered_text,
        "DEFAULT_LOGITS_BY_TOKEN": default_logits,
        "STEERED_LOGITS_BY_TOKEN": steered_logits,
    }


def steer_for(
    model_row: Any, spec: TranscoderSpec, *, prompt: str, features: list[SteerFeature], max_tokens: int, **kw
):
    """Engine-thread entry."""
    from inference.graphs.engine import PromptTooLong, count_tokens

    model = cached_replacement_model(model_row, spec)
    n = count_tokens(model, prompt)
    if n > max_tokens:
        raise PromptTooLong(n, max_tokens)
    return steer_logits(model, prompt, features, **kw)
