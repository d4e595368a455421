"""Completion mode (issue 15): the token table and the steering plan tokenise the SAME text the
same way, also where two messages meet inside one token ("The cla" + "ss of" is one token
"Ġclass"), so a range selected in the table steers exactly those tokens."""

from __future__ import annotations

import pytest

from inference.tests.conftest import direct, tiny, tiny_folders  # noqa: F401  (fixtures)
from monitor.tests.test_steer import _reference, quantiles  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db

# Saved separately, "The cla" | "ss of" | "ses is" tokenise as The Ġc la | ss Ġof | se s Ġis;
# joined, as The Ġclass Ġof se s Ġis.
MESSAGES = [
    {"role": "user", "content": "The cla"},
    {"role": "assistant", "content": "ss of"},
    {"role": "user", "content": "ses is"},
]


def _conversation(api_client, messages):
    from monitor.models import Conversation

    r = api_client.post(
        "/api/monitor/conversation/new",
        {"modelId": "tiny", "mode": "completion", "sources": ["1-res-tiny"]},
        format="json",
    )
    assert r.status_code == 201, r.content
    Conversation.objects.filter(pk=r.json()["id"]).update(messages=messages)  # a saved conversation
    return r.json()["id"]


def test_a_range_selected_in_the_table_steers_exactly_those_tokens(api_client, quantiles, direct):  # noqa: F811
    from monitor.models import Conversation

    conv = _conversation(api_client, MESSAGES)
    got = api_client.get(f"/api/monitor/conversation/{conv}/concepts")
    assert got.status_code == 200, got.content
    tokens = got.json()["tokens"]
    model = direct["model"]
    joined = "".join(m["content"] for m in MESSAGES)
    ids = model.to_tokens(joined)[0].tolist()
    # The table shows the joined text's tokens, position for position.
    assert [t["token"] for t in tokens] == model.tokenizer.convert_ids_to_tokens(ids)
    assert [t["position"] for t in tokens] == list(range(len(ids)))
    # A token belongs to the message holding its first character: "Ġclass" to the first message.
    assert [(t["token"], t["message"]) for t in tokens] == [
        ("<|endoftext|>", -1),
        ("The", 0),
        ("Ġclass", 0),
        ("Ġof", 1),
        ("se", 2),
        ("s", 2),
        ("Ġis", 2),
    ]
    assert [t["role"] for t in tokens[1:]] == ["user", "user", "assistant", "user", "user", "user"]
    # Select the tokens from the answer's to the second message's "se" in the table and steer them.
    chosen = [t["position"] for t in tokens if t["token"] in ("Ġof", "se")]
    lo, hi = min(chosen), max(chosen)
    spec = {
        "description": "classes",
        "mode": "strengthen",
        "features": [{"source": "1-res-tiny", "index": 9}],
        "positions": {"prompt": [[lo, hi + 1]], "generated": False},
    }
    common = {"nTokens": 8, "temperature": 0.0, "seed": 4}
    r = api_client.post(
        "/api/monitor/steer", {"conversationId": conv, "specs": [spec], **common}, format="json"
    )
    assert r.status_code == 200, r.content
    data = r.json()
    terms = [("1-res-tiny", "clamp", 9, 0.75 * 30.0, set(range(lo, hi + 1)), False)]
    args = {"n": 8, "temperature": 0.0, "seed": 4}
    assert data["STEERED"] == _reference(direct, ids, terms, **args)
    assert data["DEFAULT"] == _reference(direct, ids, [], **args)
    assert data["STEERED"] != data["DEFAULT"]
    # What the steering panel sends for a completion-mode conversation (the joined text) is the same.
    r = api_client.post(
        "/api/monitor/steer", {"modelId": "tiny", "prompt": joined, "specs": [spec], **common}, format="json"
    )
    assert r.status_code == 200 and r.json()["STEERED"] == data["STEERED"]
    # One past the table's last token is refused, naming the spec's field; nothing changed.
    spec["positions"] = {"prompt": [[lo, len(tokens) + 1]], "generated": False}
    r = api_client.post(
        "/api/monitor/steer", {"conversationId": conv, "specs": [spec], **common}, format="json"
    )
    assert r.status_code == 400 and r.json()["error"].startswith("specs[0].positions.prompt"), r.content
    assert Conversation.objects.get(pk=conv).messages == MESSAGES


def test_the_answer_follows_the_joined_text(api_client, quantiles, direct):  # noqa: F811
    """A completion-mode answer is generated from the same tokens: the saved answer is the plain
    continuation of the joined text's tokens at the same seed."""
    import torch

    conv = _conversation(api_client, MESSAGES[:2])
    r = api_client.post(
        f"/api/monitor/conversation/{conv}/send",
        {"content": "ses is", "nTokens": 6, "temperature": 0.0, "seed": 2},
        format="json",
    )
    assert r.status_code == 200, r.content
    answer = r.json()["conversation"]["messages"][-1]
    assert answer["role"] == "assistant"
    model = direct["model"]
    ids = model.to_tokens("".join(m["content"] for m in MESSAGES))[0]
    with torch.no_grad():
        out = model.generate(ids[None], max_new_tokens=6, temperature=0.0, verbose=False, stop_at_eos=True)
    want = model.tokenizer.decode(out[0, len(ids) :].tolist(), skip_special_tokens=True)
    assert answer["content"] == want.replace("\x00", "\ufffd")
