"""POST /api/explanation/generate and /new against the scripted LLM over real HTTP."""

from __future__ import annotations

import pytest

from features.models import Explanation

GEN = "/api/explanation/generate"


def _gen(client, type_name, **kw):
    body = {"modelId": "tiny", "layer": "0-res-ai", "index": 3, "explanationType": type_name, **kw}
    return client.post(GEN, body, format="json")


def test_eleuther_prompt_holds_top_activations_in_delphi_format(llm, cat_feature, signed_in):
    llm.answer = lambda messages: "Some thoughts.\n[EXPLANATION]: the word cat"
    response = _gen(signed_in, "eleuther_acts_top20")
    assert response.status_code == 200, response.json()
    exp = response.json()["explanation"]
    assert exp["description"] == "the word cat"
    assert exp["typeName"] == "eleuther_acts_top20"
    assert exp["explanationModelName"] == "scripted-explainer"
    assert exp["authorId"] == signed_in.user.pk and exp["layer"] == "0-res-ai" and exp["index"] == "3"
    prompt = llm.chat_requests()[0]["messages"][-1]["content"]
    # delphi's format: highlighted tokens above 0.3 x max, then normalised activations (0-10).
    assert "the<< cat>> sat" in prompt and 'Activations: (" cat" : 10)' in prompt
    assert "my<< cat>> ran" in prompt and 'Activations: (" cat" : 7)' in prompt
    assert prompt.count("the<< cat>> sat") == 1  # de-duplicated by text
    row = Explanation.objects.get(pk=exp["id"])
    assert (row.type.name, row.explainer_model.name, row.author_id) == (
        "eleuther_acts_top20",
        "scripted-explainer",
        signed_in.user.pk,
    )


def test_oai_and_np_prompts_and_parsing(llm, cat_feature, signed_in):
    llm.answer = lambda messages: " cats and kittens.\nmore text"
    response = _gen(signed_in, "oai_token-act-pair", explanationModelName="other-model")
    assert response.status_code == 200
    assert response.json()["explanation"]["description"] == "cats and kittens"
    assert response.json()["explanation"]["explanationModelName"] == "other-model"
    user = llm.chat_requests()[0]["messages"][-1]["content"]
    assert " cat\t10" in user and user.endswith("the main thing this neuron does is find")
    assert _gen(signed_in, "np_max-act-logits").status_code == 200
    user = llm.chat_requests()[1]["messages"][-1]["content"]
    assert "the[[ cat]] sat" in user and "' meow'" in user


def test_top_tokens_needs_no_llm(settings, cat_feature, signed_in):
    settings.OPENAI_API_KEY = ""
    settings.AUTOINTERP_EMBED_ON_WRITE = False
    response = _gen(signed_in, "top-tokens")
    assert response.status_code == 200
    assert response.json()["explanation"]["description"] == 'the token "cat" after "the"'
    assert response.json()["explanation"]["explanationModelName"] == "neuronsite-top-tokens"


def test_duplicate_type_and_model_is_refused(llm, cat_feature, signed_in):
    llm.answer = lambda messages: "[EXPLANATION]: cats"
    assert _gen(signed_in, "eleuther_acts_top20").status_code == 200
    response = _gen(signed_in, "eleuther_acts_top20")
    assert response.status_code == 400
    assert "already exists" in response.json()["error"]


@pytest.mark.parametrize(
    "failure, status, message",
    [
        ([500, 500, 500], 502, "scripted failure 500"),
        ([429, 429, 429], 502, "HTTP 429"),
        (["hang"], 502, "did not answer"),
        (["garbage"], 502, "not JSON"),
    ],
)
def test_provider_failures_give_502_and_no_row(
    llm, cat_feature, signed_in, failure, status, message, settings
):
    settings.AUTOINTERP_MAX_RETRIES = len(failure) - 1
    if failure == ["hang"]:
        settings.AUTOINTERP_TIMEOUT_S = 0.3
    llm.fail_next(*failure)
    response = _gen(signed_in, "oai_token-act-pair")
    assert response.status_code == status
    assert message in response.json()["error"]
    assert not Explanation.objects.exists()


def test_unparseable_answer_stores_nothing(llm, cat_feature, signed_in):
    llm.answer = lambda messages: "I cannot tell."
    response = _gen(signed_in, "eleuther_acts_top20")
    assert response.status_code == 502
    assert "could not be parsed" in response.json()["error"] and "I cannot tell." in response.json()["error"]
    llm.answer = lambda messages: "   \n "
    assert _gen(signed_in, "oai_token-act-pair").status_code == 502
    assert not Explanation.objects.exists()


def test_bad_input(llm, cat_feature, signed_in, make_feature, api_client):
    r = _gen(signed_in, "nonsense")
    assert r.status_code == 400 and "explanationType" in r.json()["error"] and "nonsense" in r.json()["error"]
    r = signed_in.post(
        GEN,
        {"modelId": "tiny", "layer": "0-res-ai", "index": 99, "explanationType": "top-tokens"},
        format="json",
    )
    assert r.status_code == 404 and "tiny/0-res-ai/99" in r.json()["error"]
    make_feature(source=cat_feature.source, index=4)
    r = signed_in.post(
        GEN,
        {"modelId": "tiny", "layer": "0-res-ai", "index": 4, "explanationType": "oai_token-act-pair"},
        format="json",
    )
    assert r.status_code == 400 and r.json()["error"] == "index: No activations found for this neuron"
    r = signed_in.post(GEN, {"layer": "0-res-ai", "index": 3, "explanationType": "top-tokens"}, format="json")
    assert r.status_code == 400 and "modelId" in r.json()["error"]
    from rest_framework.test import APIClient

    assert APIClient().post(GEN, {}, format="json").status_code in (401, 403)
    assert not Explanation.objects.exists()


def test_no_llm_configured_says_how(settings, cat_feature, signed_in):
    settings.OPENAI_API_KEY = ""
    r = _gen(signed_in, "oai_token-act-pair")
    assert r.status_code == 400
    assert "OPENAI_API_KEY" in r.json()["error"] and "account page" in r.json()["error"]


def test_human_explanation_and_author_delete(cat_feature, signed_in, make_user, settings):
    from rest_framework.test import APIClient

    api_client = APIClient()
    settings.AUTOINTERP_EMBED_ON_WRITE = False
    r = signed_in.post(
        "/api/explanation/new",
        {"modelId": "tiny", "layer": "0-res-ai", "index": 3, "description": "cats"},
        format="json",
    )
    assert r.status_code == 200
    exp = r.json()["explanation"]
    assert (
        exp["typeName"] == "human"
        and exp["explanationModelName"] is None
        and exp["authorId"] == signed_in.user.pk
    )
    r = signed_in.post(
        "/api/explanation/new",
        {"modelId": "tiny", "layer": "0-res-ai", "index": 3, "description": " "},
        format="json",
    )
    assert r.status_code == 400 and "description" in r.json()["error"]
    other = make_user()
    api_client.force_authenticate(other)
    assert api_client.post(f"/api/explanation/{exp['id']}/delete").status_code == 403
    assert signed_in.post(f"/api/explanation/{exp['id']}/delete").status_code == 200
    assert not Explanation.objects.exists()
