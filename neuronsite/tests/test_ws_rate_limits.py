"""Websocket rate limits (issue 10): request frames on /ws/activation/ and /ws/steer/ count against
the HTTP inference budget (per address when anonymous), frames on /ws/jobs/ against the write
budget. Over the limit: an error frame with ``retryAfter``, and the socket stays open."""

from __future__ import annotations

import asyncio
import time

import pytest
from channels.testing import WebsocketCommunicator
from django.core.cache import cache

from neuronsite.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)

LIMIT = 5
FRAMES = 14
BODY = {"feature": {"modelId": "no-such-model", "source": "0-x", "index": 0}, "customText": "hello"}


@pytest.fixture
def low_limits(settings):
    settings.RATE_LIMITS = {
        **settings.RATE_LIMITS,
        "anon_inference": f"{LIMIT}/h",
        "anon_write": f"{LIMIT}/h",
    }
    cache.clear()
    yield
    cache.clear()


def _connect(path: str, address: str) -> WebsocketCommunicator:
    ws = WebsocketCommunicator(application, path, headers=[(b"origin", b"http://localhost")])
    ws.scope["client"] = (address, 40000)  # read when the application starts, on connect
    return ws


def _hour() -> int:
    return int(time.time() // 3600)


def _limited(frame: dict) -> bool:
    return frame["type"] == "error" and "retryAfter" in frame


def test_flood_on_inference_sockets_gets_error_frames_while_another_address_is_served(low_limits):
    async def scenario():
        ws = _connect("/ws/activation/", "203.0.113.50")
        assert (await ws.connect())[0]
        for i in range(FRAMES):
            await ws.send_json_to({"requestId": i, **BODY})
        frames = {}
        while len(frames) < FRAMES:
            frame = await ws.receive_json_from(timeout=20)
            frames[frame["requestId"]] = frame
        # The socket is still open and answering.
        await ws.send_to(text_data="not json")
        still_open = await ws.receive_json_from(timeout=20)
        # The steer socket shares the address's inference budget.
        steer = _connect("/ws/steer/", "203.0.113.50")
        assert (await steer.connect())[0]
        await steer.send_json_to(
            {"type": "steer", "requestId": "s", "modelId": "no-such-model", "prompt": "x"}
        )
        steer_frame = await steer.receive_json_from(timeout=20)
        # Another address is served (its request reaches the model lookup: not found).
        other = _connect("/ws/activation/", "198.51.100.60")
        assert (await other.connect())[0]
        await other.send_json_to({"requestId": "o", **BODY})
        other_frame = await other.receive_json_from(timeout=20)
        for socket in (ws, steer, other):
            await socket.disconnect()
        return frames, still_open, steer_frame, other_frame

    hour = _hour()
    frames, still_open, steer_frame, other_frame = asyncio.run(scenario())
    limited = [i for i, f in frames.items() if _limited(f)]
    served = [f for f in frames.values() if not _limited(f)]
    if hour == _hour():
        assert len(limited) == FRAMES - LIMIT
    else:  # one window reset during the test
        assert FRAMES - 2 * LIMIT <= len(limited) <= FRAMES - LIMIT
    for i in limited:
        assert "Too many requests" in frames[i]["error"] and frames[i]["retryAfter"] >= 1
    assert all(f["type"] == "error" and "no-such-model" in f["error"] for f in served)
    assert still_open == {"type": "error", "requestId": None, "error": "Frame is not valid JSON."}
    if hour == _hour():
        assert _limited(steer_frame) and steer_frame["requestId"] == "s"
    assert not _limited(other_frame) and "no-such-model" in other_frame["error"]


def test_flood_on_the_jobs_socket_is_limited_by_the_write_budget(low_limits):
    async def scenario():
        ws = _connect("/ws/jobs/", "203.0.113.51")
        assert (await ws.connect())[0]
        assert (await ws.receive_json_from(timeout=20))["type"] == "ready"
        replies = []
        for i in range(FRAMES):
            await ws.send_json_to({"hello": i})
            replies.append(await ws.receive_json_from(timeout=20))
        await ws.disconnect()
        return replies

    hour = _hour()
    replies = asyncio.run(scenario())
    limited = [r for r in replies if _limited(r)]
    assert all(r["type"] == "error" for r in replies)
    message = "this socket only sends job events"
    assert replies[:LIMIT] == [{"type": "error", "error": message, "message": message}] * LIMIT
    if hour == _hour():
        assert len(limited) == FRAMES - LIMIT
    assert all(r["retryAfter"] >= 1 and "Too many requests" in r["message"] for r in limited)
