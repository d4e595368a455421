"""Issue 10 for the inference endpoints: every bad input is a 4xx JSON ``{"error": ...}`` naming
what is wrong, never a 500, and nothing is stored. One test per class: text past the model's context
(1), sources without SAE weights (2), numbers that overflow float32 arithmetic (3), text the
tokenizer or the database cannot take (4)."""

from __future__ import annotations

import pytest

from inference.tests.conftest import HOOK1

PROMPT = "The meaning of life is"
FEATURE = {"modelId": "tiny", "layer": "1-res-tiny", "index": 3, "strength": 4}
LONG = " ".join(["word"] * 400)  # far more than the tiny model's context of 256 tokens


def _stored():
    from inference.models import SavedSearch, SteerOutput

    return SteerOutput.objects.count() + SavedSearch.objects.count()


def _bad(res, *needles, status=400):
    assert res.status_code == status, (res.status_code, res.content)
    error = res.json()["error"]
    for needle in needles:
        assert needle in error, error
    return res.json()


REQUESTS = {
    "activation": (
        "/api/activation/new",
        {"feature": {"modelId": "tiny", "source": "1-res-tiny", "index": 1}},
        "customText",
    ),
    "search-all": ("/api/search-all", {"modelId": "tiny", "sourceSet": "res-tiny"}, "text"),
    "topk": ("/api/search-topk-by-token", {"modelId": "tiny", "source": "1-res-tiny"}, "text"),
    "tokenize": ("/api/tokenize", {"modelId": "tiny"}, "text"),
    "steer": ("/api/steer", {"modelId": "tiny", "n_tokens": 2, "features": [FEATURE]}, "prompt"),
}


@pytest.mark.parametrize("name", sorted(REQUESTS))
def test_text_longer_than_the_models_context_is_a_400_naming_the_limit(api_client, tiny, settings, name):
    settings.INFERENCE_TOKEN_LIMIT = 10_000  # the model's context (256) is the smaller limit
    path, body, field = REQUESTS[name]
    answer = _bad(api_client.post(path, {**body, field: LONG}, format="json"), "limit is 256 tokens")
    assert answer["tokenLimit"] == 256
    settings.INFERENCE_TOKEN_LIMIT = 8  # now the setting is the smaller one
    _bad(api_client.post(path, {**body, field: LONG}, format="json"), "limit is 8 tokens")
    assert _stored() == 0


def test_chat_longer_than_the_models_context_is_a_400(api_client, tiny, settings):
    settings.INFERENCE_TOKEN_LIMIT = 10_000
    msgs = [{"role": "user", "content": LONG}]
    body = {"modelId": "tiny", "defaultChatMessages": msgs, "n_tokens": 2, "features": [FEATURE]}
    _bad(api_client.post("/api/steer-chat", body, format="json"), "Chat is", "limit is 256 tokens")
    assert _stored() == 0


def test_tokenize_tells_the_token_limit(api_client, tiny, settings):
    settings.INFERENCE_TOKEN_LIMIT = 10_000
    assert (
        api_client.post("/api/tokenize", {"modelId": "tiny", "text": "hi"}, format="json").json()[
            "tokenLimit"
        ]
        == 256
    )
    settings.INFERENCE_TOKEN_LIMIT = 100
    assert (
        api_client.post("/api/tokenize", {"modelId": "tiny", "text": "hi"}, format="json").json()[
            "tokenLimit"
        ]
        == 100
    )


def test_token_limit_selector_for_pages_agrees_with_the_engine(tiny, settings):
    from inference.selectors import token_limit

    settings.INFERENCE_TOKEN_LIMIT = 10_000
    assert token_limit(model=tiny["model"]) == 256  # from the folder's config.json, no torch
    settings.INFERENCE_TOKEN_LIMIT = 100
    assert token_limit(model=tiny["model"]) == 100


