"""Steering: token-for-token against a reference written here with plain TransformerLens hooks and
``model.generate`` at the same seed; caching, sharing, SSE, chat and bad input."""

from __future__ import annotations

import pytest

from inference.tests.conftest import HOOK1

PROMPT = "The meaning of life is"


def _reference(direct, ids, *, method, vector, c, n, temperature, freq_penalty, seed):
    """What TransformerLens itself produces: generate() under a hook, after manual_seed."""
    import torch

    model = direct["model"]

    def hook(act, hook):
        if method == "SIMPLE_ADDITIVE":
            return act + c * vector
        u = vector / vector.norm()
        proj = (act @ u)[..., None] * u
        return act - proj + c * proj

    torch.manual_seed(seed)
    fwd = [(HOOK1, hook)] if vector is not None else []
    with model.hooks(fwd_hooks=fwd):
        out = model.generate(
            torch.tensor([ids]),
            max_new_tokens=n,
            temperature=temperature,
            freq_penalty=freq_penalty,
            use_past_kv_cache=True,
            verbose=False,
        )
    # PostgreSQL text cannot hold NUL: stored outputs carry U+FFFD instead.
    return model.tokenizer.decode(out[0].tolist(), skip_special_tokens=True).replace("\x00", "\ufffd")


@pytest.mark.parametrize("method", ["SIMPLE_ADDITIVE", "ORTHOGONAL_DECOMP"])
def test_steer_matches_plain_transformer_lens_reference(api_client, tiny, direct, method):
    body = {
        "modelId": "tiny",
        "prompt": PROMPT,
        "features": [{"modelId": "tiny", "layer": "1-res-tiny", "index": 9, "strength": 4.0}],
        "strength_multiplier": 2.0,
        "steer_method": method,
        "temperature": 0.8,
        "n_tokens": 12,
        "freq_penalty": 1.0,
        "seed": 5,
    }
    res = api_client.post("/api/steer", body, format="json")
    assert res.status_code == 200, res.content
    data = res.json()
    ids = direct["model"].to_tokens(PROMPT)[0].tolist()
    vec = direct["sae"]("sae1").W_dec[9].detach()
    common = {"n": 12, "temperature": 0.8, "freq_penalty": 1.0, "seed": 5}
    assert data["STEERED"] == _reference(direct, ids, method=method, vector=vec, c=8.0, **common)
    assert data["DEFAULT"] == _reference(direct, ids, method=method, vector=None, c=0, **common)
    assert data["STEERED"] != data["DEFAULT"]


def test_steer_cache_share_and_default_shared_across_feature_sets(api_client, tiny):
    from inference.models import SteerOutput

    base = {"modelId": "tiny", "prompt": PROMPT, "n_tokens": 6, "seed": 1}
    a = {**base, "features": [{"modelId": "tiny", "layer": "1-res-tiny", "index": 2, "strength": 3}]}
    b = {**base, "features": [{"modelId": "tiny", "layer": "0-res-tiny", "index": 4, "strength": 3}]}
    first = api_client.post("/api/steer", a, format="json").json()
    assert first["cached"] is False
    again = api_client.post("/api/steer", a, format="json").json()
    assert again["cached"] is True and again["id"] == first["id"] and again["STEERED"] == first["STEERED"]
    other = api_client.post("/api/steer", b, format="json").json()
    assert other["defaultId"] == first["defaultId"] and other["id"] != first["id"]
    assert SteerOutput.objects.count() == 3
    shared = api_client.get(f"/api/steer/{first['id']}").json()
    assert (shared["STEERED"], shared["DEFAULT"]) == (first["STEERED"], first["DEFAULT"])
    assert shared["prompt"] == PROMPT and shared["chat"] is None  # the share link restores the prompt
    assert api_client.get("/api/steer/999999").status_code == 404


