"""The monitor API's real answers (tiny instruct model) match the 200/201 bodies ``/api/schema/``
documents (issue 10: every operation documents its response body; before, each said ``{}``)."""

from __future__ import annotations

import jsonschema
import pytest

from neuronsite.openapi import documented_body

pytestmark = pytest.mark.django_db

SPEC = {
    "description": "classes",
    "mode": "strengthen",
    "strength": 0.5,
    "features": [{"source": "1-res-tiny", "index": 4}],
    "positions": {"prompt": [[1, 3]], "generated": True},
}


def test_monitor_answers_match_their_documented_bodies(mtiny, api_client):
    schema = api_client.get("/api/schema/", {"format": "json"}).json()
    conv_path = "/api/monitor/conversation/{conversation_id}"

    def check(response, path, method="post", code=200):
        assert response.status_code == code, response.content
        jsonschema.validate(response.json(), documented_body(schema, path, method, str(code)))
        return response.json()

    conv = check(
        api_client.post("/api/monitor/conversation/new", {"modelId": "mtiny"}, format="json"),
        "/api/monitor/conversation/new",
        code=201,
    )
    url = f"/api/monitor/conversation/{conv['id']}"
    check(api_client.get(url), conv_path, "get")
    check(api_client.get("/api/monitor/conversations"), "/api/monitor/conversations", "get")
    sent = check(
        api_client.post(f"{url}/send", {"content": "Tell me", "nTokens": 4, "seed": 1}, format="json"),
        f"{conv_path}/send",
    )
    check(api_client.get(f"{url}/concepts"), f"{conv_path}/concepts", "get")
    answer = [
        t["position"] for t in sent["concepts"]["tokens"] if t["role"] == "assistant" and not t["special"]
    ]
    check(
        api_client.post(f"{url}/attribution", {"position": answer[-1], "topK": 3}, format="json"),
        f"{conv_path}/attribution",
    )
    spec = check(api_client.post(f"{url}/specs", SPEC, format="json"), f"{conv_path}/specs", code=201)
    check(api_client.get(f"{url}/specs"), f"{conv_path}/specs", "get")
    spec_path = f"{conv_path}/specs/{{spec_id}}"
    check(api_client.get(f"{url}/specs/{spec['id']}"), spec_path, "get")
    check(
        api_client.patch(f"{url}/specs/{spec['id']}", {"enabled": False}, format="json"), spec_path, "patch"
    )
    check(api_client.post(f"{url}/clear", {}, format="json"), f"{conv_path}/clear")
    assert api_client.delete(f"{url}/specs/{spec['id']}").status_code == 204
    assert api_client.delete(url).status_code == 204
