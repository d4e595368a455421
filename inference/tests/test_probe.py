"""Odd values in every field of every inference endpoint: a 4xx JSON answer (or a 200), never a 5xx."""

from __future__ import annotations

import json

import pytest

FEATURE = {"modelId": "tiny", "layer": "1-res-tiny", "index": 3, "strength": 4}
ODD = [None, 2**70, 1e308, "\u00b2", "ab\ud800", [], {"a": [1]}]
BASES = {
    "/api/activation/new": {
        "feature": {"modelId": "tiny", "source": "1-res-tiny", "index": 1},
        "customText": "hi",
    },
    "/api/search-all": {"modelId": "tiny", "sourceSet": "res-tiny", "text": "hi", "numResults": 3},
    "/api/search-topk-by-token": {"modelId": "tiny", "source": "1-res-tiny", "text": "hi"},
    "/api/cossim": {"modelId": "tiny", "source": "1-res-tiny", "index": 1},
    "/api/tokenize": {"modelId": "tiny", "text": "hi"},
    "/api/steer": {"modelId": "tiny", "prompt": "hi", "n_tokens": 1, "features": [FEATURE]},
    "/api/steer-chat": {
        "modelId": "tiny",
        "defaultChatMessages": [{"role": "user", "content": "hi"}],
        "n_tokens": 1,
        "features": [FEATURE],
    },
}
NESTED = {
    "/api/activation/new": [("feature", k) for k in ("modelId", "source", "index")],
    "/api/steer": [("features", k) for k in ("modelId", "layer", "index", "strength")],
}


EXTRA = {
    "/api/search-all": ["selectedLayers", "sortIndexes", "densityThreshold", "ignoreBos"],
    "/api/search-topk-by-token": ["densityThreshold", "numResults"],
    "/api/cossim": ["targetSource", "numResults"],
    "/api/tokenize": ["prependBos"],
    "/api/steer": ["vectors", "temperature", "freq_penalty", "seed", "strength_multiplier", "steer_method"],
    "/api/steer-chat": ["steeredChatMessages", "steer_special_tokens"],
}


def _cases(path):
    for field in [*BASES[path], *EXTRA.get(path, [])]:
        yield (field,)
    yield from NESTED.get(path, [])


def _with(base: dict, where: tuple, value) -> dict:
    body = json.loads(json.dumps(base))
    if len(where) == 1:
        body[where[0]] = value
    elif isinstance(body[where[0]], list):
        body[where[0]][0][where[1]] = value
    else:
        body[where[0]][where[1]] = value
    return body


@pytest.mark.parametrize("path", sorted(BASES))
def test_odd_values_never_answer_5xx(api_client, tiny, path):
    failures = []
    for where in _cases(path):
        for value in ODD:
            body = _with(BASES[path], where, value)
            res = api_client.post(path, data=json.dumps(body), content_type="application/json")
            if res.status_code >= 500 or res["Content-Type"] != "application/json":
                failures.append((where, value, res.status_code, res.content[:200]))
            elif res.status_code >= 400:
                assert res.json()["error"]
    assert not failures
