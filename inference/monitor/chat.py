"""Engine side of the monitor's chat: the conversation's tokens (with the message and role each
token belongs to), the prompt for the next answer, and answer generation in time slices.

Two modes:

- ``chat``: the tokenizer's chat template. The conversation's tokens are the template rendered over
  all messages; message ``i`` owns the tokens its rendering adds to that of messages ``[:i]``
  (template markers included). The next answer's prompt is the template with the generation
  prompt.
- ``completion`` (models without a chat template / not instruct): the messages' texts joined
  (``completion_text``) and tokenised as ONE text, by the very function the steering plan
  tokenises a prompt with (``inference.engine.steer.prompt_ids``: BOS, then the text), so the
  positions the token table shows are the positions a steering spec's prompt ranges name, also
  where two messages meet inside one token. A token belongs to the message holding its first
  character; an "assistant" message is the model's continuation.

Generation uses ``inference.engine.steer.Generation`` (one per answer, its own KV cache and RNG, so
answers interleave with other requests on the engine thread) and stops at the token limit, at EOS,
or at any special token (the template's end-of-turn or next-role markers).
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Sequence

from inference.engine.steer import Generation
from inference.errors import InferenceInputError

CHAT, COMPLETION = "chat", "completion"


def _template_ids(tokenizer, messages, *, generation_prompt: bool) -> list[int]:
    ids = tokenizer.apply_chat_template(messages, add_generation_prompt=generation_prompt, tokenize=True)
    if hasattr(ids, "input_ids"):
        ids = ids["input_ids"]
    return [int(i) for i in ids]


def has_chat_template(model) -> bool:
    return bool(getattr(model.tokenizer, "chat_template", None))


def conversation_tokens(messages: Sequence[dict], mode: str, *, model) -> dict:
    """``{"ids": [...], "owner": [message index per token, -1 = none (BOS)]}`` of the conversation."""
    tokenizer = model.tokenizer
    ids: list[int] = []
    owner: list[int] = []
    if mode == CHAT:
        if not has_chat_template(model):
            raise InferenceInputError("This model has no chat template: use completion mode.", field="mode")
        if not messages:
            return {"ids": [], "owner": []}
        for i in range(len(messages)):
            ids = _template_ids(tokenizer, list(messages[: i + 1]), generation_prompt=False)
            owner = owner[: len(ids)] + [i] * max(0, len(ids) - len(owner))
        return {"ids": ids, "owner": owner}
    text = completion_text(messages)
    if not text.strip():
        bos = tokenizer.bos_token_id
        return {"ids": [int(bos)], "owner": [-1]} if bos is not None else {"ids": [], "owner": []}
    ids = completion_ids(text, model=model)
    ends, at = [], 0  # character offset where each message ends
    for m in messages:
        at += len(m["content"])
        ends.append(at)
    starts = _token_starts(text, ids, model=model)
    for start in starts:
        if start is None:
            owner.append(-1)
            continue
        i = next((k for k, end in enumerate(ends) if start < end), len(messages) - 1)
        owner.append(i)
    return {"ids": ids, "owner": owner}


def completion_text(messages: Sequence[dict]) -> str:
    """Completion mode's text of a conversation: the messages' contents, one after the other (what
    ``/api/monitor/steer`` gets as ``prompt`` for a completion-mode conversation)."""
    return "".join(m["content"] for m in messages)


def completion_ids(text: str, *, model) -> list[int]:
    """The steering plan's tokenisation of a completion prompt (``prompt_ids``), with the token limit
    named as the conversation's."""
    return _plan_ids(model, prompt=text)


def _plan_ids(model, **prompt) -> list[int]:
    """``inference.engine.steer.prompt_ids`` (what the steering plan feeds the model), the token
    limit named as the conversation's."""
    from inference.engine.steer import prompt_ids

    try:
        return prompt_ids(model, **prompt)
    except InferenceInputError as exc:
        if "tokenLimit" not in exc.extra:
            raise
        raise InferenceInputError(
            f"The conversation is too long for the model: {exc.message} Clear it or start a new conversation.",
            field="content",
            extra=exc.extra,
        ) from None


