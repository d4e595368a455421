"""Engine side of the monitor's chat: the conversation's tokens (with the message and role each
token belongs to), the prompt for the next answer, and answer generation in time slices.

Two modes:

- ``chat``: the tokenizer's chat template. The conversation's tokens are the template rendered over
  all messages; message ``i`` owns the tokens its rendering adds to that of messages ``[:i]``
  (template markers included). The next answer's prompt is the template with the generation
  prompt.
- ``completion`` (models without a chat template / not instruct): BOS, then each message's text
  tokenised on its own, one after the other; an "assistant" message is the model's continuation.

Generation uses ``inference.engine.steer.Generation`` (one per answer, its own KV cache and RNG, so
answers interleave with other requests on the engine thread) and stops at the token limit, at EOS,
or at any special token (the template's end-of-turn or next-role markers).
"""

from __future__ import annotations

import time
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
    bos = tokenizer.bos_token_id
    if bos is not None:
        ids.append(int(bos))
        owner.append(-1)
    for i, m in enumerate(messages):
        piece = tokenizer.encode(m["content"], add_special_tokens=False)
        ids.extend(int(t) for t in piece)
        owner.extend([i] * len(piece))
    return {"ids": ids, "owner": owner}


def prompt_for_answer(messages: Sequence[dict], mode: str, *, model) -> list[int]:
    if mode == CHAT:
        if not has_chat_template(model):
            raise InferenceInputError("This model has no chat template: use completion mode.", field="mode")
        return _template_ids(model.tokenizer, list(messages), generation_prompt=True)
    return conversation_tokens(messages, mode, model=model)["ids"]


def token_strings(ids: Sequence[int], *, model) -> dict:
    tokenizer = model.tokenizer
    special = set(tokenizer.all_special_ids)
    return {
        "raw": tokenizer.convert_ids_to_tokens([int(i) for i in ids]),
        "text": [tokenizer.decode([int(i)]) for i in ids],
        "special": [int(i) in special for i in ids],
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
