"""The chat monitor's writes and engine work: conversations, the chat loop, active concepts and
attribution.

``chat_events(plan)`` is the one chat loop, an async generator of events that every interface
consumes (the websocket consumer frame by frame, ``chat_run`` for the plain API):

- ``{"type": "token", "token": raw token, "text": the answer so far}`` per generated token;
- ``{"type": "done", "conversation": <conversation JSON>}`` once the user message (if any) and the
  answer are saved, in one write; nothing is saved if the loop stops early or fails, so the
  conversation is unchanged;
- ``{"type": "concepts", ...}``: the active concepts of the whole conversation (``concepts_json``).

Engine work goes through the engine's bridge (``run_kernel`` / ``run``), database work through
``db_sync_to_async``, never one inside the other.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import transaction

from inference.engine import ModelSpec, get_engine
from inference.errors import check_text
from inference.services.steer_loop import db_sync_to_async
from monitor import selectors
from monitor.models import Conversation
from neuronsite.errors import Conflict, ValidationFailed

ANON_COOKIE = "neuronsite_monitor"
MAX_CONTENT_CHARS = 10_000
MODES = (Conversation.Mode.CHAT.value, Conversation.Mode.COMPLETION.value)


def new_anon_key() -> str:
    return secrets.token_urlsafe(24)


def _source_names(sources) -> list[str]:
    return [s.name for s in sources]


@transaction.atomic
def conversation_create(
    *, user, anon_key: str | None, model_name: str, sources: list[str] | None = None, mode: str | None = None
) -> Conversation:
    model = selectors.monitor_model(name=model_name, user=user)
    if mode is None:
        mode = default_mode(model)
    if mode not in MODES:
        raise ValidationFailed(f"must be one of {', '.join(MODES)}, got {mode!r}.", field="mode")
    if mode == Conversation.Mode.CHAT and not model.instruct:
        raise Conflict(f"Model '{model.name}' is not an instruct model: use completion mode.", field="mode")
    watched = selectors.watchable_sources(model=model, user=user, names=sources)
    authed = user is not None and user.is_authenticated
    if not authed and not anon_key:
        raise ValidationFailed("anonymous conversations need the monitor cookie.", field="cookie")
    return Conversation.objects.create(
        model=model,
        owner=user if authed else None,
        anon_key="" if authed else anon_key,
        mode=mode,
        source_ids=_source_names(watched),
    )


@transaction.atomic
def conversation_sources_set(*, conversation: Conversation, user, sources: list[str]) -> Conversation:
    watched = selectors.watchable_sources(model=conversation.model, user=user, names=sources)
    conversation.source_ids = _source_names(watched)
    conversation.save(update_fields=["source_ids", "updated_at"])
    return conversation


@transaction.atomic
def conversation_clear(*, conversation: Conversation) -> Conversation:
    conversation.messages = []
    conversation.title = ""
    conversation.save(update_fields=["messages", "title", "updated_at"])
    return conversation


def conversation_delete(*, conversation: Conversation) -> None:
    """Delete a conversation and its saved steering specs (cascade)."""
    conversation.delete()


def default_mode(model) -> str:
    return Conversation.Mode.CHAT.value if model.instruct else Conversation.Mode.COMPLETION.value


def conversation_for_page(*, user, anon_key: str | None, model) -> Conversation | None:
    """The visitor's latest conversation with ``model``, or None: the page creates one
    (``conversation/new``) with its first message, so visiting the page writes nothing."""
    latest = selectors.conversations_list(user=user, anon_key=anon_key, model_name=model.name, limit=1)
    return latest[0] if latest else None


def conversation_json(conv: Conversation) -> dict:
    return {
        "id": conv.pk,
        "modelId": conv.model.name,
        "instruct": conv.model.instruct,
        "mode": conv.mode,
        "title": conv.title,
        "sources": list(conv.source_ids),
        "messages": list(conv.messages),
        "createdAt": conv.created_at.isoformat(),
        "updatedAt": conv.updated_at.isoformat(),
    }


# ---- the chat loop --------------------------------------------------------------------------------


@dataclass
class ChatPlan:
    conversation: Conversation
    user: object
    model_spec: ModelSpec
    mode: str
    prompt: list[dict]  # the messages the answer follows
    base: list[dict]  # the conversation's messages when the request was checked
    n_tokens: int
    temperature: float
    seed: int
    regenerate: bool = False
    answer: str = field(default="")


def chat_prepare(
    *,
    conversation: Conversation,
    user,
    content: str | None = None,
    regenerate: bool = False,
    n_tokens: int = 32,
    temperature: float = 0.5,
    seed: int = 16,
) -> ChatPlan:
    """Check a send (``content``) or a regenerate request; nothing is written yet."""
    selectors.monitor_model(name=conversation.model.name, user=user)  # still visible and enabled
    if (
        not isinstance(n_tokens, int)
        or isinstance(n_tokens, bool)
        or not 1 <= n_tokens <= settings.INFERENCE_MAX_NEW_TOKENS
    ):
        raise ValidationFailed(f"must be between 1 and {settings.INFERENCE_MAX_NEW_TOKENS}.", field="nTokens")
    base = [dict(m) for m in conversation.messages]
    if regenerate:
        if not base or base[-1].get("role") != "assistant":
            raise Conflict("there is no answer to regenerate yet.", field="conversationId")
        prompt = base[:-1]
    else:
        if not isinstance(content, str) or not content.strip():
            raise ValidationFailed("must not be empty.", field="content")
        if len(content) > MAX_CONTENT_CHARS:
            raise ValidationFailed(f"must be at most {MAX_CONTENT_CHARS} characters.", field="content")
        check_text(content, field="content")
        prompt = [*base, {"role": "user", "content": content}]
    return ChatPlan(
        conversation=conversation,
        user=user,
        model_spec=ModelSpec.of(conversation.model),
        mode=conversation.mode,
        prompt=prompt,
        base=base,
        n_tokens=n_tokens,
        temperature=float(temperature),
        seed=int(seed),
        regenerate=regenerate,
    )


@transaction.atomic
def chat_answer_save(*, plan: ChatPlan, answer: str) -> Conversation:
    """Append the user message and the answer (or replace the last answer) in one write, unless the
    conversation changed since the request was checked."""
    conv = Conversation.objects.select_for_update().select_related("model").get(pk=plan.conversation.pk)
    if list(conv.messages) != plan.base:
        raise ValidationFailed(
            "the conversation changed while the answer was generated (another tab?): reload it.",
            field="conversationId",
        )
    conv.messages = [*plan.prompt, {"role": "assistant", "content": answer}]
    if not conv.title:
        first = next((m["content"] for m in conv.messages if m["role"] == "user"), "")
        conv.title = first.strip()[:200]
    conv.save(update_fields=["messages", "title", "updated_at"])
    return conv


async def chat_events(plan: ChatPlan) -> AsyncIterator[dict]:
    from inference.monitor.chat import advance_answer, start_answer

    engine = get_engine()
    gen = await engine.run_kernel(
        start_answer,
        plan.prompt,
        plan.mode,
        model=plan.model_spec,
        n_tokens=plan.n_tokens,
        temperature=plan.temperature,
        seed=plan.seed,
    )
    slice_s = settings.INFERENCE_STEP_SLICE_MS / 1000
    answer = ""
    while not gen.done:
        for _tok, raw, text in await engine.run(advance_answer, gen, slice_s=slice_s):
            answer = text
            yield {"type": "token", "token": raw, "text": text}
    answer = await engine.run(gen.completion)
    plan.answer = answer
    conv = await db_sync_to_async(chat_answer_save)(plan=plan, answer=answer)
    yield {"type": "done", "conversation": await db_sync_to_async(conversation_json)(conv)}
    from monitor.services.concepts import concepts_async

    yield {"type": "concepts", **(await concepts_async(conversation=conv, user=plan.user))}


async def _final(plan: ChatPlan) -> dict:
    out: dict = {}
    async for event in chat_events(plan):
        if event["type"] in ("done", "concepts"):
            out[event["type"]] = {k: v for k, v in event.items() if k != "type"}
    return {**out["done"], "concepts": out["concepts"]}


def chat_run(plan: ChatPlan) -> dict:
    """The plain API: the loop to its end; ``{"conversation": ..., "concepts": ...}``."""
    return async_to_sync(_final)(plan)
