"""Steering: completion and chat, DEFAULT and STEERED generated separately with the same seed.

``steer_prepare`` (database: resolve and validate, look up the cache) → the engine generates what
the cache does not hold (``steer_generations`` + ``advance`` slices on the engine thread) →
``steer_outputs_save`` (database). The one loop that drives these is ``steer_events`` in
``inference.services.steer_loop``: the websocket, the SSE view and the plain API all consume it.

A repeated request is served from SteerOutput: the STEERED row's key covers everything that
determines it; the DEFAULT row's key leaves the features out, so it is shared by every feature set.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.conf import settings
from django.db import IntegrityError, transaction

from inference import selectors
from inference.engine import ModelSpec, SourceSpec
from inference.engine.steer import STEER_METHODS, Generation, SteerDirection, prompt_ids
from inference.errors import InferenceInputError, check_text
from inference.models import SteerOutput
from neuronsite.errors import Conflict

KINDS = (SteerOutput.Kind.DEFAULT.value, SteerOutput.Kind.STEERED.value)
MAX_STEER_TERMS = 32
# Bounds on the numbers a steering request may carry (checked here, the edge shared by the API,
# the websocket and the chat monitor): beyond them float32 arithmetic overflows into inf/NaN.
MAX_STRENGTH = 1e6  # |strength| and |strength_multiplier|
MAX_FREQ_PENALTY = 100.0  # |freq_penalty|
MAX_TEMPERATURE = 10.0
FLOAT32_MAX = 3.4028234663852886e38  # |steering_vector| values
SEED_MIN, SEED_MAX = -(2**63), 2**64 - 1  # what torch.manual_seed accepts


@dataclass
class SteerPlan:
    model: object
    model_spec: ModelSpec
    chat: bool
    inputs: dict  # kind -> prompt str or chat messages
    directions: list[SteerDirection]
    features: list[dict]
    settings: dict
    keys: dict
    cached: dict = field(default_factory=dict)  # kind -> SteerOutput
    user: object = None
    # Chat monitor (issue 15): inference.monitor.clamp.ClampTerm's applied to the STEERED generation.
    clamps: list = field(default_factory=list)

    @property
    def missing(self) -> list[str]:
        return [k for k in KINDS if k not in self.cached]

    @property
    def source_specs(self) -> list[SourceSpec]:
        """The SAEs the directions name (each once), for the engine-thread entry to load."""
        specs = [d.source for d in self.directions if d.source is not None]
        specs += [c.source for c in self.clamps]  # chat monitor clamps
        return list(dict.fromkeys(specs))


def _finite(name: str, value, *, bound: float = FLOAT32_MAX, low: float | None = None) -> float:
    """``value`` as a float, refusing non-numbers, NaN/inf and anything outside
    ``[low (default -bound), bound]``; the message names the field."""
    shown = value
    if isinstance(value, int) and abs(value) >= 10**18:
        shown = f"an integer of {value.bit_length()} bits"
    elif isinstance(value, float) and math.isfinite(value) and abs(value) >= 1e18:
        shown = f"{value:.3g}"
    if isinstance(value, bool):
        raise InferenceInputError(f"{name} must be a number, got {value!r}.")
    try:
        value = float(value)
    except (TypeError, ValueError, OverflowError):
        raise InferenceInputError(f"{name} must be a finite number, got {shown!r}.") from None
    if not math.isfinite(value):
        raise InferenceInputError(f"{name} must be a finite number, got {shown!r}.")
    low = -bound if low is None else low
    if not low <= value <= bound:
        raise InferenceInputError(f"{name} must be between {low:g} and {bound:g}, got {shown}.")
    return value


def _key(**parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def _check_chat(name: str, messages) -> list[dict]:
    if not isinstance(messages, list) or not messages:
        raise InferenceInputError(f"{name} must be a non-empty list of {{role, content}} messages.")
    out = []
    for m in messages:
        if not isinstance(m, dict) or m.get("role") not in ("user", "assistant", "system"):
            raise InferenceInputError(f"{name}: each message needs a role of user, assistant or system.")
        if not isinstance(m.get("content"), str):
            raise InferenceInputError(f"{name}: each message needs a string content.")
        check_text(m["content"], field=name)
        out.append({"role": m["role"], "content": m["content"]})
    if not any(m["content"].strip() for m in out):
        raise InferenceInputError(f"{name} must not be empty.")
    return out


def steer_prepare(
    *,
    user,
    model_id: str,
    prompt: str | None = None,
    default_chat: list | None = None,
    steered_chat: list | None = None,
    features: Sequence[dict] = (),
    vectors: Sequence[dict] = (),
    temperature=0.5,
    n_tokens=32,
    freq_penalty=0.0,
    seed=16,
    strength_multiplier=1.0,
    steer_method: str = "SIMPLE_ADDITIVE",
    steer_special_tokens: bool = False,
    clamps: Sequence = (),
) -> SteerPlan:
    """Validate a steering request and resolve its features; look up cached outputs."""
    model = selectors.model_for_inference(name=model_id, user=user)
    chat = default_chat is not None or steered_chat is not None
    if chat:
        if not model.instruct:
            raise Conflict(f"Model '{model.name}' is not an instruct model; use /api/steer.")
        default_chat = _check_chat(
            "defaultChatMessages", default_chat if default_chat is not None else steered_chat
        )
        steered_chat = _check_chat(
            "steeredChatMessages", steered_chat if steered_chat is not None else default_chat
        )
        inputs = {"DEFAULT": default_chat, "STEERED": steered_chat}
    else:
        if not isinstance(prompt, str) or not prompt.strip():
            raise InferenceInputError("prompt must not be empty.")
        check_text(prompt, field="prompt")
        inputs = {"DEFAULT": prompt, "STEERED": prompt}
    temperature = _finite("temperature", temperature, low=0.0, bound=MAX_TEMPERATURE)
    freq_penalty = _finite("freq_penalty", freq_penalty, bound=MAX_FREQ_PENALTY)
    multiplier = _finite("strength_multiplier", strength_multiplier, bound=MAX_STRENGTH)
    if isinstance(n_tokens, bool) or not isinstance(n_tokens, int):
        raise InferenceInputError(f"n_tokens must be an integer, got {n_tokens!r}.")
    if not 1 <= n_tokens <= settings.INFERENCE_MAX_NEW_TOKENS:
        raise InferenceInputError(
            f"n_tokens must be between 1 and {settings.INFERENCE_MAX_NEW_TOKENS} (INFERENCE_MAX_NEW_TOKENS), got {n_tokens}."
        )
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise InferenceInputError(f"seed must be an integer, got {seed!r}.")
    if not SEED_MIN <= seed <= SEED_MAX:
        raise InferenceInputError("seed must be an integer between -2**63 and 2**64 - 1.")
    if steer_method not in STEER_METHODS:
        raise InferenceInputError(
            f"steer_method must be one of {', '.join(STEER_METHODS)}, got {steer_method!r}."
        )
    if not features and not vectors and not clamps:
        raise InferenceInputError("Give at least one feature or vector to steer with.")
    if len(features) + len(vectors) > MAX_STEER_TERMS:
        raise InferenceInputError(f"At most {MAX_STEER_TERMS} features and vectors per request.")

    directions: list[SteerDirection] = []
    normalized: list[dict] = []
    sources: dict[str, object] = {}
    for f in features:
        if not isinstance(f, dict):
            raise InferenceInputError("Each feature must be an object {modelId, layer, index, strength}.")
        if f.get("modelId", model.name) != model.name:
            raise InferenceInputError(
                f"Feature modelId {f.get('modelId')!r} differs from the request's {model.name!r}."
            )
        layer = f.get("layer") or f.get("source")
        if not isinstance(layer, str):
            raise InferenceInputError("Each feature needs its source id in 'layer' (e.g. '6-res-jb').")
        check_text(layer, field="features")
        strength = _finite("strength", f.get("strength"), bound=MAX_STRENGTH)
        source = sources.get(layer) or selectors.source_for_inference(model=model, name=layer, user=user)
        sources[layer] = source
        stored = selectors.feature_for_inference(source=source, index=f.get("index"))
        index = int(f.get("index"))
        coefficient = strength * multiplier
        if stored is not None and stored.has_vector and stored.vector:
            vector = tuple(float(x) for x in stored.vector)
            _check_dim(model, vector, f"{layer}/{index}")
            directions.append(
                SteerDirection(
                    hook_name=stored.hook_name or source.hook_name, coefficient=coefficient, vector=vector
                )
            )
        else:
            selectors.require_sae_weights(source)
            directions.append(
                SteerDirection(
                    hook_name=source.hook_name,
                    coefficient=coefficient,
                    source=SourceSpec.of(source),
                    index=index,
                )
            )
        normalized.append({"modelId": model.name, "layer": layer, "index": index, "strength": strength})
    for v in vectors:
        if not isinstance(v, dict) or not isinstance(v.get("hook"), str) or not v["hook"]:
            raise InferenceInputError("Each vector must be an object {hook, steering_vector, strength}.")
        raw = v.get("steering_vector")
        if not isinstance(raw, list) or not raw:
            raise InferenceInputError("steering_vector must be a non-empty list of numbers.")
        vector = tuple(_finite("steering_vector", x) for x in raw)
        _check_dim(model, vector, v["hook"])
        strength = _finite("strength", v.get("strength"), bound=MAX_STRENGTH)
        directions.append(
            SteerDirection(hook_name=v["hook"], coefficient=strength * multiplier, vector=vector)
        )
        normalized.append(
            {
                "hook": v["hook"],
                "strength": strength,
                "vectorHash": hashlib.sha256(repr(vector).encode()).hexdigest()[:16],
            }
        )
    # Chat monitor clamps (inference.monitor.clamp.ClampTerm), stored and keyed like features.
    normalized.extend({"clamp": c.as_json()} for c in clamps)
    gen_settings = {
        "temperature": temperature,
        "n_tokens": n_tokens,
        "freq_penalty": freq_penalty,
        "seed": seed,
    }
    steer_settings = {
        **gen_settings,
        "strength_multiplier": multiplier,
        "steer_method": steer_method,
        "steer_special_tokens": bool(steer_special_tokens),
    }
    keys = {
        "DEFAULT": _key(kind="DEFAULT", model=model.name, chat=chat, input=inputs["DEFAULT"], **gen_settings),
        "STEERED": _key(
            kind="STEERED",
            model=model.name,
            chat=chat,
            input=inputs["STEERED"],
            features=normalized,
            **steer_settings,
        ),
    }
    cached = {}
    for output in selectors.steer_outputs_by_key(keys=keys.values()).values():
        cached[output.kind] = output
    return SteerPlan(
        model=model,
        model_spec=ModelSpec.of(model),
        chat=chat,
        inputs=inputs,
        directions=directions,
        features=normalized,
        settings=steer_settings,
        keys=keys,
        cached=cached,
        user=user,
        clamps=list(clamps),
    )


def _check_dim(model, vector, name: str) -> None:
    if model.d_model and len(vector) != model.d_model:
        raise InferenceInputError(
            f"Vector {name} has dimension {len(vector)}; model '{model.name}' has d_model {model.d_model}."
        )


def steer_generations(plan: SteerPlan, *, model, saes: dict | None = None) -> dict[str, Generation]:
    """Engine-thread kernel: a Generation for each kind the cache does not hold. ``model`` and
    ``saes`` are handed in by ``engine.run_kernel`` (``plan.model_spec``, ``plan.source_specs``)."""
    s = plan.settings
    gens = {}
    for kind in plan.missing:
        inp = plan.inputs[kind]
        ids = prompt_ids(model, chat=inp) if plan.chat else prompt_ids(model, prompt=inp)
        gens[kind] = Generation(
            model,
            ids,
            directions=plan.directions if kind == "STEERED" else (),
            saes=saes,
            method=s["steer_method"],
            temperature=s["temperature"],
            n_tokens=s["n_tokens"],
            freq_penalty=s["freq_penalty"],
            seed=s["seed"],
            steer_special_tokens=s["steer_special_tokens"] or not plan.chat,
        )
        if kind == "STEERED" and plan.clamps:  # chat monitor: clamp hooks on the same Generation
            from inference.monitor.clamp import clamp_hooks

            gens[kind].hooks.extend(clamp_hooks(gens[kind], plan.clamps, saes or {}))
    return gens


def generation_outputs(plan: SteerPlan, gens: dict[str, Generation]) -> dict[str, dict]:
    """Engine thread: per kind, the text (completion) or chat (messages + reply) of a finished
    generation."""
    outputs = {}
    for kind, gen in gens.items():
        if plan.chat:
            reply = gen.completion()
            chat = [*plan.inputs[kind], {"role": "assistant", "content": reply}]
            outputs[kind] = {"text": reply, "chat": chat}
        else:
            outputs[kind] = {"text": gen.text(), "chat": []}
    return outputs


def cumulative(plan: SteerPlan, gen: Generation) -> str:
    return gen.completion() if plan.chat else gen.text()


@transaction.atomic
def steer_outputs_save(*, plan: SteerPlan, outputs: dict[str, dict]) -> dict[str, SteerOutput]:
    """Store new outputs (a concurrent identical request may have stored them first)."""
    rows = dict(plan.cached)
    creator = plan.user if getattr(plan.user, "is_authenticated", False) else None
    for kind in KINDS:
        if kind in rows:
            continue
        out = outputs[kind]
        settings_json = dict(plan.settings)
        if kind == "DEFAULT":
            for k in ("strength_multiplier", "steer_method", "steer_special_tokens"):
                settings_json.pop(k, None)
        try:
            with transaction.atomic():
                rows[kind] = SteerOutput.objects.create(
                    model=plan.model,
                    kind=kind,
                    cache_key=plan.keys[kind],
                    chat=plan.chat,
                    input_text="" if plan.chat else plan.inputs[kind],
                    input_chat=plan.inputs[kind] if plan.chat else [],
                    output_text=out["text"],
                    output_chat=out["chat"],
                    features=plan.features if kind == "STEERED" else [],
                    settings=settings_json,
                    logprobs=out.get("logprobs"),
                    creator=creator,
                )
        except IntegrityError:
            rows[kind] = SteerOutput.objects.get(cache_key=plan.keys[kind])
    steered = rows["STEERED"]
    if steered.settings.get("default_output_id") != rows["DEFAULT"].pk:
        steered.settings = {**steered.settings, "default_output_id": rows["DEFAULT"].pk}
        steered.save(update_fields=["settings"])
    return rows


def steer_response(rows: dict[str, SteerOutput], *, cached: bool = False) -> dict:
    steered, default = rows["STEERED"], rows["DEFAULT"]

    def body(row):
        return {"chatTemplate": row.output_chat, "raw": row.output_text} if row.chat else row.output_text

    return {
        "STEERED": body(steered),
        "DEFAULT": body(default),
        "id": steered.share_id,
        "defaultId": default.share_id,
        "modelId": steered.model.name,
        "features": steered.features,
        "prompt": None if steered.chat else steered.input_text,
        "chat": steered.input_chat if steered.chat else None,
        "settings": {k: v for k, v in steered.settings.items() if k != "default_output_id"},
        # per generated token {token, logprob, topLogprobs}, as the token events carry them (null
        # for outputs stored before log-probs were kept)
        "logprobs": {"DEFAULT": default.logprobs, "STEERED": steered.logprobs},
        "cached": cached,
    }


def steer_output_pair(*, share_id: str, user) -> dict:
    """A stored result by its STEERED share id."""
    steered = selectors.steer_output_get(share_id=share_id, user=user)
    if steered.kind != "STEERED":
        raise InferenceInputError(f"Steer output '{share_id}' is a DEFAULT output; share the STEERED id.")
    default = selectors.steer_output_get(pk=steered.settings.get("default_output_id", -1))
    return steer_response({"STEERED": steered, "DEFAULT": default}, cached=True)
