"""Real answers of the tiny model match the 200 bodies ``/api/schema/`` documents (issue 10: "every
operation documents its response body"), for /api/tokenize, /api/activation/new and
/api/search-topk-by-token (one text and a list of texts). Before, each documented an empty
schema (anything)."""

from __future__ import annotations

import jsonschema
import pytest

from neuronsite.openapi import documented_body


def _ok_schema(api_client, path: str) -> dict:
    schema = api_client.get("/api/schema/", {"format": "json"}).json()
    body = schema["paths"][path]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert body.get("type") or body.get("oneOf"), (path, body)  # a real schema, not {}
    return body


def test_tokenize_and_activation_answers_match_their_documented_bodies(api_client, tiny):
    tokenize = api_client.post("/api/tokenize", {"modelId": "tiny", "text": "The quick fox"}, format="json")
    assert tokenize.status_code == 200, tokenize.content
    jsonschema.validate(tokenize.json(), _ok_schema(api_client, "/api/tokenize"))

    activation_schema = _ok_schema(api_client, "/api/activation/new")
    feature = {"modelId": "tiny", "source": "1-res-tiny", "index": 5}
    for text in ("The quick fox", ["The quick fox", "def main(): return 42"]):
        res = api_client.post("/api/activation/new", {"feature": feature, "customText": text}, format="json")
        assert res.status_code == 200, res.content
        jsonschema.validate(res.json(), activation_schema)
    topk_schema = _ok_schema(api_client, "/api/search-topk-by-token")
    for text in ("The quick fox", ["The quick fox", "def main(): return 42"]):
        body = {"modelId": "tiny", "source": "1-res-tiny", "text": text, "numResults": 3}
        topk = api_client.post("/api/search-topk-by-token", body, format="json")
        assert topk.status_code == 200, topk.content
        jsonschema.validate(topk.json(), topk_schema)
        one = topk.json() if isinstance(text, str) else topk.json()["results"][0]
        assert any(r["topFeatures"] for r in one["results"])  # the nested items were checked too

    wrong = {**res.json()[0], "index": 5}  # the schema does say something: index is a string
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(wrong, activation_schema)


# --- helper O3 (issue 10): the rest of the inference bodies, with OpenAPI's ``nullable`` ---------


def test_search_steer_cossim_and_source_answers_match_their_documented_bodies(api_client, tiny):
    schema = api_client.get("/api/schema/", {"format": "json"}).json()
    base = {"modelId": "tiny", "sourceSet": "res-tiny", "numResults": 3}
    for text in ("The quick fox", ["The quick fox", "A tuple"]):
        r = api_client.post("/api/search-all", {**base, "text": text}, format="json")
        assert r.status_code == 200, r.content
        jsonschema.validate(r.json(), documented_body(schema, "/api/search-all"))
    saved = api_client.get(f"/api/search-all/{r.json()['results'][0]['id']}")
    assert saved.status_code == 200, saved.content
    jsonschema.validate(saved.json(), documented_body(schema, "/api/search-all/{share_id}", "get"))

    feature = {"modelId": "tiny", "layer": "1-res-tiny", "index": 3, "strength": 4}
    steer = api_client.post(
        "/api/steer", {"modelId": "tiny", "prompt": "Hi", "n_tokens": 2, "features": [feature]}, format="json"
    )
    assert steer.status_code == 200, steer.content
    jsonschema.validate(steer.json(), documented_body(schema, "/api/steer"))
    chat = api_client.post(
        "/api/steer-chat",
        {
            "modelId": "tiny",
            "defaultChatMessages": [{"role": "user", "content": "Hi"}],
            "n_tokens": 2,
            "features": [feature],
        },
        format="json",
    )
    assert chat.status_code == 200, chat.content
    jsonschema.validate(chat.json(), documented_body(schema, "/api/steer-chat"))
    stored = api_client.get(f"/api/steer/{steer.json()['id']}")
    assert stored.status_code == 200, stored.content
    jsonschema.validate(stored.json(), documented_body(schema, "/api/steer/{share_id}", "get"))

    cossim = api_client.post(
        "/api/cossim", {"modelId": "tiny", "source": "1-res-tiny", "index": 0, "numResults": 3}, format="json"
    )
    assert cossim.status_code == 200, cossim.content
    jsonschema.validate(cossim.json(), documented_body(schema, "/api/cossim"))
    source = api_client.post(
        "/api/activation/source",
        {"modelId": "tiny", "source": "1-res-tiny", "customText": "Hi there"},
        format="json",
    )
    assert source.status_code == 200, source.content
    jsonschema.validate(source.json(), documented_body(schema, "/api/activation/source"))

    wrong = {**steer.json(), "cached": "no"}  # the documented body does say something
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(wrong, documented_body(schema, "/api/steer"))
