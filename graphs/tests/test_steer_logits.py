"""POST /api/steer-logits: set-point semantics, equal to a direct circuit-tracer
``feature_intervention_generate`` at the same seed; bad input."""

from __future__ import annotations

import pytest

PROMPT = "The quick brown fox"


def _active_feature(bare_model, position: int):
    _, acts = bare_model.get_activations(PROMPT)
    index = int(acts[1, position].argmax())
    return index, float(acts[1, position, index])


def _direct(bare_model, interventions, *, n_tokens, temperature, seed):
    import torch

    torch.manual_seed(seed)
    tokens, logits, _ = bare_model.feature_intervention_generate(
        PROMPT,
        interventions,
        freeze_attention=True,
        max_new_tokens=n_tokens,
        do_sample=temperature > 0,
        temperature=temperature,
        stop_at_eos=False,
        verbose=False,
        return_type="tokens",
    )
    return tokens[0, -n_tokens:].tolist(), torch.softmax(logits, dim=-1)


@pytest.mark.parametrize(("ablate", "generated"), [(False, False), (True, False), (False, True)])
def test_steer_logits_equals_direct_intervention(graph_model, api_user, bare_model, ablate, generated):
    _, client = api_user()
    position = 3
    index, current = _active_feature(bare_model, position)
    delta = 4.0
    feature = {
        "layer": 1,
        "index": index,
        "token_active_position": position,
        "steer_position": None,
        "steer_generated_tokens": generated,
        "delta": None if ablate else delta,
        "ablate": ablate,
    }
    body = {
        "modelId": "gtiny",
        "prompt": PROMPT,
        "features": [feature],
        "nTokens": 4,
        "topK": 3,
        "temperature": 0.9,
        "seed": 7,
    }
    response = client.post("/api/steer-logits", body, format="json")
    assert response.status_code == 200, response.json()
    out = response.json()

    value = 0.0 if ablate else current + delta
    pos = slice(position, None) if generated else position
    tokens, probs = _direct(bare_model, [(1, pos, index, value)], n_tokens=4, temperature=0.9, seed=7)
    decode = bare_model.tokenizer.decode
    assert [step["token"] for step in out["STEERED_LOGITS_BY_TOKEN"]] == [decode([t]) for t in tokens]
    for step, row in zip(out["STEERED_LOGITS_BY_TOKEN"], probs, strict=True):
        top = row.topk(3)
        assert [t["token"] for t in step["top_logits"]] == [decode([int(i)]) for i in top.indices]
        assert [t["prob"] for t in step["top_logits"]] == pytest.approx(top.values.tolist(), abs=1e-5)
    assert out["STEERED_GENERATION"].startswith(PROMPT)

    # The default generation is the unsteered model at the same seed.
    import torch

    torch.manual_seed(7)
    plain = bare_model.generate(
        PROMPT,
        max_new_tokens=4,
        do_sample=True,
        temperature=0.9,
        stop_at_eos=False,
        verbose=False,
        return_type="tokens",
    )
    assert [s["token"] for s in out["DEFAULT_LOGITS_BY_TOKEN"]] == [
        decode([t]) for t in plain[0, -4:].tolist()
    ]


@pytest.mark.parametrize(
    ("feature", "status", "needle"),
    [
        ({"ablate": True, "delta": 1.0}, 400, "When ablate is True, delta must be None"),
        ({"ablate": False, "delta": None}, 400, "delta must be provided"),
        ({"token_active_position": 999}, 400, "Position is out of bounds"),
        ({"steer_position": 0}, 400, "special-token positions cannot be steered"),
        ({"layer": 9}, 400, "layer"),
        ({"index": 10_000}, 400, "index"),
        ({"layer": "x"}, 400, "layer"),
    ],
)
def test_steer_logits_bad_input(graph_model, api_user, feature, status, needle):
    _, client = api_user()
    base = {"layer": 0, "index": 1, "token_active_position": 2, "delta": 1.0, "ablate": False}
    body = {"modelId": "gtiny", "prompt": PROMPT, "features": [{**base, **feature}]}
    response = client.post("/api/steer-logits", body, format="json")
    assert response.status_code == status, response.json()
    assert needle in response.json()["error"]


def test_steer_logits_bad_request_fields(graph_model, api_user):
    _, client = api_user()
    feature = {"layer": 0, "index": 1, "token_active_position": 2, "delta": 1.0}
    for extra, needle in (
        ({"nTokens": 0}, "nTokens"),
        ({"topK": 11}, "topK"),
        ({"temperature": 3}, "temperature"),
    ):
        response = client.post(
            "/api/steer-logits",
            {"modelId": "gtiny", "prompt": PROMPT, "features": [feature], **extra},
            format="json",
        )
        assert response.status_code == 400 and needle in response.json()["error"]
    missing = client.post(
        "/api/steer-logits", {"modelId": "zzz", "prompt": "x", "features": [feature]}, format="json"
    )
    assert missing.status_code == 404


def test_set_point_is_the_activation_at_the_active_position_plus_delta(graph_model, api_user, bare_model):
    """delta 0 sets a feature to its own current value (no change); with ``steer_position`` elsewhere the
    value still comes from ``token_active_position``."""
    _, client = api_user()
    index, current = _active_feature(bare_model, 3)
    common = {"modelId": "gtiny", "prompt": PROMPT, "nTokens": 4, "topK": 2, "temperature": 0}
    still = {"layer": 1, "index": index, "token_active_position": 3, "delta": 0.0, "ablate": False}
    out = client.post("/api/steer-logits", {**common, "features": [still]}, format="json").json()
    assert out["STEERED_GENERATION"] == out["DEFAULT_GENERATION"]
    for a, b in zip(out["STEERED_LOGITS_BY_TOKEN"], out["DEFAULT_LOGITS_BY_TOKEN"], strict=True):
        assert [t["prob"] for t in a["top_logits"]] == pytest.approx(
            [t["prob"] for t in b["top_logits"]], abs=1e-5
        )

    moved = {**still, "steer_position": 2, "delta": 3.0}
    out = client.post("/api/steer-logits", {**common, "features": [moved]}, format="json").json()
    tokens, _ = _direct(bare_model, [(1, 2, index, current + 3.0)], n_tokens=4, temperature=0, seed=16)
    decode = bare_model.tokenizer.decode
    assert [s["token"] for s in out["STEERED_LOGITS_BY_TOKEN"]] == [decode([t]) for t in tokens]
