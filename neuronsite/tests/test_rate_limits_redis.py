"""Rate limits counted in Redis (``REDIS_URL``): a real redis-server on a free port."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time

import pytest

REDIS = shutil.which("redis-server")
pytestmark = pytest.mark.skipif(REDIS is None, reason="needs redis-server (make redis)")


@pytest.fixture
def redis_url(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [
            REDIS,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while True:  # wait until it accepts connections
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start") from None
            time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0"
    proc.terminate()
    proc.wait(timeout=10)


def test_api_limits_are_counted_in_redis_with_the_window_expiry(settings, redis_url, api_client, db):
    import redis

    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": redis_url}
    }
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "anon_inference": "5/h"}
    body = {"modelId": "no-such-model", "source": "0-x", "index": 0, "customText": "hello"}
    statuses = [
        api_client.post("/api/activation/new", body, format="json", REMOTE_ADDR="203.0.113.50").status_code
        for _ in range(12)
    ]
    assert 429 not in statuses[:5] and statuses.count(429) >= 12 - 10
    client = redis.Redis.from_url(redis_url)
    keys = [k for k in client.keys("*") if b"anon_inference" in k and b"203.0.113.50" in k]
    assert keys, client.keys("*")
    assert all(0 < client.ttl(k) <= 3601 for k in keys)  # the window's expiry, kept by INCR
