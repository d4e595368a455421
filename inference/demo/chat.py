"""The demo model's chat: a chat template and a short fine-tune on chat-formatted text built from
the demo corpus (``pydoc_data.topics``), so the chat monitor and ``steer-chat`` work offline.

The demo tokenizer has no chat marker tokens, so the template uses plain-text role markers and the
tokenizer's EOS as the end of each turn (generation stops there)::

    <|bos|>User: What is the class statement?<|eos|>Assistant: A class definition defines ...<|eos|>

The conversations: for each pydoc topic, a question naming the topic ("What is X?", "Tell me about
X.", "Explain X.") and the topic's opening words as the answer, cut to fit the model's context.
``chat_finetune`` trains on them for ``steps`` steps (batches half chats, half corpus rows so the
model keeps its language modelling), with the loss on the answer tokens (and the final EOS) only.
At the demo's size that is a few seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable

DEMO_CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{% if message['role'] == 'user' %}User: {% elif message['role'] == 'system' %}System: {% else %}Assistant: {% endif %}"
    "{{ message['content'] }}{{ eos_token }}{% endfor %}"
    "{% if add_generation_prompt %}Assistant: {% endif %}"
)
QUESTIONS = ("What is {topic}?", "Tell me about {topic}.", "Explain {topic}.")


def chat_examples(n_ctx: int, tokenizer) -> list[tuple[list[int], int]]:
    """``[(token ids, answer start)]``: one conversation per pydoc topic (question form cycling),
    each at most ``n_ctx`` tokens."""
    from pydoc_data.topics import topics

    out = []
    for i, key in enumerate(sorted(topics)):
        topic = key.replace("-", " ")
        question = QUESTIONS[i % len(QUESTIONS)].format(topic=topic)
        body = " ".join(topics[key].split())
        prompt = tokenizer.apply_chat_template(
            [{"role": "user", "content": question}], add_generation_prompt=True, tokenize=True
        )
        if hasattr(prompt, "input_ids"):
            prompt = prompt["input_ids"]
        prompt = [int(t) for t in prompt]
        room = n_ctx - len(prompt) - 1  # leave one for EOS
        if room < 2:
            continue
        answer = tokenizer.encode(body, add_special_tokens=False)[:room]
        out.append((prompt + answer + [tokenizer.eos_token_id], len(prompt)))
    return out


def chat_finetune(
    model,
    tokenizer,
    corpus_tokens,
    *,
    steps: int,
    batch_size: int = 32,
    lr: float = 2e-3,
    seed: int = 0,
    log: Callable[[str], None] = print,
) -> float:
    """Give ``tokenizer`` the chat template and fine-tune ``model`` on chat examples (see the module
    docstring). Returns the last chat loss (answer tokens only)."""
    import torch

    tokenizer.chat_template = DEMO_CHAT_TEMPLATE
    n_ctx = model.cfg.n_ctx
    examples = chat_examples(n_ctx, tokenizer)
    if not examples or steps <= 0:
        return float("nan")
    pad = tokenizer.pad_token_id or 0
    rows = torch.full((len(examples), n_ctx), pad, dtype=torch.long)
    mask = torch.zeros((len(examples), n_ctx), dtype=torch.bool)  # True where the target is trained
    for i, (ids, start) in enumerate(examples):
        rows[i, : len(ids)] = torch.tensor(ids)
        mask[i, start : len(ids)] = True  # targets: the answer and its EOS
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    model.train()
    t0, loss_v = time.monotonic(), float("nan")
    half = max(1, batch_size // 2)
    for _step in range(steps):
        pick = torch.randint(0, rows.shape[0], (half,), generator=gen)
        chats, chat_mask = rows[pick], mask[pick]
        logits = model(chats)[:, :-1].float()
        targets, target_mask = chats[:, 1:], chat_mask[:, 1:]
        ce = torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), reduction="none"
        )
        loss = (ce * target_mask.reshape(-1)).sum() / target_mask.sum().clamp(min=1)
        if corpus_tokens is not None and corpus_tokens.shape[0]:
            plain = corpus_tokens[torch.randint(0, corpus_tokens.shape[0], (half,), generator=gen)]
            loss = loss + model(plain, return_type="loss")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        loss_v = float(loss.detach())
    model.eval()
    log(
        f"  chat fine-tune: {steps} steps on {len(examples)} conversations in {time.monotonic() - t0:.0f}s, loss {loss_v:.3f}"
    )
    return loss_v
