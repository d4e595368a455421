"""Issue 11 semantics of the inference API: ``POST /api/activation/source``, ``text`` as a list in
search-all and top-k by token, and ``densityThreshold`` -1 / 0 (DRF client on the URLs)."""

from __future__ import annotations

import json

import pytest

from models_app.models import Source

TEXT = "Lists are mutable sequences, typically used to store collections."
TEXTS = [TEXT, "A tuple is immutable."]


def test_activation_source_matches_activation_new(api_client, tiny):
    body = {"modelId": "tiny", "source": "1-res-tiny", "customText": TEXT}
    r = api_client.post("/api/activation/source", body, format="json")
    assert r.status_code == 200, r.content
    (result,) = r.json()["results"]
    active = result["activeFeatures"]
    assert active and all(pos > 0 and value > 0 for pairs in active.values() for pos, value in pairs)
    for index in (0, 5, 17):
        new = api_client.post(
            "/api/activation/new",
            {"feature": {"modelId": "tiny", "source": "1-res-tiny", "index": index}, "customText": TEXT},
            format="json",
        ).json()
        assert len(result["tokens"]) == len(new["values"]) + 1  # BOS kept in tokens here
        sparse = {pos: value for pos, value in active.get(str(index), [])}
        dense = [sparse.get(pos, 0.0) for pos in range(1, len(result["tokens"]))]
        assert dense == pytest.approx([max(v, 0.0) for v in new["values"]], abs=1e-5)
    r = api_client.post("/api/activation/source/", {**body, "customText": TEXTS}, format="json")
    assert [x["tokens"] for x in r.json()["results"]][0] == result["tokens"] and len(r.json()["results"]) == 2


@pytest.mark.parametrize(
    "change, status, word",
    [
        ({"source": "7-res-tiny"}, 404, "7-res-tiny"),
        ({"modelId": "nope"}, 404, "nope"),
        ({"customText": ""}, 400, "empty"),
        ({"customText": []}, 400, "customText"),
        ({"customText": [TEXT, 3]}, 400, "customText"),
        ({"customText": [TEXT] * 65}, 400, "64"),
    ],
)
def test_activation_source_bad_input(api_client, tiny, change, status, word):
    body = {"modelId": "tiny", "source": "1-res-tiny", "customText": TEXT, **change}
    r = api_client.post("/api/activation/source", body, format="json")
    assert r.status_code == status, r.content
    assert word in r.json()["error"]


def test_activation_source_without_sae_is_409(api_client, tiny):
    Source.objects.filter(name="0-res-tiny").update(local_path="")
    r = api_client.post(
        "/api/activation/source",
        {"modelId": "tiny", "source": "0-res-tiny", "customText": TEXT},
        format="json",
    )
    # a state of the data (the source has no SAE weights), answered 409 like inference switched off
    assert r.status_code == 409 and "no SAE" in r.json()["error"]


def test_search_all_text_list_is_one_result_per_text(api_client, tiny):
    base = {"modelId": "tiny", "sourceSet": "res-tiny", "numResults": 5}
    singles = [api_client.post("/api/search-all", {**base, "text": t}, format="json").json() for t in TEXTS]
    r = api_client.post("/api/search-all/", {**base, "text": TEXTS, "densityThreshold": -1}, format="json")
    assert r.status_code == 200, r.content
    results = r.json()["results"]
    assert [x["tokens"] for x in results] == [s["tokens"] for s in singles]
    assert [[(y["layer"], y["index"]) for y in x["result"]] for x in results] == [
        [(y["layer"], y["index"]) for y in s["result"]] for s in singles
    ]


def _picks(body) -> list:
    return [(r["position"], [f["featureIndex"] for f in r["topFeatures"]]) for r in body["results"]]


def test_topk_by_token_text_list_and_zero_threshold(api_client, tiny):
    from features.models import Feature

    base = {"modelId": "tiny", "source": "1-res-tiny", "numResults": 3}
    single = api_client.post("/api/search-topk-by-token", {**base, "text": TEXT}, format="json").json()
    top = next(f["featureIndex"] for r in single["results"] for f in r["topFeatures"])
    Feature.objects.filter(source__name="1-res-tiny").update(frac_nonzero=0.01)
    Feature.objects.filter(source__name="1-res-tiny", index=top).update(frac_nonzero=0.5)
    for threshold in (0, -1, None):
        again = api_client.post(
            "/api/search-topk-by-token", {**base, "text": TEXT, "densityThreshold": threshold}, format="json"
        ).json()
        assert _picks(again) == _picks(single)
    tight = api_client.post(
        "/api/search-topk-by-token", {**base, "text": TEXT, "densityThreshold": 0.1}, format="json"
    ).json()
    assert top not in {f["featureIndex"] for r in tight["results"] for f in r["topFeatures"]}
    batch = api_client.post("/api/search-topk-by-token/", {**base, "text": TEXTS}, format="json").json()
    assert [x["tokens"] for x in batch["results"]][0] == single["tokens"] and len(batch["results"]) == 2
    assert _picks(batch["results"][0]) == _picks(single)


@pytest.mark.parametrize("threshold", [-2, -0.5, 1.5, "x"])
@pytest.mark.parametrize("path", ["/api/search-all", "/api/search-topk-by-token"])
def test_bad_density_thresholds_are_400(api_client, tiny, path, threshold):
    body = {
        "modelId": "tiny",
        "sourceSet": "res-tiny",
        "source": "1-res-tiny",
        "text": TEXT,
        "densityThreshold": threshold,
    }
    r = api_client.post(path, body, format="json")
    assert r.status_code == 400 and "densityThreshold" in r.json()["error"]


@pytest.mark.parametrize("text", [[], [TEXT, None], [TEXT] * 65, 7])
def test_bad_text_lists_are_400(api_client, tiny, text):
    body = {"modelId": "tiny", "sourceSet": "res-tiny", "text": text}
    r = api_client.post("/api/search-all", body, format="json")
    assert r.status_code == 400 and "text" in r.json()["error"]


@pytest.mark.parametrize("bad", ["a\x00b", "a\ud800b"])
@pytest.mark.parametrize("as_list", [False, True])
def test_text_with_nul_or_lone_surrogate_is_400(api_client, tiny, bad, as_list):
    text = [TEXT, bad] if as_list else bad
    for path, body in (
        ("/api/search-all", {"modelId": "tiny", "sourceSet": "res-tiny", "text": text}),
        ("/api/search-topk-by-token", {"modelId": "tiny", "source": "1-res-tiny", "text": text}),
        ("/api/activation/source", {"modelId": "tiny", "source": "1-res-tiny", "customText": text}),
    ):
        # json.dumps escapes the surrogate as \ud800, as a client would send it.
        r = api_client.post(path, json.dumps(body), content_type="application/json")
        # Refused as a field (our check) or as a body (a JSON parser that rejects lone surrogates
        # is just as right): a JSON 400, never a 500.
        assert r.status_code == 400, (path, r.content)
        error = r.json()["error"].lower()
        assert "text" in error or "json" in error
