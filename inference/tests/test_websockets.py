"""/ws/activation/ and /ws/steer/ through the real ASGI application."""

from __future__ import annotations

import asyncio
import threading

import pytest
from channels.testing import WebsocketCommunicator

from neuronsite.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)

FEATURE = {"modelId": "tiny", "layer": "1-res-tiny", "index": 9, "strength": 4}


def _connect(path):
    return WebsocketCommunicator(application, path, headers=[(b"origin", b"http://localhost")])


def test_activation_socket_matches_api_and_survives_bad_frames(tiny, api_client):
    feature = {"modelId": "tiny", "source": "1-res-tiny", "index": 5}
    expected = api_client.post(
        "/api/activation/new", {"feature": feature, "customText": "Hi there"}, format="json"
    )

    async def scenario():
        ws = _connect("/ws/activation/")
        connected, _ = await ws.connect()
        assert connected
        await ws.send_to(text_data="not json")
        assert (await ws.receive_json_from(timeout=10))["type"] == "error"
        await ws.send_json_to({"requestId": 1, "feature": {**feature, "index": 999}, "customText": "x"})
        err = await ws.receive_json_from(timeout=10)
        assert err["type"] == "error" and err["requestId"] == 1 and "999" in err["error"]
        await ws.send_json_to({"requestId": 2, "feature": feature, "customText": "Hi there"})
        ok = await ws.receive_json_from(timeout=10)
        await ws.disconnect()
        return ok

    ok = asyncio.run(scenario())
    assert ok["type"] == "activation" and ok["requestId"] == 2
    assert ok["result"] == expected.json()


def test_steer_socket_streams_side_by_side_and_matches_api(tiny, api_client):
    body = {"modelId": "tiny", "prompt": "Once upon", "n_tokens": 5, "seed": 4, "features": [FEATURE]}

    async def scenario():
        ws = _connect("/ws/steer/")
        assert (await ws.connect())[0]
        await ws.send_json_to({"type": "steer", "requestId": "a", **body})
        frames = []
        while True:
            frame = await ws.receive_json_from(timeout=20)
            frames.append(frame)
            if frame["type"] in ("done", "error"):
                break
        await ws.disconnect()
        return frames

    frames = asyncio.run(scenario())
    assert frames[-1]["type"] == "done", frames[-1]
    tokens = [f for f in frames if f["type"] == "token"]
    kinds = [f["kind"] for f in tokens]
    assert kinds[:4] == ["DEFAULT", "STEERED", "DEFAULT", "STEERED"]  # side by side
    last = {f["kind"]: f["text"] for f in tokens}
    assert last["STEERED"] == frames[-1]["STEERED"] and last["DEFAULT"] == frames[-1]["DEFAULT"]
    api = api_client.post("/api/steer", body, format="json").json()
    assert api["cached"] is True and api["id"] == frames[-1]["id"]


def test_steer_socket_caps_in_flight_cancels_and_reports_bad_input(tiny, settings):
    settings.INFERENCE_MAX_IN_FLIGHT_PER_CONNECTION = 1
    long = {
        "type": "steer",
        "modelId": "tiny",
        "prompt": "Long story",
        "n_tokens": 200,
        "features": [FEATURE],
    }

    async def scenario():
        ws = _connect("/ws/steer/")
        assert (await ws.connect())[0]
        await ws.send_json_to({**long, "requestId": "x"})
        first = await ws.receive_json_from(timeout=20)
        await ws.send_json_to({**long, "requestId": "y"})
        capped = None
        while capped is None:
            frame = await ws.receive_json_from(timeout=20)
            if frame.get("requestId") == "y":
                capped = frame
        await ws.send_json_to({"type": "cancel", "requestId": "x"})
        while (await ws.receive_json_from(timeout=20))["type"] != "cancelled":
            pass
        await ws.send_json_to({**long, "requestId": "z", "n_tokens": 10**6})
        bad = await ws.receive_json_from(timeout=20)
        await ws.disconnect()
        return first, capped, bad

    first, capped, bad = asyncio.run(scenario())
    assert first["type"] == "token"
    assert capped["type"] == "error" and "limit 1" in capped["error"]
    assert bad["type"] == "error" and "n_tokens" in bad["error"]
    from inference.models import SteerOutput

    assert SteerOutput.objects.count() == 0  # the cancelled generation stored nothing


def test_concurrent_requests_do_not_crash_the_engine(tiny):
    from rest_framework.test import APIClient

    results, errors = [], []

    def hit(i):
        try:
            client = APIClient()
            r = client.post(
                "/api/activation/new",
                {
                    "feature": {"modelId": "tiny", "source": "0-res-tiny", "index": i},
                    "customText": f"text {i}",
                },
                format="json",
            )
            results.append(r.status_code)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=hit, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors and results == [200] * 6


def test_closing_the_socket_cancels_its_generation(tiny):
    from inference.engine import get_engine
    from inference.models import SteerOutput

    async def scenario():
        ws = _connect("/ws/steer/")
        assert (await ws.connect())[0]
        await ws.send_json_to(
            {
                "type": "steer",
                "requestId": "a",
                "modelId": "tiny",
                "prompt": "Once",
                "n_tokens": 200,
                "features": [FEATURE],
            }
        )
        assert (await ws.receive_json_from(timeout=20))["type"] == "token"
        await ws.disconnect()
        # The request's task is cancelled by the disconnect itself (not by the end of this event
        # loop): its "cancelled" frame is the last thing it sends.
        while (await ws.receive_json_from(timeout=20))["type"] != "cancelled":
            pass
        await get_engine().run(lambda: None)  # the engine's queue has drained past any last slice

    asyncio.run(scenario())
    assert SteerOutput.objects.count() == 0
