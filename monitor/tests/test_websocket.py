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


def test_bad_frames_are_error_frames_and_change_nothing(mtiny, api_client):
    """Issue 15's bad input over the socket: over the context, unknown sources, top-k out of range,
    regenerate with no answer: an error frame naming the field each, the socket stays open, the
    conversation is as it was."""
    from monitor.models import Conversation

    conv = api_client.post("/api/monitor/conversation/new", {"modelId": "mtiny"}, format="json").json()
    cookie = api_client.cookies["neuronsite_monitor"].value
    cid = conv["id"]
    frames = [
        ({"type": "regenerate"}, "conversationId"),
        ({"type": "send", "content": "word " * 400, "nTokens": 3}, "content"),
        ({"type": "concepts", "sources": ["9-nope"]}, "9-nope"),
        ({"type": "attribution", "position": 1, "topK": 101}, "topK"),
        ({"type": "send", "content": "hi", "nTokens": 0}, "nTokens"),
    ]

    async def scenario():
        ws = _connect(cookie)
        assert (await ws.connect())[0]
        got = []
        for i, (frame, _) in enumerate(frames):
            await ws.send_json_to({**frame, "requestId": i, "conversationId": cid})
            got.append(await _until(ws, ("error", "done", "concepts"), i))
        # Still open: a good request after the bad ones is answered.
        await ws.send_json_to({"type": "concepts", "requestId": "ok", "conversationId": cid})
        ok = await _until(ws, ("concepts", "error"), "ok")
        await ws.disconnect()
        return got, ok

    before = Conversation.objects.get(pk=cid)
    got, ok = asyncio.run(scenario())
    for (frame, field), answer in zip(frames, got, strict=True):
        assert [f["type"] for f in answer] == ["error"], (frame, answer)
        assert field in answer[-1]["error"], (frame, answer)
    assert ok[-1]["type"] == "concepts"
    after = Conversation.objects.get(pk=cid)
    assert (after.messages, after.source_ids, after.updated_at) == (
        before.messages,
        before.source_ids,
        before.updated_at,
    )
