"""/ws/monitor/ through the real ASGI application: streamed answer, saved conversation, concepts,
attribution, error frames that leave the conversation unchanged, cancel."""

from __future__ import annotations

import asyncio

import pytest
from channels.testing import WebsocketCommunicator

from neuronsite.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)


def _connect(cookie: str | None = None):
    headers = [(b"origin", b"http://localhost")]
    if cookie:
        headers.append((b"cookie", f"neuronsite_monitor={cookie}".encode()))
    return WebsocketCommunicator(application, "/ws/monitor/", headers=headers)


async def _until(ws, kinds, request_id):
    frames = []
    while True:
        frame = await ws.receive_json_from(timeout=30)
        assert frame.get("requestId") == request_id, frame
        frames.append(frame)
        if frame["type"] in kinds:
            return frames


def test_chat_streams_then_saves_and_pushes_concepts(mtiny, api_client):
    from monitor.models import Conversation

    conv = api_client.post("/api/monitor/conversation/new", {"modelId": "mtiny"}, format="json").json()
    cookie = api_client.cookies["neuronsite_monitor"].value

    async def scenario():
        ws = _connect(cookie)
        assert (await ws.connect())[0]
        await ws.send_json_to(
            {
                "type": "send",
                "requestId": 1,
                "conversationId": conv["id"],
                "content": "Hi there",
                "nTokens": 5,
            }
        )
        frames = await _until(ws, ("concepts", "error"), 1)
        await ws.send_json_to(
            {"type": "attribution", "requestId": 2, "conversationId": conv["id"], "position": 0}
        )
        bad = await _until(ws, ("error",), 2)
        await ws.send_json_to({"type": "send", "requestId": 3, "conversationId": conv["id"], "content": ""})
        empty = await _until(ws, ("error",), 3)
        await ws.send_json_to({"type": "bogus", "requestId": 4, "conversationId": conv["id"]})
        bogus = await _until(ws, ("error",), 4)
        stranger = _connect("someone-else")
        assert (await stranger.connect())[0]
        await stranger.send_json_to({"type": "concepts", "requestId": 5, "conversationId": conv["id"]})
        hidden = await _until(stranger, ("error",), 5)
        await stranger.disconnect()
        await ws.disconnect()
        return frames, bad, empty, bogus, hidden

    frames, bad, empty, bogus, hidden = asyncio.run(scenario())
    kinds = [f["type"] for f in frames]
    assert kinds[-2:] == ["done", "concepts"] and set(kinds[:-2]) <= {"token"}
    tokens = [f for f in frames if f["type"] == "token"]
    saved = Conversation.objects.get(pk=conv["id"])
    answer = saved.messages[-1]["content"]
    if tokens:
        assert tokens[-1]["text"] == answer
    assert frames[-2]["conversation"]["messages"] == saved.messages
    assert [m["role"] for m in saved.messages] == ["user", "assistant"]
    concepts = frames[-1]
    assert concepts["conversationId"] == conv["id"] and concepts["tokens"]
    assert concepts == {
        **api_client.get(f"/api/monitor/conversation/{conv['id']}/concepts").json(),
        "type": "concepts",
        "requestId": 1,
    }
    assert "position" in bad[-1]["error"]
    assert "content" in empty[-1]["error"]
    assert "type" in bogus[-1]["error"]
    assert "not found" in hidden[-1]["error"]
    assert Conversation.objects.get(pk=conv["id"]).messages == saved.messages


def test_cancel_stops_and_saves_nothing(mtiny, api_client):
    from monitor.models import Conversation

    conv = api_client.post("/api/monitor/conversation/new", {"modelId": "mtiny"}, format="json").json()
    cookie = api_client.cookies["neuronsite_monitor"].value

    async def scenario():
        ws = _connect(cookie)
        assert (await ws.connect())[0]
        await ws.send_json_to(
            {
                "type": "send",
                "requestId": "c",
                "conversationId": conv["id"],
                "content": "Go",
                "nTokens": 100,
                "temperature": 1.0,
            }
        )
        await ws.send_json_to({"type": "cancel", "requestId": "c"})
        frames = await _until(ws, ("cancelled", "done", "error"), "c")
        await ws.disconnect()
        return frames

    frames = asyncio.run(scenario())
    assert frames[-1]["type"] == "cancelled"
    assert Conversation.objects.get(pk=conv["id"]).messages == []
