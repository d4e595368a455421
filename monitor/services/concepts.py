"""Active concepts of a conversation (per token, per watched source) and attribution of one
answer token, joined with each feature's best explanation and score. The rules (threshold =
the latent's 0.99999 quantile, normalised = activation / threshold, |activation × gradient|)
live in the engine kernels, ``inference.monitor.tap``."""

from __future__ import annotations

import re
from dataclasses import dataclass

from inference.engine import ModelSpec, SourceSpec, get_engine
from inference.services.steer_loop import db_sync_to_async
from monitor import selectors
from monitor.models import Conversation
from neuronsite.errors import ValidationFailed

MAX_CONCEPTS = 5_000
MAX_TOP_K = 100


# ---- active concepts and attribution ---------------------------------------------------------------


@dataclass
class ConceptsPlan:
    conversation: Conversation
    user: object
    model_spec: ModelSpec
    sources: list  # Source rows, in the conversation's order
    specs: list[SourceSpec]
    thresholds: dict  # spec -> (stamp, {index: threshold} | None when the engine has it cached)
    out_hooks: dict  # transcoder spec -> the hook its decoder writes (attribution splices there)


def concepts_prepare(*, conversation: Conversation, user, sources: list[str] | None = None) -> ConceptsPlan:
    from inference.monitor import thresholds as th

    model = selectors.monitor_model(name=conversation.model.name, user=user)
    names = list(conversation.source_ids) if sources is None else sources
    rows = selectors.watchable_sources(model=model, user=user, names=names)
    specs = [SourceSpec.of(s) for s in rows]
    thresholds = {}
    for source, spec in zip(rows, specs, strict=True):
        stamp = selectors.thresholds_stamp(source=source)
        thresholds[spec] = (
            stamp,
            None if th.cached(spec, stamp) else selectors.source_thresholds(source=source),
        )
    out_hooks = {}
    for source, spec in zip(rows, specs, strict=True):
        out = transcoder_output_hook(source)
        if out:
            out_hooks[spec] = out
    return ConceptsPlan(
        out_hooks=out_hooks,
        conversation=conversation,
        user=user,
        model_spec=ModelSpec.of(model),
        sources=rows,
        specs=specs,
        thresholds=thresholds,
    )


_MLP_IN = re.compile(r"^blocks\.(\d+)\.(?:ln2\.hook_normalized|hook_mlp_in)$")


def transcoder_output_hook(source) -> str | None:
    """A transcoder source (set type "transcoder", reading the MLP input) writes the MLP output."""
    if (source.source_set.type or "").lower() != "transcoder":
        return None
    match = _MLP_IN.match(source.hook_name or "")
    return f"blocks.{match.group(1)}.hook_mlp_out" if match else None


def conversation_concepts(messages, mode: str, thresholds: dict, *, model, saes: dict | None = None) -> dict:
    """Engine-thread kernel: tokens of the conversation and its active concepts (BOS skipped)."""
    from inference.monitor.chat import conversation_tokens, token_strings
    from inference.monitor.tap import tap

    toks = conversation_tokens(messages, mode, model=model)
    ids = toks["ids"]
    strings = token_strings(ids, model=model)
    concepts: list[dict] = []
    if ids and saes:
        skip = [0] if ids[0] == model.tokenizer.bos_token_id else []
        concepts = tap(
            ids, model=model, saes=saes, thresholds=thresholds, skip_positions=skip, limit=MAX_CONCEPTS + 1
        )
    return {**toks, **strings, "concepts": concepts}


def _roles(messages, owner) -> list[str]:
    return [messages[o]["role"] if o >= 0 else "" for o in owner]


def _feature_rows(rows: list[dict], *, plan: ConceptsPlan, tokens: list[str]) -> list[dict]:
    by_name = {s.name: s for s in plan.sources}
    keys = {(by_name[r["source"]].pk, r["index"]) for r in rows}
    explained = selectors.explanations_for(keys=keys, user=plan.user)
    model_name = plan.conversation.model.name
    out = []
    for r in rows:
        source = by_name[r["source"]]
        e = explained.get((source.pk, r["index"]), {})
        out.append(
            {
                **r,
                "layer": source.layer,
                "token": tokens[r["position"]],
                "url": f"/{model_name}/{source.name}/{r['index']}",
                "explanation": e.get("explanation"),
                "explanationScore": e.get("explanationScore"),
            }
        )
    return out


