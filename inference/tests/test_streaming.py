"""The one steering loop through each of its interfaces under the real ASGI application: SSE
streams per token (``POST /api/steer`` with ``stream=true``), websockets handle frames on one socket
concurrently with a real in-flight cap, and a forward pass never holds asgiref's sync thread."""

from __future__ import annotations

import asyncio
import json
import threading

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.testing import ApplicationCommunicator, WebsocketCommunicator

from neuronsite.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)

PROMPT = "The meaning of life is"
FEATURE = {"modelId": "tiny", "layer": "1-res-tiny", "index": 3, "strength": 5}


def _http_scope(path: str, length: int) -> dict:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [
            (b"host", b"testserver"),
            (b"content-type", b"application/json"),
            (b"content-length", str(length).encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }


async def _post_streaming(path: str, body: dict):
    """POST through the ASGI app; returns (status, headers, [body chunks], SteerOutput rows stored
    when the first body chunk arrived)."""
    from inference.models import SteerOutput

    raw = json.dumps(body).encode()
    app = ApplicationCommunicator(application, _http_scope(path, len(raw)))
    await app.send_input({"type": "http.request", "body": raw, "more_body": False})
    start = await app.receive_output(timeout=60)
    assert start["type"] == "http.response.start"
    first = await app.receive_output(timeout=60)
    stored_at_first = await sync_to_async(SteerOutput.objects.count)()
    chunks = [first]
    while chunks[-1].get("more_body"):
        chunks.append(await app.receive_output(timeout=60))
    await app.wait(timeout=10)
    return start["status"], {k.lower(): v for k, v in start["headers"]}, chunks, stored_at_first


def _frames(chunks) -> list[dict]:
    text = b"".join(c.get("body", b"") for c in chunks).decode()
    return [json.loads(part.removeprefix("data: ")) for part in text.split("\n\n") if part.strip()]


def test_sse_stream_sends_each_token_before_the_generation_ends(tiny, api_client):
    body = {
        "modelId": "tiny",
        "prompt": PROMPT,
        "n_tokens": 6,
        "seed": 2,
        "features": [FEATURE],
        "stream": True,
    }
    status, headers, chunks, stored_at_first = asyncio.run(_post_streaming("/api/steer", body))
    assert status == 200 and headers[b"content-type"] == b"text/event-stream", _frames(chunks) or chunks
    first = _frames(chunks[:1])
    assert first and first[0]["done"] is False  # the first body chunk is a token frame ...
    assert stored_at_first == 0  # ... sent before the result was stored: time to first byte < total
    frames = _frames(chunks)
    partial = [f for f in frames if not f["done"]]
    assert len(partial) == 2 * 6  # one frame per generated token, DEFAULT and STEERED
    assert frames[-1]["done"] is True and frames[-1]["id"]
    assert partial[-1]["STEERED"] == frames[-1]["STEERED"] and partial[-1]["DEFAULT"] == frames[-1]["DEFAULT"]
    assert all(f["STEERED"].startswith(PROMPT) for f in partial if f["STEERED"])
    plain = api_client.post("/api/steer", {**body, "stream": False}, format="json").json()
    assert plain["cached"] is True and plain["id"] == frames[-1]["id"]
    assert plain["STEERED"] == frames[-1]["STEERED"]


def test_plain_api_under_asgi_then_a_cached_stream_is_one_done_frame_and_errors_are_json(tiny):
    body = {"modelId": "tiny", "prompt": PROMPT, "n_tokens": 3, "features": [FEATURE]}
    # the plain API under ASGI: the same loop run to its end on the request's thread
    status, headers, chunks, _ = asyncio.run(_post_streaming("/api/steer", body))
    plain = json.loads(b"".join(c.get("body", b"") for c in chunks))
    assert status == 200 and plain["cached"] is False and plain["STEERED"].startswith(PROMPT)
    _, _, chunks, _ = asyncio.run(_post_streaming("/api/steer", {**body, "stream": True}))
    frames = _frames(chunks)
    assert len(frames) == 1 and frames[0]["done"] is True and frames[0]["cached"] is True
    assert frames[0]["STEERED"] == plain["STEERED"]
    # bad input is refused before the stream starts: a JSON 400, not a half-sent stream
    status, _, chunks, _ = asyncio.run(_post_streaming("/api/steer", {**body, "stream": True, "seed": 2**70}))
    assert status == 400 and "seed" in json.loads(b"".join(c.get("body", b"") for c in chunks))["error"]


def _connect(path):
    return WebsocketCommunicator(application, path, headers=[(b"origin", b"http://localhost")])


def test_socket_answers_binary_and_odd_request_ids_with_error_frames(tiny):
    feature = {"modelId": "tiny", "source": "1-res-tiny", "index": 5}

    async def scenario():
        ws = _connect("/ws/activation/")
        assert (await ws.connect())[0]
        replies = []
        await ws.send_to(bytes_data=b"\x00\x01binary")
        replies.append(await ws.receive_json_from(timeout=20))
        for rid in ([1, 2], {"a": 1}, True):
            await ws.send_json_to({"requestId": rid, "feature": feature, "customText": "hi"})
            replies.append(await ws.receive_json_from(timeout=20))
        await ws.send_to(text_data="[" * 100000)  # nested too deep for the JSON parser
        replies.append(await ws.receive_json_from(timeout=20))
        await ws.send_json_to({"requestId": "ok", "feature": feature, "customText": "hi"})
        replies.append(await ws.receive_json_from(timeout=20))  # the socket is still open
        await ws.disconnect()
        return replies

    replies = asyncio.run(scenario())
    assert replies[0]["type"] == "error" and "Binary" in replies[0]["error"]
    assert all(r["type"] == "error" and "requestId must be" in r["error"] for r in replies[1:4])
    assert replies[4]["type"] == "error" and "JSON" in replies[4]["error"]
    assert replies[5]["type"] == "activation" and replies[5]["requestId"] == "ok"


def test_activation_socket_handles_frames_concurrently_and_keeps_the_sync_thread_free(tiny, settings):
    """With the engine thread held on a barrier, an activation request is in flight: a second frame
    on the same socket is answered at once (the per-connection cap is real), and other database work
    goes on (the request's forward pass does not sit on asgiref's shared sync thread)."""
    from inference.engine import get_engine
    from models_app.models import Model

    settings.INFERENCE_MAX_IN_FLIGHT_PER_CONNECTION = 1
    feature = {"modelId": "tiny", "source": "1-res-tiny", "index": 5}
    engine = get_engine()
    gate = threading.Event()

    async def scenario():
        ws = _connect("/ws/activation/")
        assert (await ws.connect())[0]
        # load the model first, so that the blocked call below is the forward pass itself
        await ws.send_json_to({"requestId": 0, "feature": feature, "customText": "warm up"})
        assert (await ws.receive_json_from(timeout=60))["type"] == "activation"
        held = engine.submit(gate.wait)
        await ws.send_json_to({"requestId": 1, "feature": feature, "customText": "first"})
        await ws.send_json_to({"requestId": 2, "feature": feature, "customText": "second"})
        capped = await ws.receive_json_from(timeout=20)
        # request 1 waits for the engine: the shared sync thread must still serve the ORM
        count = await asyncio.wait_for(database_sync_to_async(Model.objects.count)(), timeout=20)
        gate.set()
        await asyncio.wrap_future(held)
        done = await ws.receive_json_from(timeout=20)
        await ws.disconnect()
        return capped, count, done

    try:
        capped, count, done = asyncio.run(scenario())
    finally:
        gate.set()
    assert capped["type"] == "error" and capped["requestId"] == 2 and "limit 1" in capped["error"]
    assert count == 1
    assert done["type"] == "activation" and done["requestId"] == 1


def test_socket_error_frames_are_clean_and_too_long_text_names_the_limit(tiny, settings):
    feature = {"modelId": "tiny", "source": "1-res-tiny", "index": 5}
    long_text = " ".join(["word"] * 400)

    async def scenario():
        ws = _connect("/ws/activation/")
        assert (await ws.connect())[0]
        await ws.send_json_to({"requestId": "long", "feature": feature, "customText": long_text})
        reply = await ws.receive_json_from(timeout=30)
        await ws.disconnect()
        return reply

    settings.INFERENCE_TOKEN_LIMIT = 10_000  # the model's context (256) is the smaller limit
    reply = asyncio.run(scenario())
    assert reply["type"] == "error" and reply["requestId"] == "long"
    assert "limit is 256 tokens" in reply["error"] and "Error" not in reply["error"]


def test_sse_stream_that_fails_mid_generation_ends_with_a_clean_error_frame(tiny):
    from inference.tests.conftest import HOOK1

    vector = {"hook": HOOK1, "steering_vector": [1e38] * 32, "strength": 1}  # finite, overflows later
    body = {"modelId": "tiny", "prompt": PROMPT, "n_tokens": 3, "vectors": [vector], "stream": True}
    status, _, chunks, _ = asyncio.run(_post_streaming("/api/steer", body))
    frames = _frames(chunks)
    assert status == 200 and frames[-1]["done"] is True
    assert "non-finite" in frames[-1]["error"] and "Error" not in frames[-1]["error"]


def test_steer_socket_answers_odd_frames_with_clean_error_frames(tiny):
    base = {"type": "steer", "modelId": "tiny", "prompt": PROMPT, "n_tokens": 2, "features": [FEATURE]}
    odd = [
        {**base, "type": "bogus"},
        {**base, "seed": 2**70},
        {**base, "temperature": "hot"},
        {**base, "features": [{**FEATURE, "strength": 1e308}]},
        {**base, "features": [{**FEATURE, "layer": "ab\ud800"}]},
        {**base, "features": [{**FEATURE, "index": "\u00b2"}]},
        {**base, "prompt": "ab\ud800"},
        {**base, "prompt": " ".join(["word"] * 400)},
        {**base, "type": "steer-chat", "defaultChatMessages": [{"role": "user", "content": "ab\ud800"}]},
    ]

    async def scenario():
        ws = _connect("/ws/steer/")
        assert (await ws.connect())[0]
        replies = []
        for i, frame in enumerate(odd):
            await ws.send_to(text_data=json.dumps({**frame, "requestId": i}))  # \ud800 stays escaped
            replies.append(await ws.receive_json_from(timeout=30))
        await ws.send_json_to({**base, "requestId": "ok"})
        while (last := await ws.receive_json_from(timeout=30))["type"] == "token":
            pass
        await ws.disconnect()
        return replies, last

    replies, last = asyncio.run(scenario())
    for i, reply in enumerate(replies):
        assert reply["type"] == "error" and reply["requestId"] == i, reply
        assert "Error" not in reply["error"] and "Traceback" not in reply["error"], reply
    assert last["type"] == "done" and last["requestId"] == "ok"
