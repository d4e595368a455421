"""The ASGI application as servers run it (neuronsite/asgi_handler.py): Django's middleware chain
in one thread hop still applies every middleware (NUL rejection, security headers, CSP, CSRF),
reads through the connection pool, and each response carries ``Server-Timing: app;dur=<ms>``."""

from __future__ import annotations

import asyncio
import json

import pytest
from channels.testing import ApplicationCommunicator

from features.models import Activation
from neuronsite.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)


async def _request(method: str, path: str, query: bytes = b"", body: bytes = b""):
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "headers": [(b"host", b"testserver"), (b"content-type", b"application/json")],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    app = ApplicationCommunicator(application, scope)
    await app.send_input({"type": "http.request", "body": body, "more_body": False})
    start = await app.receive_output(timeout=60)
    chunks = [await app.receive_output(timeout=60)]
    while chunks[-1].get("more_body"):
        chunks.append(await app.receive_output(timeout=60))
    await app.send_input({"type": "http.disconnect"})
    await app.wait(timeout=10)
    headers = {k.decode().lower(): v.decode() for k, v in start["headers"]}
    return start["status"], headers, b"".join(c.get("body", b"") for c in chunks)


def _server_ms(headers: dict) -> float:
    """The ``app`` duration; ``queue`` + ``view`` (inside Django) never exceed it."""
    metrics = dict(part.strip().split(";dur=") for part in headers["server-timing"].split(","))
    assert set(metrics) == {"app", "queue", "view"}
    app, queue, view = (float(metrics[k]) for k in ("app", "queue", "view"))
    assert 0 <= queue and 0 < view and queue + view <= app + 0.2  # rounding to 0.1 ms each
    return app


def _run(*args, **kwargs):
    return asyncio.run(_request(*args, **kwargs))


def test_feature_api_and_page_through_the_asgi_application(make_feature):
    feature = make_feature(index=4)
    Activation.objects.create(feature=feature, tokens=["Ġdogs", "<b>"], values=[1.5, 0.0], max_value=1.5)
    status, headers, body = _run("GET", f"/api/feature/tiny/{feature.source.name}/4")
    assert status == 200 and headers["content-type"] == "application/json"
    assert json.loads(body)["activations"][0]["tokens"] == ["Ġdogs", "<b>"]
    assert headers["etag"].startswith('"') and _server_ms(headers) >= 0
    assert "content-security-policy" in headers and headers["x-frame-options"] == "DENY"

    status, headers, body = _run("GET", f"/tiny/{feature.source.name}/4")
    assert status == 200 and b'<span id="feature-index">4</span>' in body
    # the snippets travel as the page's JSON data (drawn by snippets.js): the token, escaped
    assert b'"\\u003cb\\u003e"' in body and b"<b>" not in body.split(b"<main", 1)[-1]
    assert _server_ms(headers) >= 0 and "content-security-policy" in headers


def test_middleware_still_refuses_what_it_refuses(make_feature):
    make_feature(index=1)
    status, headers, body = _run("GET", "/api/feature/tiny/0-res-test/1", query=b"q=%00")
    assert status == 400 and "NUL" in json.loads(body)["error"]
    status, headers, body = _run("POST", "/api/comment/new", body=b'{"text": "x"}')
    assert status in (401, 403) and "error" in json.loads(body)
    assert "server-timing" in headers


def test_requests_past_the_inflight_limit_wait_their_turn(make_feature, settings):
    """With one slot per process, concurrent requests queue on the event loop and all complete
    (in two event loops one after the other: each loop gets its own slots)."""
    settings.WEB_MAX_INFLIGHT = 1

    feature = make_feature(index=6)

    async def burst():
        return await asyncio.gather(
            *(_request("GET", f"/api/feature/tiny/{feature.source.name}/6") for _ in range(6))
        )

    for _ in range(2):
        results = asyncio.run(burst())
        assert [status for status, _, _ in results] == [200] * 6
        assert len({body for _, _, body in results}) == 1


def test_sequential_requests_reuse_one_request_thread(make_feature):
    """Each request's sync steps run on one thread, kept for the next request
    (neuronsite.asgi_handler.MAX_IDLE_REQUEST_THREADS) rather than started anew each time."""
    import threading

    from django.core.signals import request_finished, request_started

    feature = make_feature(index=8)
    started, finished = [], []

    def on_started(**kwargs):
        started.append(threading.get_ident())

    def on_finished(**kwargs):
        finished.append(threading.get_ident())

    request_started.connect(on_started)
    request_finished.connect(on_finished)

    async def one_after_another():
        return [await _request("GET", f"/api/feature/tiny/{feature.source.name}/8") for _ in range(5)]

    try:
        statuses = [status for status, _, _ in asyncio.run(one_after_another())]
    finally:
        request_started.disconnect(on_started)
        request_finished.disconnect(on_finished)
    assert statuses == [200] * 5
    assert len(started) == len(finished) == 5
    assert len(set(started)) == 1 and set(finished) == set(started)  # one thread, start to finish