def concepts_json(*, plan: ConceptsPlan, result: dict) -> dict:
    messages = plan.conversation.messages
    rows = result["concepts"]
    truncated = len(rows) > MAX_CONCEPTS
    rows = rows[:MAX_CONCEPTS]
    roles = _roles(messages, result["owner"])
    tokens = [
        {"position": i, "token": raw, "text": text, "message": o, "role": role, "special": sp}
        for i, (raw, text, o, role, sp) in enumerate(
            zip(result["raw"], result["text"], result["owner"], roles, result["special"], strict=True)
        )
    ]
    return {
        "conversationId": plan.conversation.pk,
        "modelId": plan.conversation.model.name,
        "sources": [s.name for s in plan.sources],
        "quantile": 0.99999,
        "tokens": tokens,
        "concepts": _feature_rows(rows, plan=plan, tokens=result["text"]),
        "truncated": truncated,
    }


def concepts_get(*, conversation: Conversation, user, sources: list[str] | None = None) -> dict:
    plan = concepts_prepare(conversation=conversation, user=user, sources=sources)
    result = get_engine().call_kernel(
        conversation_concepts,
        conversation.messages,
        conversation.mode,
        plan.thresholds,
        model=plan.model_spec,
        sources=plan.specs,
    )
    return concepts_json(plan=plan, result=result)


async def concepts_async(*, conversation: Conversation, user, sources: list[str] | None = None) -> dict:
    plan = await db_sync_to_async(concepts_prepare)(conversation=conversation, user=user, sources=sources)
    result = await get_engine().run_kernel(
        conversation_concepts,
        conversation.messages,
        conversation.mode,
        plan.thresholds,
        model=plan.model_spec,
        sources=plan.specs,
    )
    return await db_sync_to_async(concepts_json)(plan=plan, result=result)


def conversation_attribution(
    messages,
    mode: str,
    position: int,
    top_k: int,
    out_hooks: dict | None = None,
    *,
    model,
    saes: dict | None = None,
) -> dict:
    """Engine-thread kernel: ``attribute`` for an answer token of the conversation."""
    from inference.monitor.chat import conversation_tokens, token_strings
    from inference.monitor.tap import attribute

    toks = conversation_tokens(messages, mode, model=model)
    ids, owner = toks["ids"], toks["owner"]
    if not isinstance(position, int) or not 0 <= position < len(ids):
        raise ValidationFailed(f"must be a token position between 0 and {len(ids) - 1}.", field="position")
    if owner[position] < 0 or messages[owner[position]]["role"] != "assistant" or position == 0:
        raise ValidationFailed(
            f"token {position} is not part of an answer: click an answer token.", field="position"
        )
    if not saes:
        raise ValidationFailed("choose at least one source to attribute to.", field="sources")
    skip = [0] if ids[0] == model.tokenizer.bos_token_id else []
    result = attribute(
        ids, position, model=model, saes=saes, top_k=top_k, skip_positions=skip, out_hooks=out_hooks
    )
    return {**result, "text": token_strings(ids, model=model)["text"]}


def _attribution_check(position, top_k) -> None:
    if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= MAX_TOP_K:
        raise ValidationFailed(f"must be an integer between 1 and {MAX_TOP_K}.", field="topK")
    if isinstance(position, bool) or not isinstance(position, int):
        raise ValidationFailed("must be an integer token position.", field="position")


def _attribution_json(*, plan: ConceptsPlan, result: dict) -> dict:
    return {
        "conversationId": plan.conversation.pk,
        "position": result["position"],
        "token": result["token"],
        "logprob": result["logprob"],
        "attributions": _feature_rows(result["attributions"], plan=plan, tokens=result["text"]),
    }


def attribution_get(
    *, conversation: Conversation, user, position, top_k=20, sources: list[str] | None = None
) -> dict:
    _attribution_check(position, top_k)
    plan = concepts_prepare(conversation=conversation, user=user, sources=sources)
    result = get_engine().call_kernel(
        conversation_attribution,
        conversation.messages,
        conversation.mode,
        position,
        top_k,
        plan.out_hooks,
        model=plan.model_spec,
        sources=plan.specs,
    )
    return _attribution_json(plan=plan, result=result)


async def attribution_async(
    *, conversation: Conversation, user, position, top_k=20, sources: list[str] | None = None
) -> dict:
    _attribution_check(position, top_k)
    plan = await db_sync_to_async(concepts_prepare)(conversation=conversation, user=user, sources=sources)
    result = await get_engine().run_kernel(
        conversation_attribution,
        conversation.messages,
        conversation.mode,
        position,
        top_k,
        plan.out_hooks,
        model=plan.model_spec,
        sources=plan.specs,
    )
    return await db_sync_to_async(_attribution_json)(plan=plan, result=result)
