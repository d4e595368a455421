"""Graph files in S3: django-storages + boto3 against moto's server over real HTTP."""

from __future__ import annotations

import gzip
import json

import pytest

from graphs.tests.test_api import minimal_graph, upload


@pytest.fixture
def s3_bucket(settings, monkeypatch):
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket="graphs-test")
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": "graphs-test",
                "endpoint_url": endpoint,
                "region_name": "us-east-1",
                "file_overwrite": False,
            },
        },
    }
    yield boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    server.stop()


def test_upload_and_serve_through_s3(graph_model, api_user, s3_bucket, django_capture_on_commit_callbacks):
    _, client = api_user()
    response = upload(client, minimal_graph(slug="s3graph"))
    assert response.status_code == 200, response.json()
    keys = [o["Key"] for o in s3_bucket.list_objects_v2(Bucket="graphs-test").get("Contents", [])]
    assert len(keys) == 1 and keys[0].startswith("graphs/gtiny/s3graph-")  # the upload itself was removed
    stored = s3_bucket.get_object(Bucket="graphs-test", Key=keys[0])["Body"].read()
    assert json.loads(gzip.decompress(stored))["metadata"]["slug"] == "s3graph"
    served = client.get("/api/graph/gtiny/s3graph/json")
    assert served.status_code == 200 and served["Content-Encoding"] == "gzip"
    assert gzip.decompress(b"".join(served.streaming_content)) == gzip.decompress(stored)
    with django_capture_on_commit_callbacks(execute=True):
        assert (
            client.post(
                "/api/graph/delete", {"modelId": "gtiny", "slug": "s3graph"}, format="json"
            ).status_code
            == 200
        )
    assert s3_bucket.list_objects_v2(Bucket="graphs-test").get("KeyCount") == 0
