"""Real answers of the tiny model match the 200 bodies ``/api/schema/`` documents (issue 10: "every
operation documents its response body"), for /api/tokenize, /api/activation/new and
/api/search-topk-by-token (one text and a list of texts). Before, each documented an empty
schema (anything)."""

from __future__ import annotations

import jsonschema
import pytest


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
