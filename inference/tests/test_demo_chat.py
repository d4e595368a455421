"""The demo's chat fine-tune (issue 15): a chat template on the demo tokenizer, conversations built
from the corpus, and a short fine-tune that lowers the answer loss."""

from __future__ import annotations


def _answer_loss(model, rows, mask):
    import torch

    with torch.no_grad():
        logits = model(rows)[:, :-1].float()
        ce = torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), rows[:, 1:].reshape(-1), reduction="none"
        )
        m = mask[:, 1:].reshape(-1)
        return float((ce * m).sum() / m.sum())


def test_chat_finetune_teaches_the_template(tmp_path):
    from pydoc_data.topics import topics

    import torch

    from inference.demo.build import ModelSpec, new_model, train_tokenizer
    from inference.demo.chat import DEMO_CHAT_TEMPLATE, chat_examples, chat_finetune

    texts = [topics[k] for k in sorted(topics)[:40]]
    tokenizer = train_tokenizer(texts, tmp_path / "tok", vocab_size=400)
    model = new_model(
        ModelSpec(n_layers=1, d_model=32, n_heads=2, d_mlp=64, n_ctx=48, vocab_size=400), tokenizer
    )
    tokenizer.chat_template = DEMO_CHAT_TEMPLATE
    examples = chat_examples(48, tokenizer)
    assert len(examples) > 50
    ids, start = examples[0]
    assert len(ids) <= 48 and ids[-1] == tokenizer.eos_token_id and ids[0] == tokenizer.bos_token_id
    text = tokenizer.decode(ids[:start])
    assert text.startswith("<|bos|>User: ") and text.endswith("Assistant: ")
    rows = torch.zeros((len(examples), 48), dtype=torch.long)
    mask = torch.zeros((len(examples), 48), dtype=torch.bool)
    for i, (ids, start) in enumerate(examples):
        rows[i, : len(ids)] = torch.tensor(ids)
        mask[i, start : len(ids)] = True
    before = _answer_loss(model, rows, mask)
    chat_finetune(model, tokenizer, None, steps=40, batch_size=16, lr=3e-3, log=lambda _m: None)
    after = _answer_loss(model, rows, mask)
    assert tokenizer.chat_template == DEMO_CHAT_TEMPLATE
    assert after < before - 0.5, (before, after)
    tokenizer.save_pretrained(str(tmp_path / "saved"))
    from transformers import AutoTokenizer

    assert AutoTokenizer.from_pretrained(str(tmp_path / "saved")).chat_template == DEMO_CHAT_TEMPLATE