def test_steer_chat_uses_the_chat_template(api_client, tiny, direct):
    import torch

    msgs = [{"role": "user", "content": "Tell me about lists."}]
    body = {
        "modelId": "tiny",
        "defaultChatMessages": msgs,
        "steeredChatMessages": msgs,
        "features": [{"modelId": "tiny", "layer": "1-res-tiny", "index": 1, "strength": 6}],
        "n_tokens": 6,
        "seed": 3,
        "steer_special_tokens": True,
    }
    res = api_client.post("/api/steer-chat", body, format="json")
    assert res.status_code == 200, res.content
    data = res.json()
    tok = direct["model"].tokenizer
    ids = tok.apply_chat_template(msgs, add_generation_prompt=True, tokenize=True)
    ids = list(ids["input_ids"] if hasattr(ids, "keys") else ids)
    assert ids[0] == 1 and tok.convert_ids_to_tokens(ids[-1]) == "<|assistant|>"
    vec = direct["sae"]("sae1").W_dec[1].detach()
    full = _reference(
        direct,
        ids,
        method="SIMPLE_ADDITIVE",
        vector=vec,
        c=6.0,
        n=6,
        temperature=0.5,
        freq_penalty=0.0,
        seed=3,
    )
    prompt_text = tok.decode(ids, skip_special_tokens=True).replace("\x00", "\ufffd")
    assert data["STEERED"]["raw"] == full[len(prompt_text) :]
    assert data["STEERED"]["chatTemplate"][-1] == {"role": "assistant", "content": data["STEERED"]["raw"]}
    assert torch.is_tensor(vec)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"n_tokens": 100000}, "n_tokens must be between 1 and"),
        ({"prompt": "  "}, "prompt must not be empty"),
        ({"features": [{"modelId": "tiny", "layer": "1-res-tiny", "index": 1, "strength": "NaN"}]}, "finite"),
        ({"features": [{"modelId": "tiny", "layer": "1-res-tiny", "index": 1, "strength": "inf"}]}, "finite"),
        (
            {"vectors": [{"hook": HOOK1, "steering_vector": [1.0, 2.0], "strength": 1}], "features": []},
            "dimension 2",
        ),
        (
            {
                "features": [{"modelId": "tiny", "layer": "1-res-tiny", "index": 1, "strength": 1}],
                "steer_method": "X",
            },
            "steer_method",
        ),
        ({"features": []}, "at least one feature"),
    ],
)
def test_steer_bad_input(api_client, tiny, change, message):
    from inference.models import SteerOutput

    body = {
        "modelId": "tiny",
        "prompt": PROMPT,
        "n_tokens": 4,
        "features": [{"modelId": "tiny", "layer": "1-res-tiny", "index": 1, "strength": 1}],
        **change,
    }
    res = api_client.post("/api/steer", body, format="json")
    assert res.status_code == 400, res.content
    assert message in res.json()["error"]
    assert SteerOutput.objects.count() == 0


def test_steer_unknown_and_disabled(api_client, tiny):
    body = {
        "modelId": "tiny",
        "prompt": PROMPT,
        "n_tokens": 4,
        "features": [{"modelId": "tiny", "layer": "1-res-tiny", "index": 70, "strength": 1}],
    }
    assert api_client.post("/api/steer", body, format="json").status_code == 404
    tiny["model"].inference_enabled = False
    tiny["model"].save()
    res = api_client.post("/api/steer", {**body, "features": []}, format="json")
    assert res.status_code == 409 and "disabled" in res.json()["error"]


def test_user_vector_steering(api_client, tiny, direct):
    import torch

    vec = [0.1 * ((i % 7) - 3) for i in range(32)]
    body = {
        "modelId": "tiny",
        "prompt": PROMPT,
        "n_tokens": 8,
        "seed": 2,
        "temperature": 0,
        "vectors": [{"hook": HOOK1, "steering_vector": vec, "strength": 10}],
    }
    res = api_client.post("/api/steer", body, format="json")
    assert res.status_code == 200, res.content
    ids = direct["model"].to_tokens(PROMPT)[0].tolist()
    exp = _reference(
        direct,
        ids,
        method="SIMPLE_ADDITIVE",
        vector=torch.tensor(vec),
        c=10.0,
        n=8,
        temperature=0.0,
        freq_penalty=0.0,
        seed=2,
    )
    assert res.json()["STEERED"] == exp


def test_steer_chat_can_leave_the_template_tokens_unsteered(api_client, tiny, direct):
    """``steer_special_tokens: false``: prompt positions holding special tokens (the chat
    template's markers) are not steered; every other prompt position and every generated
    token is. Reference: plain TransformerLens generate() under a hook doing exactly that."""
    import torch

    msgs = [{"role": "user", "content": "Tell me about lists."}]
    body = {
        "modelId": "tiny",
        "defaultChatMessages": msgs,
        "steeredChatMessages": msgs,
        "features": [{"modelId": "tiny", "layer": "1-res-tiny", "index": 1, "strength": 60}],
        "n_tokens": 10,
        "seed": 3,
        "steer_special_tokens": False,
    }
    data = api_client.post("/api/steer-chat", body, format="json").json()
    model, tok = direct["model"], direct["model"].tokenizer
    ids = tok.apply_chat_template(msgs, add_generation_prompt=True, tokenize=True)
    ids = list(ids["input_ids"] if hasattr(ids, "keys") else ids)
    special = set(tok.all_special_ids)
    keep = torch.tensor([i not in special for i in ids])
    assert not keep.all() and keep.any()  # the template has markers and content
    vec = direct["sae"]("sae1").W_dec[1].detach()

    def hook(act, hook):
        steered = act + 60.0 * vec
        if act.shape[1] == len(ids):  # the prompt pass; later passes are single generated tokens
            steered = torch.where(keep[None, :, None], steered, act)
        return steered

    torch.manual_seed(3)
    with model.hooks(fwd_hooks=[(HOOK1, hook)]):
        out = model.generate(
            torch.tensor([ids]), max_new_tokens=10, temperature=0.5, freq_penalty=0.0,
            use_past_kv_cache=True, verbose=False,
        )  # fmt: skip
    full = tok.decode(out[0].tolist(), skip_special_tokens=True).replace("\x00", "\ufffd")
    prompt_text = tok.decode(ids, skip_special_tokens=True).replace("\x00", "\ufffd")
    assert data["STEERED"]["raw"] == full[len(prompt_text) :]
    # and it matters here: steering the markers too gives another text
    everywhere = api_client.post(
        "/api/steer-chat", {**body, "steer_special_tokens": True}, format="json"
    ).json()
    assert everywhere["STEERED"]["raw"] != data["STEERED"]["raw"]
