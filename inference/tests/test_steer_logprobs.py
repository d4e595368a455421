"""Per-token top-5 log-probs on the steering token events (websocket and SSE), against the same
computation done directly with TransformerLens: ``log_softmax(model(prompt)[0, -1])``, top 5."""

from __future__ import annotations

import asyncio

import pytest
from channels.testing import WebsocketCommunicator

from inference.tests.conftest import HOOK1
from neuronsite.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)

PROMPT = "The meaning of life is"
STRENGTH = 5.0
FEATURE = {"modelId": "tiny", "layer": "1-res-tiny", "index": 3, "strength": STRENGTH}


def _direct_top5(direct, *, steered: bool):
    """[(token id, raw token, logprob)] of the first generated position, plain TransformerLens."""
    import torch

    model = direct["model"]
    vec = direct["sae"]("sae1").W_dec[3].detach()
    fwd = [(HOOK1, lambda act, hook: act + STRENGTH * vec)] if steered else []
    with torch.no_grad(), model.hooks(fwd_hooks=fwd):
        logits = model(model.to_tokens(PROMPT))
    values, indices = torch.log_softmax(logits[0, -1], dim=-1).topk(5)
    ids = indices.tolist()
    return list(zip(ids, model.tokenizer.convert_ids_to_tokens(ids), values.tolist(), strict=True))


def _check(event_top, expected):
    assert len(event_top) == 5
    for got, (tid, raw, lp) in zip(event_top, expected, strict=True):
        assert got["id"] == tid and got["token"] == raw
        assert got["logprob"] == pytest.approx(lp, abs=1e-5)
    assert [t["logprob"] for t in event_top] == sorted((t["logprob"] for t in event_top), reverse=True)


def test_websocket_token_events_carry_top5_logprobs_matching_transformer_lens(tiny, direct):
    body = {
        "type": "steer",
        "requestId": "lp",
        "modelId": "tiny",
        "prompt": PROMPT,
        "n_tokens": 3,
        "temperature": 0,
        "seed": 1,
        "features": [FEATURE],
    }

    async def scenario():
        ws = WebsocketCommunicator(application, "/ws/steer/", headers=[(b"origin", b"http://localhost")])
        assert (await ws.connect())[0]
        await ws.send_json_to(body)
        events = []
        while (msg := await ws.receive_json_from(timeout=60))["type"] == "token":
            events.append(msg)
        await ws.disconnect()
        return events, msg

    events, last = asyncio.run(scenario())
    assert last["type"] == "done", last
    first = {kind: next(e for e in events if e["kind"] == kind) for kind in ("DEFAULT", "STEERED")}
    _check(first["DEFAULT"]["topLogprobs"], _direct_top5(direct, steered=False))
    _check(first["STEERED"]["topLogprobs"], _direct_top5(direct, steered=True))
    assert first["DEFAULT"]["topLogprobs"] != first["STEERED"]["topLogprobs"]
    for e in events:  # greedy decoding: each generated token is its step's top candidate
        assert len(e["topLogprobs"]) == 5 and e["token"] == e["topLogprobs"][0]["token"]
        assert e["logprob"] == e["topLogprobs"][0]["logprob"]


def test_sse_token_frames_carry_kind_token_and_top5_logprobs(tiny, direct):
    from inference.tests.test_streaming import _frames, _post_streaming

    body = {
        "modelId": "tiny",
        "prompt": PROMPT,
        "n_tokens": 2,
        "seed": 4,
        "features": [FEATURE],
        "stream": True,
    }
    status, _, chunks, _ = asyncio.run(_post_streaming("/api/steer", body))
    frames = [f for f in _frames(chunks) if not f["done"]]
    assert status == 200 and len(frames) == 4
    assert {f["kind"] for f in frames} == {"DEFAULT", "STEERED"}
    first_default = next(f for f in frames if f["kind"] == "DEFAULT")
    _check(first_default["topLogprobs"], _direct_top5(direct, steered=False))
    for f in frames:  # sampled (temperature 1): the token's own log-prob, within its top 5 when there
        assert f["logprob"] <= 0 and f["logprob"] <= f["topLogprobs"][0]["logprob"]
        same = [t["logprob"] for t in f["topLogprobs"] if t["token"] == f["token"]]
        assert same in ([], [f["logprob"]])


def test_logprobs_are_stored_with_the_outputs_for_the_plain_api_cache_and_share_links(
    api_client, tiny, direct
):
    """The plain POST (no stream) answers the same per-token log-probs the token events carry;
    they are stored with each SteerOutput, so a repeat (from the cache) and the share link give
    them back unchanged. A DEFAULT row stored before log-probs were kept answers null."""
    from inference.models import SteerOutput

    body = {
        "modelId": "tiny",
        "prompt": PROMPT,
        "n_tokens": 3,
        "temperature": 0,
        "seed": 1,
        "features": [FEATURE],
    }
    first = api_client.post("/api/steer", body, format="json").json()
    assert first["cached"] is False
    for kind, steered in (("DEFAULT", False), ("STEERED", True)):
        steps = first["logprobs"][kind]
        assert 1 <= len(steps) <= 3
        _check(steps[0]["topLogprobs"], _direct_top5(direct, steered=steered))
        for step in steps:  # greedy: each token is its step's best candidate
            assert step["token"] == step["topLogprobs"][0]["token"]
            assert step["logprob"] == step["topLogprobs"][0]["logprob"]
        # the steps spell the generated continuation
        tokenizer = direct["model"].tokenizer
        assert first[kind] == PROMPT + tokenizer.convert_tokens_to_string([st["token"] for st in steps])
    row = SteerOutput.objects.get(share_id=first["id"])
    assert row.logprobs == first["logprobs"]["STEERED"]

    again = api_client.post("/api/steer", body, format="json").json()
    assert again["cached"] is True and again["logprobs"] == first["logprobs"]
    shared = api_client.get(f"/api/steer/{first['id']}").json()
    assert shared["logprobs"] == first["logprobs"]

    SteerOutput.objects.filter(kind="DEFAULT").update(logprobs=None)  # as stored before this field
    old = api_client.get(f"/api/steer/{first['id']}").json()
    assert old["logprobs"] == {"DEFAULT": None, "STEERED": first["logprobs"]["STEERED"]}
