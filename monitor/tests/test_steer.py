"""Steer by description: generation with clamp / additive specs equals a plain TransformerLens hook
reference at the same seed, token for token (through the one steering loop); the spec rules
(enabled, modes, quantiles, positions) and bad input (4xx naming the field, nothing stored)."""

from __future__ import annotations

import pytest

from inference.tests.conftest import HOOK0, HOOK1, direct, tiny, tiny_folders  # noqa: F401  (fixtures)

URL = "/api/monitor/steer"
PROMPT = "The meaning of life is"


@pytest.fixture
def quantiles(tiny):  # noqa: F811
    """Top quantiles on a few features of ``1-res-tiny`` / ``0-res-tiny``."""
    from features.models import Feature

    Feature.objects.filter(source=tiny["sources"][1], index=9).update(
        activation_quantiles={"0.99": 1.0, "0.9999999": 30.0, "0.99999": 2.0}
    )
    Feature.objects.filter(source=tiny["sources"][1], index=5).update(
        activation_quantiles={"0.99": 1.5, "0.999": 2.5}
    )
    Feature.objects.filter(source=tiny["sources"][0], index=4).update(max_act_approx=4.0)
    return tiny


def _reference(direct, ids, terms, *, n, temperature, seed):  # noqa: F811
    """``model.generate`` under plain hooks: per hook point, clamp latents to a target (x + (t - a)
    W_dec[i]) or add (x + c W_dec[i]) at the given prompt positions / every generated token."""
    import torch

    model = direct["model"]
    saes = {"0-res-tiny": direct["sae"]("sae0"), "1-res-tiny": direct["sae"]("sae1")}
    hooks = {"0-res-tiny": HOOK0, "1-res-tiny": HOOK1}
    n_prompt = len(ids)

    def make(source, group):
        sae = saes[source]
        seen = {"passes": 0}

        def hook(act, hook):
            first = seen["passes"] == 0
            seen["passes"] += 1
            z = sae.encode(act)
            out = act
            for mode, index, value, prompt_positions, generated in group:
                if first:
                    mask = torch.tensor([p in prompt_positions for p in range(n_prompt)])
                else:
                    mask = torch.full((act.shape[1],), generated)
                coef = (value - z[0, :, index]) if mode == "clamp" else torch.full((act.shape[1],), value)
                out = out + (coef * mask)[None, :, None] * sae.W_dec[index]
            return out

        return hook

    by_source: dict[str, list] = {}
    for term in terms:
        by_source.setdefault(term[0], []).append(term[1:])
    fwd = [(hooks[s], make(s, g)) for s, g in by_source.items()]
    torch.manual_seed(seed)
    with torch.no_grad(), model.hooks(fwd_hooks=fwd):
        out = model.generate(
            torch.tensor([ids]),
            max_new_tokens=n,
            temperature=temperature,
            use_past_kv_cache=True,
            verbose=False,
        )
    return model.tokenizer.decode(out[0].tolist(), skip_special_tokens=True).replace("\x00", "\ufffd")


def test_clamped_generation_equals_plain_hook_reference(api_client, quantiles, direct):  # noqa: F811
    ids = direct["model"].to_tokens(PROMPT)[0].tolist()
    specs = [
        {  # strengthen to 0.75 x the 0.9999999 quantile (30), prompt tokens 1-2 and generated
            "description": "meaning",
            "mode": "strengthen",
            "features": [{"source": "1-res-tiny", "index": 9}],
            "positions": {"prompt": [[1, 3]], "generated": True},
        },
        {  # suppress a layer-0 latent on generated tokens only
            "mode": "suppress",
            "features": [{"source": "0-res-tiny", "index": 4}],
            "positions": {"generated": True},
        },
        {  # Neuronpedia's additive mode over the whole prompt, not on generated tokens
            "mode": "add",
            "strength": 3.0,
            "features": [{"source": "1-res-tiny", "index": 2}],
            "positions": {"prompt": "all", "generated": False},
        },
        {  # disabled: would wreck the output if applied
            "mode": "add",
            "strength": 500.0,
            "features": [{"source": "1-res-tiny", "index": 7}],
            "enabled": False,
        },
    ]
    body = {"modelId": "tiny", "prompt": PROMPT, "specs": specs, "nTokens": 12, "temperature": 0.8, "seed": 5}
    res = api_client.post(URL, body, format="json")
    assert res.status_code == 200, res.content
    data = res.json()
    terms = [
        ("1-res-tiny", "clamp", 9, 0.75 * 30.0, {1, 2}, True),
        ("0-res-tiny", "clamp", 4, 0.0, set(), True),
        ("1-res-tiny", "add", 2, 3.0, set(range(len(ids))), False),
    ]
    common = {"n": 12, "temperature": 0.8, "seed": 5}
    assert data["STEERED"] == _reference(direct, ids, terms, **common)
    assert data["DEFAULT"] == _reference(direct, ids, [], **common)
    assert data["STEERED"] != data["DEFAULT"]
    assert [f["clamp"]["value"] for f in data["features"]] == [22.5, 0.0, 3.0]
    again = api_client.post(URL, body, format="json").json()
    assert again["cached"] is True and again["STEERED"] == data["STEERED"]