def _token_starts(text: str, ids: Sequence[int], *, model) -> list[int | None]:
    """Per token of ``ids`` (``completion_ids(text)``): the character offset in ``text`` where it
    starts (None for BOS / special tokens). From the fast tokenizer's offsets when its encoding of
    ``text`` is these ids, else by decoding the tokens one by one."""
    tokenizer = model.tokenizer
    special = set(tokenizer.all_special_ids)
    lead = 0
    while lead < len(ids) and int(ids[lead]) in special:
        lead += 1
    body = [int(i) for i in ids[lead:]]
    if getattr(tokenizer, "is_fast", False):
        enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        if [int(i) for i in enc["input_ids"]] == body:
            return [None] * lead + [int(a) for a, _ in enc["offset_mapping"]]
    starts: list[int | None] = [None] * lead
    at = 0
    for k in range(len(body)):
        starts.append(min(at, max(len(text) - 1, 0)))
        at = len(tokenizer.decode(body[: k + 1]))
    return starts


def prompt_for_answer(messages: Sequence[dict], mode: str, *, model) -> list[int]:
    """The prompt the next answer follows: the steering plan's tokenisation of the same messages
    (chat: the template with the generation prompt; completion: ``completion_ids``)."""
    if mode == CHAT:
        if not has_chat_template(model):
            raise InferenceInputError("This model has no chat template: use completion mode.", field="mode")
        return _plan_ids(model, chat=list(messages))
    return conversation_tokens(messages, mode, model=model)["ids"]


_DECODED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # tokenizer -> {id: its text alone}


def token_strings(ids: Sequence[int], *, model) -> dict:
    """Each token's raw form, its text decoded alone, and whether it is special. A token's text
    alone never changes, so it is decoded once per tokenizer (the engine thread is the only caller)."""
    tokenizer = model.tokenizer
    special = set(tokenizer.all_special_ids)
    ids = [int(i) for i in ids]
    try:
        decoded = _DECODED.setdefault(tokenizer, {})
    except TypeError:  # a tokenizer that cannot be weakly referenced: no cache
        decoded = {}
    for i in set(ids).difference(decoded):
        decoded[i] = tokenizer.decode([i])
    return {
        "raw": tokenizer.convert_ids_to_tokens(ids),
        "text": [decoded[i] for i in ids],
        "special": [i in special for i in ids],
    }


def start_answer(
    messages: Sequence[dict],
    mode: str,
    *,
    model,
    n_tokens: int,
    temperature: float,
    seed: int,
) -> Generation:
    """Engine thread: a Generation for the next assistant answer (refuses a conversation that leaves
    no room in the model's context)."""
    from inference.engine.ops import token_limit

    ids = prompt_for_answer(messages, mode, model=model)
    limit = token_limit(model)  # the model's context, or INFERENCE_TOKEN_LIMIT if smaller
    room = limit - len(ids)
    if room < 1:
        raise InferenceInputError(
            f"The conversation is {len(ids)} tokens long and the token limit (the model's context) is "
            f"{limit}: clear it or start a new conversation.",
            field="content",
            extra={"tokenLimit": limit},
        )
    gen = Generation(
        model, ids, n_tokens=min(int(n_tokens), room), temperature=temperature, seed=seed, stop_at_eos=True
    )
    gen.stop_ids = set(model.tokenizer.all_special_ids)
    return gen


def advance_answer(gen: Generation, *, slice_s: float = 0.05) -> list[tuple[int, str, str]]:
    """Engine thread: step ``gen`` for about ``slice_s`` seconds; ``[(token id, raw token, answer
    text so far)]``. A special token ends the answer and is not part of it."""
    deadline = time.perf_counter() + slice_s
    events = []
    while not gen.done:
        tok = gen.step()
        if tok is None:
            break
        if tok in gen.stop_ids:
            gen.generated.pop()
            gen.done = True
            break
        events.append((tok, gen.model.tokenizer.convert_ids_to_tokens(tok), gen.completion()))
        if time.perf_counter() >= deadline:
            break
    return events
