"""/ws/jobs/ only sends; what a client sends there (binary, text that is not JSON, JSON nested too deep
to parse, any JSON) is answered with an error frame and the socket stays open (issue 10, websockets:
before, a binary or non-JSON frame closed it with 1011 and logged a traceback)."""

from __future__ import annotations

import asyncio

import pytest
from channels.testing import WebsocketCommunicator
from django.core.cache import cache

from neuronsite.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)


def test_jobs_socket_answers_odd_frames_with_error_frames_and_stays_open():
    cache.clear()

    async def scenario():
        ws = WebsocketCommunicator(application, "/ws/jobs/", headers=[(b"origin", b"http://localhost")])
        ws.scope["client"] = ("203.0.113.77", 40000)
        assert (await ws.connect())[0]
        assert (await ws.receive_json_from(timeout=20))["type"] == "ready"
        replies = []
        for frame in (
            {"bytes_data": b"\x00\x01binary"},
            {"text_data": "not json{"},
            {"text_data": "[" * 50_000},
        ):
            await ws.send_to(**frame)
            replies.append(await ws.receive_json_from(timeout=20))
        await ws.send_json_to({"requestId": [1, 2]})  # still open: a JSON frame is answered too
        replies.append(await ws.receive_json_from(timeout=20))
        await ws.disconnect()
        return replies

    binary, not_json, too_deep, plain = asyncio.run(scenario())
    cache.clear()
    assert binary["type"] == "error" and "Binary frames are not accepted" in binary["error"]
    assert not_json["type"] == "error" and "not valid JSON" in not_json["error"]
    assert too_deep == not_json
    assert plain == {"type": "error", "error": "this socket only sends job events", "message": plain["error"]}
    for frame in (binary, not_json):
        assert frame["message"] == frame["error"] and "Traceback" not in frame["error"]
