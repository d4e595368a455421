"""The monitor's halves together (issue 15): steering specs saved on a conversation (owner or
cookie), ``conversationId`` on the steer and linter APIs, and the token positions the chat's token
strip shows being the positions the steer plan takes for prompt ranges."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

SPEC = {
    "description": "classes",
    "mode": "strengthen",
    "strength": 0.5,
    "features": [{"source": "1-res-tiny", "index": 4}],
    "positions": {"prompt": [[1, 3]], "generated": True},
}


def _new(client, **body):
    r = client.post("/api/monitor/conversation/new", {"modelId": "mtiny", **body}, format="json")
    assert r.status_code == 201, r.content
    return r.json()


def _send(client, conv_id, text="What is a class?"):
    r = client.post(
        f"/api/monitor/conversation/{conv_id}/send",
        {"content": text, "nTokens": 5, "seed": 3},
        format="json",
    )
    assert r.status_code == 200, r.content
    return r.json()["conversation"]


def test_saved_specs_create_list_toggle_delete_with_the_conversation_access_rule(mtiny, api_client):
    from monitor.models import SteeringSpec

    conv = _new(api_client)
    url = f"/api/monitor/conversation/{conv['id']}/specs"
    r = api_client.post(url, SPEC, format="json")
    assert r.status_code == 201, r.content
    spec = r.json()
    assert spec["enabled"] is True and spec["features"] == SPEC["features"]
    assert spec["positions"] == {"prompt": [[1, 3]], "generated": True}
    assert [s["id"] for s in api_client.get(url).json()["specs"]] == [spec["id"]]
    # Toggle it off; other fields are kept.
    r = api_client.patch(f"{url}/{spec['id']}", {"enabled": False}, format="json")
    assert r.status_code == 200, r.content
    assert r.json()["enabled"] is False and r.json()["strength"] == 0.5
    assert SteeringSpec.objects.get(pk=spec["id"]).enabled is False
    # Someone else (no cookie, or another cookie) sees nothing and changes nothing.
    stranger = APIClient()
    assert stranger.get(url).status_code == 404
    assert stranger.patch(f"{url}/{spec['id']}", {"enabled": True}, format="json").status_code == 404
    assert stranger.delete(f"{url}/{spec['id']}").status_code == 404
    assert stranger.post(url, SPEC, format="json").status_code == 404
    assert SteeringSpec.objects.get(pk=spec["id"]).enabled is False
    # Bad input: 400 naming the field, nothing stored or changed.
    for body, field in (
        ({**SPEC, "features": [{"source": "1-res-tiny", "index": 10_000}]}, "spec.features"),
        ({**SPEC, "strength": 7.0}, "spec.strength"),
        ({**SPEC, "positions": {"prompt": [[3, 1]], "generated": True}}, "spec.positions.prompt"),
        ({**SPEC, "positions": {"prompt": [], "generated": False}}, "spec.positions"),
        ({**SPEC, "features": []}, "features"),
    ):
        r = api_client.post(url, body, format="json")
        assert r.status_code == 400, (body, r.content)
        assert r.json()["error"].startswith(field), (field, r.json())
    # An unknown source: 404 naming it (as everywhere a source is named), nothing stored.
    r = api_client.post(url, {**SPEC, "features": [{"source": "9-nope", "index": 1}]}, format="json")
    assert r.status_code == 404 and r.json()["error"].startswith("spec.features"), r.content
    assert "9-nope" in r.json()["error"]
    r = api_client.patch(f"{url}/{spec['id']}", {"mode": "strengthen", "strength": -1}, format="json")
    assert r.status_code == 400 and r.json()["error"].startswith("spec.strength")
    assert api_client.patch(f"{url}/{spec['id']}", {}, format="json").status_code == 400
    assert SteeringSpec.objects.count() == 1
    assert SteeringSpec.objects.get(pk=spec["id"]).strength == 0.5
    assert api_client.delete(f"{url}/{spec['id']}").status_code == 204
    assert api_client.get(url).json()["specs"] == []
    assert api_client.get(f"{url}/{spec['id']}").status_code == 404


def test_token_strip_positions_are_the_steer_plans_prompt_positions(mtiny, monitor_folders, api_client):
    """The token strip renders the conversation through the chat template; the steer plan renders
    the messages before the answer with the generation prompt. Position p names the same token in
    both, and the answer starts where the steered prompt ends."""
    from transformers import AutoTokenizer

    conv = _new(api_client)
    _send(api_client, conv["id"])
    got = api_client.get(f"/api/monitor/conversation/{conv['id']}/concepts").json()
    tokens = got["tokens"]
    tok = AutoTokenizer.from_pretrained(str(monitor_folders["model"]))
    user_only = [m for m in api_client.get(f"/api/monitor/conversation/{conv['id']}").json()["messages"]][:1]
    ids = tok.apply_chat_template(user_only, add_generation_prompt=True, tokenize=True)
    ids = ids["input_ids"] if hasattr(ids, "input_ids") else ids
    n = len(ids)
    assert [t["token"] for t in tokens[:n]] == tok.convert_ids_to_tokens(ids)
    answer = [t["position"] for t in tokens if t["role"] == "assistant" and not t["special"]]
    assert answer and min(answer) == n
    # The steer API agrees on the prompt's length: a range ending at n is fine, one past it is not.
    body = {"conversationId": conv["id"], "nTokens": 3, "temperature": 0, "specs": [dict(SPEC)]}
    body["specs"][0]["positions"] = {"prompt": [[n - 1, n]], "generated": False}
    r = api_client.post("/api/monitor/steer", body, format="json")
    assert r.status_code == 200, r.content
    body["specs"][0]["positions"] = {"prompt": [[n - 1, n + 1]], "generated": False}
    r = api_client.post("/api/monitor/steer", body, format="json")
    assert r.status_code == 400 and r.json()["error"].startswith("specs[0].positions.prompt")


def test_steer_and_linter_take_a_conversation_id(mtiny, api_client, settings):
    from monitor.models import Conversation

    settings.AUTOINTERP_LLM_BASE_URL = ""
    conv = _new(api_client)
    before = _send(api_client, conv["id"])["messages"]
    url = "/api/monitor/steer"
    # No specs given and none saved: a 400 naming specs.
    r = api_client.post(url, {"conversationId": conv["id"], "nTokens": 4}, format="json")
    assert r.status_code == 400 and r.json()["error"].startswith("specs")
    saved = api_client.post(f"/api/monitor/conversation/{conv['id']}/specs", SPEC, format="json").json()
    common = {"nTokens": 4, "temperature": 0.0, "seed": 5}
    r = api_client.post(url, {"conversationId": conv["id"], **common}, format="json")
    assert r.status_code == 200, r.content
    via_conv = r.json()
    # The same as steering the messages before the answer, explicitly.
    spec = {k: saved[k] for k in ("description", "mode", "strength", "features", "positions")}
    r = api_client.post(
        url, {"modelId": "mtiny", "messages": before[:1], "specs": [spec], **common}, format="json"
    )
    assert r.status_code == 200, r.content
    assert r.json()["STEERED"] == via_conv["STEERED"] and r.json()["DEFAULT"] == via_conv["DEFAULT"]
    # Disabled saved specs are not used.
    api_client.patch(
        f"/api/monitor/conversation/{conv['id']}/specs/{saved['id']}", {"enabled": False}, format="json"
    )
    r = api_client.post(url, {"conversationId": conv["id"], **common}, format="json")
    assert r.status_code == 400 and r.json()["error"].startswith("specs")
    # Bad input: a 400 naming the field; someone else's conversation is a 404.
    for body, field in (
        ({"conversationId": conv["id"], "modelId": "other", **common}, "conversationId"),
        ({"conversationId": conv["id"], "prompt": "x", **common}, "conversationId"),
        ({"specs": [SPEC], **common}, "modelId"),
    ):
        r = api_client.post(url, body, format="json")
        assert r.status_code == 400 and r.json()["error"].startswith(field), r.content
    assert APIClient().post(url, {"conversationId": conv["id"], **common}, format="json").status_code == 404
    # The linter lints the conversation's own active concepts (explained here; named offline).
    from features.models import Explanation, Feature
    from monitor.tests.test_steer_search import bag_of_words

    settings.OPENAI_API_KEY = ""
    settings.EXPLANATION_EMBEDDER = "local"
    for f in Feature.objects.filter(source__in=mtiny["sources"]):
        text = f"{('comets', 'tides')[f.index % 2]} {('comets', 'tides')[f.index % 2]} v{f.index}"
        Explanation.objects.create(
            feature=f, description=text, embedding=bag_of_words(text), embedding_model="all-MiniLM-L6-v2"
        )
    active = api_client.get(f"/api/monitor/conversation/{conv['id']}/concepts").json()["concepts"]
    r = api_client.post("/api/monitor/linter", {"conversationId": conv["id"]}, format="json")
    assert r.status_code == 200, r.content
    clusters = r.json()["clusters"]
    linted = {(f["source"], f["index"]) for c in clusters for f in c["features"]}
    assert clusters and all(c["naming"] == "centre" for c in clusters)
    assert linted <= {(c["source"], c["index"]) for c in active}
    assert {c["name"].split()[0] for c in clusters} <= {"comets", "tides"}
    r = api_client.post(
        "/api/monitor/linter", {"concepts": [{"source": "1-res-tiny", "index": 1}]}, format="json"
    )
    assert r.status_code == 400 and r.json()["error"].startswith("modelId")
    # None of it changed the conversation.
    assert Conversation.objects.get(pk=conv["id"]).messages == before


def test_delete_a_conversation_with_its_specs(mtiny, api_client):
    from monitor.models import Conversation, SteeringSpec

    keep = _new(api_client)
    conv = _new(api_client)
    assert (
        api_client.post(f"/api/monitor/conversation/{conv['id']}/specs", SPEC, format="json").status_code
        == 201
    )
    url = f"/api/monitor/conversation/{conv['id']}"
    assert APIClient().delete(url).status_code == 404
    assert Conversation.objects.filter(pk=conv["id"]).exists()
    assert api_client.delete(url).status_code == 204
    assert api_client.get(url).status_code == 404
    assert not Conversation.objects.filter(pk=conv["id"]).exists()
    assert not SteeringSpec.objects.exists()
    assert [c["id"] for c in api_client.get("/api/monitor/conversations").json()["conversations"]] == [
        keep["id"]
    ]
    assert api_client.delete(url).status_code == 404


def test_saved_specs_keep_their_exclude_phrases(mtiny, api_client):
    conv = _new(api_client)
    url = f"/api/monitor/conversation/{conv['id']}/specs"
    r = api_client.post(url, {**SPEC, "exclude": ["dogs", " code "]}, format="json")
    assert r.status_code == 201, r.content
    spec = r.json()
    assert spec["exclude"] == ["dogs", "code"]
    r = api_client.patch(f"{url}/{spec['id']}", {"exclude": []}, format="json")
    assert r.status_code == 200 and r.json()["exclude"] == []
    r = api_client.post(url, {**SPEC, "exclude": ["x"] * 17}, format="json")
    assert r.status_code == 400 and r.json()["error"].startswith("exclude"), r.content
    assert api_client.post(url, {**SPEC}, format="json").json()["exclude"] == []