def test_sources_without_sae_weights_are_refused(api_client, tiny, make_user, tmp_path):
    from models_app.models import Source

    api_client.force_authenticate(make_user())
    vector = {
        "modelId": "tiny",
        "layerNumber": 1,
        "hookType": "hook_resid_pre",
        "vector": [0.5] * 32,
        "vectorLabel": "v",
    }
    res = api_client.post("/api/vector/new", vector, format="json")
    assert res.status_code == 200, res.content
    source = res.json()["vector"]["source"]
    _bad(
        api_client.post("/api/cossim", {"modelId": "tiny", "source": source, "index": 0}, format="json"),
        "no SAE weights",
        status=409,  # a state of the source, not a fault of the request (issue 10)
    )
    _bad(
        api_client.post(
            "/api/cossim",
            {"modelId": "tiny", "source": "1-res-tiny", "index": 0, "targetSource": source},
            format="json",
        ),
        "no SAE weights",
        status=409,  # a state of the source, not a fault of the request (issue 10)
    )
    _bad(
        api_client.post(
            "/api/search-topk-by-token", {"modelId": "tiny", "source": source, "text": "hi"}, format="json"
        ),
        "no SAE weights",
        status=409,  # a state of the source, not a fault of the request (issue 10)
    )
    body = {"modelId": "tiny", "sourceSet": "res-tiny", "text": "hi", "selectedLayers": [source]}
    assert api_client.post("/api/search-all", body, format="json").status_code in (400, 404)
    # the vector itself still works where a vector makes sense
    res = api_client.post(
        "/api/activation/new",
        {"feature": {"modelId": "tiny", "source": source, "index": 0}, "customText": "hi"},
        format="json",
    )
    assert res.status_code == 200, res.content
    # an SAE folder that is gone: the loader's error is a 409 (a state of the stored source, not
    # of the request) naming the source, not a 500
    Source.objects.filter(name="0-res-tiny").update(local_path=str(tmp_path / "gone"))
    _bad(
        api_client.post(
            "/api/cossim", {"modelId": "tiny", "source": "0-res-tiny", "index": 0}, format="json"
        ),
        "0-res-tiny",
        status=409,
    )


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"features": [{**FEATURE, "strength": 1e308}]}, "strength"),
        ({"features": [{**FEATURE, "strength": 10**400}]}, "strength"),
        ({"strength_multiplier": 1e38}, "strength_multiplier"),
        ({"freq_penalty": 1e308}, "freq_penalty"),
        ({"temperature": 1e30}, "temperature"),
        ({"temperature": 1e-40}, "temperature"),  # logits / temperature overflow when sampling
        ({"seed": 2**64}, "seed"),
        ({"seed": 2**70}, "seed"),
        ({"seed": -(2**63) - 1}, "seed"),
        (
            {"features": [], "vectors": [{"hook": HOOK1, "steering_vector": [1e39] * 32, "strength": 1}]},
            "steering_vector",
        ),
        # finite inputs whose product overflows float32 inside the model
        (
            {"features": [], "vectors": [{"hook": HOOK1, "steering_vector": [1e38] * 32, "strength": 1}]},
            "non-finite",
        ),
        (
            {
                "features": [],
                "vectors": [{"hook": HOOK1, "steering_vector": [1e30] * 32, "strength": 1e6}],
                "strength_multiplier": 1e6,
            },
            "overflows",
        ),
    ],
)
def test_steering_numbers_that_overflow_are_a_400(api_client, tiny, change, needle):
    body = {"modelId": "tiny", "prompt": PROMPT, "n_tokens": 3, "features": [FEATURE], **change}
    _bad(api_client.post("/api/steer", body, format="json"), needle)
    assert _stored() == 0


def test_seed_at_the_edges_of_64_bits_works(api_client, tiny):
    for seed in (2**64 - 1, -(2**63)):
        body = {"modelId": "tiny", "prompt": PROMPT, "n_tokens": 2, "features": [FEATURE], "seed": seed}
        assert api_client.post("/api/steer", body, format="json").status_code == 200


def test_stored_vector_with_huge_values_is_a_400_not_a_500(api_client, tiny):
    from features.models import Feature

    Feature.objects.filter(source=tiny["sources"][1], index=3).update(
        has_vector=True, vector=[1e38] * 32, hook_name=HOOK1
    )
    res = api_client.post(
        "/api/activation/new",
        {"feature": {"modelId": "tiny", "source": "1-res-tiny", "index": 3}, "customText": "hello world"},
        format="json",
    )
    _bad(res, "not finite")
    Feature.objects.filter(source=tiny["sources"][1], index=3).update(vector=[3e38] * 32)
    res = api_client.post(
        "/api/steer",
        {"modelId": "tiny", "prompt": PROMPT, "n_tokens": 2, "features": [FEATURE]},
        format="json",
    )
    _bad(res, "overflows")
    assert _stored() == 0


LONE = "ab\ud800cd"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (
            "/api/activation/new",
            {"feature": {"modelId": "tiny", "source": "1-res-tiny", "index": 1}, "customText": LONE},
        ),
        (
            "/api/activation/new",
            {"feature": {"modelId": "tiny", "source": "1-res-tiny", "index": 1}, "customText": ["ok", LONE]},
        ),
        (
            "/api/activation/new",
            {"feature": {"modelId": "tiny", "source": "1-res-tiny", "index": 1}, "customText": "a\x00b"},
        ),
        ("/api/search-all", {"modelId": "tiny", "sourceSet": "res-tiny", "text": LONE}),
        ("/api/search-all", {"modelId": "tiny", "sourceSet": "res-tiny", "text": "a\x00b"}),
        ("/api/search-topk-by-token", {"modelId": "tiny", "source": "1-res-tiny", "text": LONE}),
        ("/api/tokenize", {"modelId": "tiny", "text": LONE}),
        ("/api/steer", {"modelId": "tiny", "prompt": LONE, "n_tokens": 2, "features": [FEATURE]}),
        ("/api/steer", {"modelId": "tiny", "prompt": "a\x00b", "n_tokens": 2, "features": [FEATURE]}),
        (
            "/api/steer-chat",
            {
                "modelId": "tiny",
                "defaultChatMessages": [{"role": "user", "content": LONE}],
                "n_tokens": 2,
                "features": [FEATURE],
            },
        ),
        (
            "/api/steer-chat",
            {
                "modelId": "tiny",
                "defaultChatMessages": [{"role": "user", "content": "a\x00b"}],
                "n_tokens": 2,
                "features": [FEATURE],
            },
        ),
    ],
)
def test_lone_surrogates_and_nul_in_inference_text_are_a_400(api_client, tiny, path, body):
    import json

    # json.dumps escapes the lone surrogate as \ud800: valid JSON that decodes to invalid Unicode
    res = api_client.post(path, data=json.dumps(body), content_type="application/json")
    assert res.status_code == 400, (res.status_code, res.content)
    assert res.json()["error"]
    assert _stored() == 0


def test_openapi_states_the_steering_bounds(api_client, db):
    schema = api_client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    schemas = schema["components"]["schemas"]
    props = schemas.get("SteerCompletionInputRequest", schemas.get("SteerCompletionInput"))["properties"]
    assert (props["temperature"]["minimum"], props["temperature"]["maximum"]) == (0, 10)
    assert props["seed"]["type"] == "integer" and props["seed"]["maximum"] == 2**64 - 1
    assert props["strength_multiplier"]["maximum"] == 1e6