def test_strengthen_falls_back_to_the_highest_stored_quantile_then_max_activation(
    api_client,
    quantiles,
    direct,  # noqa: F811
):
    ids = direct["model"].to_tokens(PROMPT)[0].tolist()
    specs = [
        {"mode": "strengthen", "strength": 1.0, "features": [{"source": "1-res-tiny", "index": 5}]},
        {"mode": "strengthen", "strength": 0.5, "features": [{"source": "0-res-tiny", "index": 4}]},
    ]
    body = {"modelId": "tiny", "prompt": PROMPT, "specs": specs, "nTokens": 8, "temperature": 0.0, "seed": 1}
    res = api_client.post(URL, body, format="json")
    assert res.status_code == 200, res.content
    data = res.json()
    assert [f["clamp"]["value"] for f in data["features"]] == [2.5, 2.0]  # 0.999 quantile; 0.5 x max act
    terms = [("1-res-tiny", "clamp", 5, 2.5, set(), True), ("0-res-tiny", "clamp", 4, 2.0, set(), True)]
    assert data["STEERED"] == _reference(direct, ids, terms, n=8, temperature=0.0, seed=1)


def test_chat_messages_steer_the_reply(api_client, quantiles):
    body = {
        "modelId": "tiny",
        "messages": [{"role": "user", "content": "hello there"}],
        "specs": [{"mode": "add", "strength": 8.0, "features": [{"source": "1-res-tiny", "index": 9}]}],
        "nTokens": 6,
        "temperature": 0.0,
    }
    res = api_client.post(URL, body, format="json")
    assert res.status_code == 200, res.content
    data = res.json()
    assert data["chat"] == body["messages"] and data["prompt"] is None
    assert data["STEERED"]["chatTemplate"][-1]["role"] == "assistant"
    assert data["STEERED"]["raw"] != data["DEFAULT"]["raw"]


def test_unknown_source_in_a_spec_is_404_naming_it_and_stores_nothing(api_client, quantiles):
    from inference.models import SteerOutput

    specs = [_spec(), _spec(features=[{"source": "7-nope", "index": 1}])]
    res = api_client.post(
        URL, {"modelId": "tiny", "prompt": PROMPT, "specs": specs, "nTokens": 4}, format="json"
    )
    assert res.status_code == 404, res.content
    assert res.json()["error"].startswith("specs[1].features") and "7-nope" in res.json()["error"]
    assert SteerOutput.objects.count() == 0


def _spec(**kw):
    return {"mode": "suppress", "features": [{"source": "1-res-tiny", "index": 9}], **kw}


@pytest.mark.parametrize(
    "change,field",
    [
        ({"specs": [_spec(positions={"prompt": [[2, 99]]})]}, "specs[0].positions.prompt"),
        ({"specs": [_spec(positions={"prompt": [[3, 3]]})]}, "specs[0].positions.prompt"),
        ({"specs": [_spec(positions={"prompt": [], "generated": False})]}, "specs[0].positions"),
        ({"specs": [_spec(mode="strengthen", strength=1.5)]}, "specs[0].strength"),
        ({"specs": [_spec(features=[{"source": "1-res-tiny", "index": 64}])]}, "specs[0].features"),
        (
            {"specs": [_spec(mode="strengthen", features=[{"source": "1-res-tiny", "index": 3}])]},
            "specs[0].features",
        ),
        ({"specs": [_spec(features=[])]}, "specs"),
        ({"specs": [_spec(enabled=False)]}, "specs"),
        ({"specs": []}, "specs"),
        ({"messages": [{"role": "user", "content": "hi"}]}, "prompt"),
        ({"nTokens": 0}, "nTokens"),
        ({"temperature": -1}, "temperature"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_stores_nothing(api_client, quantiles, change, field):
    from inference.models import SteerOutput

    body = {"modelId": "tiny", "prompt": PROMPT, "specs": [_spec()], "nTokens": 4, **change}
    res = api_client.post(URL, body, format="json")
    assert res.status_code == 400, res.content
    assert res.json()["error"].startswith(field), res.json()
    assert SteerOutput.objects.count() == 0


def test_unknown_or_private_model_is_404(api_client, quantiles):
    from models_app.models import Model
    from neuronsite.fields import Visibility

    Model.objects.filter(name="tiny").update(visibility=Visibility.PRIVATE)
    res = api_client.post(URL, {"modelId": "tiny", "prompt": PROMPT, "specs": [_spec()]}, format="json")
    assert res.status_code == 404
