"""POST /api/activation/new: fidelity against sae_lens + TransformerLens used directly, and errors."""

from __future__ import annotations

import pytest

from inference.tests.conftest import HOOK1

TEXTS = ["The quick brown fox jumps over the lazy dog.", "def main():\n    return 42"]


def _direct(direct, sae_name, hook, index, text):
    import torch

    model, sae = direct["model"], direct["sae"](sae_name)
    with torch.no_grad():
        _, cache = model.run_with_cache(text)
        acts = sae.encode(cache[hook])[0, :, index]
    ids = model.to_tokens(text)[0].tolist()
    return model.tokenizer.convert_ids_to_tokens(ids[1:]), acts[1:].tolist()


@pytest.mark.parametrize(
    ("source_key", "sae_name"), [("res", "sae1"), ("topk", "topk1"), ("jumprelu", "jumprelu1")]
)
def test_activations_equal_sae_encode_on_run_with_cache(api_client, tiny, direct, source_key, sae_name):
    source = tiny["sources"][1] if source_key == "res" else tiny[source_key]
    for index in (0, 5, 17):
        res = api_client.post(
            "/api/activation/new",
            {"feature": {"modelId": "tiny", "source": source.name, "index": index}, "customText": TEXTS[0]},
            format="json",
        )
        assert res.status_code == 200, res.content
        body = res.json()
        tokens, values = _direct(direct, sae_name, HOOK1, index, TEXTS[0])
        assert body["tokens"] == tokens  # BOS dropped
        assert len(body["values"]) == len(values)
        assert max(abs(a - b) for a, b in zip(body["values"], values, strict=True)) <= 1e-5
        assert body["maxValue"] == max(body["values"])
        assert body["maxValueTokenIndex"] == body["values"].index(body["maxValue"])
        assert (body["modelId"], body["layer"], body["index"]) == ("tiny", source.name, str(index))


def test_list_of_texts_and_user_vector(api_client, tiny, direct):
    import torch

    from features.models import Feature

    vec = [((i * 7) % 5 - 2) / 3 for i in range(32)]
    Feature.objects.filter(source=tiny["sources"][1], index=3).update(
        has_vector=True, vector=vec, hook_name=HOOK1
    )
    res = api_client.post(
        "/api/activation/new",
        {"feature": {"modelId": "tiny", "source": "1-res-tiny", "index": 3}, "customText": TEXTS},
        format="json",
    )
    assert res.status_code == 200, res.content
    assert [len(r["tokens"]) for r in res.json()] == [len(direct["model"].to_tokens(t)[0]) - 1 for t in TEXTS]
    with torch.no_grad():
        _, cache = direct["model"].run_with_cache(TEXTS[1])
        expected = (cache[HOOK1][0] @ torch.tensor(vec))[1:].tolist()
    got = res.json()[1]["values"]
    assert max(abs(a - b) for a, b in zip(got, expected, strict=True)) <= 1e-5


def test_activation_errors(api_client, tiny, settings):
    def post(feature, text="hello"):
        return api_client.post("/api/activation/new", {"feature": feature, "customText": text}, format="json")

    ok = {"modelId": "tiny", "source": "1-res-tiny", "index": 1}
    assert post({**ok, "modelId": "nope"}).status_code == 404
    r = post({**ok, "source": "9-res-tiny"})
    assert r.status_code == 404 and "9-res-tiny" in r.json()["error"]
    assert post({**ok, "index": 64}).status_code == 404
    r = post(ok, "   ")
    assert r.status_code == 400 and "empty" in r.json()["error"]
    settings.INFERENCE_TOKEN_LIMIT = 5
    r = post(ok, "a b c d e f g h i j k")
    assert r.status_code == 400 and "limit is 5 tokens" in r.json()["error"]
    settings.INFERENCE_TOKEN_LIMIT = 200
    tiny["model"].inference_enabled = False
    tiny["model"].save()
    r = post(ok)  # a state of the model, not a fault of the request: 409 (issue 10)
    assert r.status_code == 409 and "disabled" in r.json()["error"]


def test_tokenize(api_client, tiny, direct):
    r = api_client.post("/api/tokenize", {"modelId": "tiny", "text": "Hello world"}, format="json")
    assert r.status_code == 200
    assert r.json()["tokens"] == direct["model"].to_tokens("Hello world")[0].tolist()
    assert r.json()["tokenStrings"][0] == "<|endoftext|>"
