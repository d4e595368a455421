"""The monitor's REST API on a tiny real instruct model: conversations, chat, concepts, attribution,
and the bad input of issue 15 (clear 4xx, conversation unchanged)."""

from __future__ import annotations

import pytest

from monitor.tests.conftest import THRESHOLD

pytestmark = pytest.mark.django_db

COOKIE = "neuronsite_monitor"


def _new(client, **body):
    r = client.post("/api/monitor/conversation/new", {"modelId": "mtiny", **body}, format="json")
    assert r.status_code == 201, r.content
    return r.json()


def test_anonymous_conversations_are_keyed_by_cookie(mtiny, api_client):
    from rest_framework.test import APIClient

    conv = _new(api_client)
    assert conv["mode"] == "chat" and conv["sources"] == ["0-res-tiny", "1-res-tiny"]
    assert api_client.cookies[COOKIE].value
    assert api_client.get(f"/api/monitor/conversation/{conv['id']}").json()["id"] == conv["id"]
    listed = api_client.get("/api/monitor/conversations?modelId=mtiny").json()["conversations"]
    assert [c["id"] for c in listed] == [conv["id"]]
    stranger = APIClient()
    r = stranger.get(f"/api/monitor/conversation/{conv['id']}")
    assert r.status_code == 404 and "not found" in r.json()["error"]
    assert stranger.get("/api/monitor/conversations").json()["conversations"] == []


def test_signed_in_user_owns_conversations(mtiny, api_client, make_user):
    user = make_user()
    api_client.force_authenticate(user)
    conv = _new(api_client, sources=["1-res-tiny"])
    assert conv["sources"] == ["1-res-tiny"]
    from monitor.models import Conversation

    row = Conversation.objects.get(pk=conv["id"])
    assert row.owner == user and row.anon_key == ""
    api_client.force_authenticate(make_user())
    assert api_client.get(f"/api/monitor/conversation/{conv['id']}").status_code == 404


def test_send_answers_and_concepts_follow_the_rule(mtiny, api_client):
    from features.models import Explanation, ExplanationScore, ExplanationScoreType, Feature

    conv = _new(api_client)
    r = api_client.post(
        f"/api/monitor/conversation/{conv['id']}/send",
        {"content": "What is a class?", "nTokens": 6, "seed": 3},
        format="json",
    )
    assert r.status_code == 200, r.content
    body = r.json()
    messages = body["conversation"]["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant"]
    assert messages[0]["content"] == "What is a class?"
    concepts = body["concepts"]
    tokens = concepts["tokens"]
    assert {t["role"] for t in tokens} >= {"user", "assistant"}
    rows = concepts["concepts"]
    assert rows, "the low test thresholds make some latents active"
    norms = [c["normalised"] for c in rows]
    assert norms == sorted(norms, reverse=True)
    for c in rows:
        threshold = THRESHOLD if c["index"] % 2 == 0 else THRESHOLD * 2
        assert c["activation"] >= threshold - 1e-6
        assert c["normalised"] == pytest.approx(c["activation"] / threshold, rel=1e-5)
        assert c["token"] == tokens[c["position"]]["text"] and c["position"] > 0
        assert c["layer"] == int(c["source"][0]) and c["url"] == f"/mtiny/{c['source']}/{c['index']}"

    # Explanations are joined: the best one (most votes / newest) with its mean score.
    top = rows[0]
    feature = Feature.objects.get(source__model__name="mtiny", source__name=top["source"], index=top["index"])
    Explanation.objects.create(feature=feature, description="older idea")
    exp = Explanation.objects.create(feature=feature, description="classes and objects")
    stype = ExplanationScoreType.objects.create(name="recall_alt")
    ExplanationScore.objects.create(explanation=exp, score_type=stype, value=0.5)
    ExplanationScore.objects.create(explanation=exp, score_type=stype, value=0.7)
    again = api_client.get(f"/api/monitor/conversation/{conv['id']}/concepts").json()
    first = next(c for c in again["concepts"] if (c["source"], c["index"]) == (top["source"], top["index"]))
    assert first["explanation"] == "classes and objects"
    assert first["explanationScore"] == pytest.approx(0.6)
    assert [(c["source"], c["index"], c["position"]) for c in again["concepts"]] == [
        (c["source"], c["index"], c["position"]) for c in rows
    ]
    # Narrowed to one source.
    one = api_client.post(
        f"/api/monitor/conversation/{conv['id']}/concepts", {"sources": ["1-res-tiny"]}, format="json"
    ).json()
    assert {c["source"] for c in one["concepts"]} == {"1-res-tiny"}


def test_regenerate_clear_and_sources(mtiny, api_client):
    conv = _new(api_client)
    url = f"/api/monitor/conversation/{conv['id']}"
    first = api_client.post(
        f"{url}/send", {"content": "Hello", "nTokens": 5, "seed": 7}, format="json"
    ).json()
    again = api_client.post(f"{url}/regenerate", {"nTokens": 5, "seed": 7}, format="json").json()
    assert again["conversation"]["messages"] == first["conversation"]["messages"]
    other = api_client.post(f"{url}/regenerate", {"nTokens": 5, "seed": 8, "temperature": 2.0}, format="json")
    assert len(other.json()["conversation"]["messages"]) == 2
    r = api_client.post(f"{url}/sources", {"sources": ["0-res-tiny"]}, format="json")
    assert r.json()["sources"] == ["0-res-tiny"]
    assert api_client.post(f"{url}/clear").json()["messages"] == []
    r = api_client.post(f"{url}/regenerate", {}, format="json")
    # a state of the conversation (no answer yet), not a fault of the request: 409
    assert r.status_code == 409 and "regenerate" in r.json()["error"]


def test_attribution_endpoint(mtiny, api_client):
    conv = _new(api_client)
    url = f"/api/monitor/conversation/{conv['id']}"
    body = api_client.post(
        f"{url}/send", {"content": "Tell me", "nTokens": 4, "seed": 1}, format="json"
    ).json()
    tokens = body["concepts"]["tokens"]
    answer = [t["position"] for t in tokens if t["role"] == "assistant" and not t["special"]]
    position = answer[-1]
    r = api_client.post(f"{url}/attribution", {"position": position, "topK": 7}, format="json")
    assert r.status_code == 200, r.content
    out = r.json()
    assert out["position"] == position and len(out["attributions"]) == 7
    scores = [a["attribution"] for a in out["attributions"]]
    assert scores == sorted(scores, reverse=True) and scores[-1] > 0
    for a in out["attributions"]:
        assert 0 < a["position"] < position
        assert a["attribution"] == pytest.approx(abs(a["activation"] * a["gradient"]), rel=1e-5)
    user_pos = next(t["position"] for t in tokens if t["role"] == "user")
    r = api_client.post(f"{url}/attribution", {"position": user_pos}, format="json")
    assert r.status_code == 400 and "position" in r.json()["error"]
    r = api_client.post(f"{url}/attribution", {"position": position, "topK": 0}, format="json")
    assert r.status_code == 400 and "topK" in r.json()["error"]
    r = api_client.post(f"{url}/attribution", {"position": 10_000}, format="json")
    assert r.status_code == 400 and "position" in r.json()["error"]


def test_bad_input_leaves_the_conversation_unchanged(mtiny, plain_model, api_client):
    from monitor.models import Conversation

    r = api_client.post("/api/monitor/conversation/new", {"modelId": "mplain", "mode": "chat"}, format="json")
    # the stored model is not an instruct model (a state of the data): 409 naming mode
    assert r.status_code == 409 and "mode" in r.json()["error"] and "instruct" in r.json()["error"]
    plain = api_client.post("/api/monitor/conversation/new", {"modelId": "mplain"}, format="json").json()
    assert plain["mode"] == "completion"
    r = api_client.post(
        "/api/monitor/conversation/new", {"modelId": "mtiny", "sources": ["9-nope"]}, format="json"
    )
    assert r.status_code == 404 and "9-nope" in r.json()["error"]
    r = api_client.post("/api/monitor/conversation/new", {"modelId": "nope"}, format="json")
    assert r.status_code == 404

    conv = _new(api_client)
    url = f"/api/monitor/conversation/{conv['id']}"
    api_client.post(f"{url}/send", {"content": "Hi", "nTokens": 3}, format="json")
    before = Conversation.objects.get(pk=conv["id"]).messages
    for body, field in (
        ({"content": ""}, "content"),
        ({"content": "   "}, "content"),
        ({"content": "x", "nTokens": 0}, "nTokens"),
        ({"content": "x", "temperature": -1}, "temperature"),
        ({"content": "word " * 400}, "context"),
    ):
        r = api_client.post(f"{url}/send", body, format="json")
        assert r.status_code == 400, (body, r.content)
        assert field in r.json()["error"], r.json()
    r = api_client.post(f"{url}/sources", {"sources": ["1-res-tiny", "7-res-tiny"]}, format="json")
    assert r.status_code == 404 and "7-res-tiny" in r.json()["error"]
    row = Conversation.objects.get(pk=conv["id"])
    assert row.messages == before and row.source_ids == ["0-res-tiny", "1-res-tiny"]


def test_completion_mode_on_a_plain_model(plain_model, api_client):
    conv = api_client.post("/api/monitor/conversation/new", {"modelId": "mplain"}, format="json").json()
    body = api_client.post(
        f"/api/monitor/conversation/{conv['id']}/send", {"content": "The class", "nTokens": 4}, format="json"
    ).json()
    tokens = body["concepts"]["tokens"]
    assert tokens[0]["message"] == -1  # BOS
    assert "".join(t["text"] for t in tokens if t["role"] == "user") == "The class"
    assert body["conversation"]["messages"][1]["role"] == "assistant"


def test_transcoder_sources_are_watched_and_attributed_at_the_mlp_output(
    mtiny, monitor_folders, api_client, tmp_path
):
    """A transcoder set (type "transcoder", reading blocks.0.ln2.hook_normalized): concepts read its
    latents; attribution equals the kernel spliced at blocks.0.hook_mlp_out."""
    from inference.engine import ModelSpec, SourceSpec, get_engine
    from inference.monitor.tap import attribute
    from inference.testing import build_tiny_sae, register_tiny
    from models_app.models import SourceSet

    folder = build_tiny_sae(
        tmp_path / "tc0", d_in=32, d_sae=64, hook_name="blocks.0.ln2.hook_normalized", seed=5
    )
    _, tc_set, (tc,) = register_tiny(
        model_name="mtiny",
        model_folder=monitor_folders["model"],
        sae_folders={0: folder},
        set_name="tc-tiny",
        instruct=True,
    )
    SourceSet.objects.filter(pk=tc_set.pk).update(type="transcoder")
    conv = _new(api_client, sources=["0-tc-tiny"])
    assert conv["mode"] == "chat"
    url = f"/api/monitor/conversation/{conv['id']}"
    body = api_client.post(
        f"{url}/send", {"content": "A class", "nTokens": 3, "seed": 2}, format="json"
    ).json()
    tokens = body["concepts"]["tokens"]
    position = [t["position"] for t in tokens if t["role"] == "assistant"][0]
    got = api_client.post(f"{url}/attribution", {"position": position, "topK": 5}, format="json").json()
    from monitor.models import Conversation

    conv_row = Conversation.objects.get(pk=conv["id"])
    from inference.monitor.chat import conversation_tokens

    spec = SourceSpec.of(tc)
    model_spec = ModelSpec.of(mtiny["model"])
    ids = get_engine().call_kernel(
        lambda model: conversation_tokens(conv_row.messages, "chat", model=model), model=model_spec
    )["ids"]
    want = get_engine().call_kernel(
        attribute,
        ids,
        position,
        model=model_spec,
        sources=[spec],
        top_k=5,
        out_hooks={spec: "blocks.0.hook_mlp_out"},
        skip_positions=[0],
    )
    assert [(a["index"], a["position"]) for a in got["attributions"]] == [
        (a["index"], a["position"]) for a in want["attributions"]
    ]
    assert [a["attribution"] for a in got["attributions"]] == pytest.approx(
        [a["attribution"] for a in want["attributions"]], rel=1e-6
    )


def test_issue_bad_input_list_each_a_clear_error_conversation_unchanged(mtiny, plain_model, api_client):
    """Issue 15's "Bad input" list, item by item, over REST: a 4xx naming the field and the
    conversation (messages, title, sources, mode, specs) as it was."""
    from monitor.models import Conversation, SteeringSpec

    def snapshot(pk):
        row = Conversation.objects.get(pk=pk)
        specs = list(SteeringSpec.objects.filter(conversation_id=pk).values_list("id", "enabled"))
        return (row.messages, row.title, row.source_ids, row.mode, row.updated_at, specs)

    def refused(path, body, status, field):
        r = api_client.post(path, body, format="json")
        assert r.status_code == status, (path, body, r.content)
        assert field in r.json()["error"], (field, r.json())

    # Completion-mode conversation on the non-instruct model, with an answer.
    plain = api_client.post("/api/monitor/conversation/new", {"modelId": "mplain"}, format="json").json()
    purl = f"/api/monitor/conversation/{plain['id']}"
    assert (
        api_client.post(f"{purl}/send", {"content": "The class", "nTokens": 3}, format="json").status_code
        == 200
    )
    chat = _new(api_client)
    url = f"/api/monitor/conversation/{chat['id']}"
    assert api_client.post(f"{url}/send", {"content": "Hi", "nTokens": 3}, format="json").status_code == 200
    before = {pk: snapshot(pk) for pk in (plain["id"], chat["id"])}
    # A non-instruct model: chat is refused, naming mode and saying so.
    refused("/api/monitor/conversation/new", {"modelId": "mplain", "mode": "chat"}, 409, "completion mode")
    # Text over the context, in both modes (the tiny models' context: 128 tokens).
    for u in (purl, url):
        refused(f"{u}/send", {"content": "word " * 400, "nTokens": 3}, 400, "content")
    # An empty concept (steer search) and an empty message.
    refused("/api/monitor/steer/search", {"modelId": "mtiny", "description": ""}, 400, "description")
    refused("/api/monitor/steer/search", {"modelId": "mtiny", "description": "   "}, 400, "description")
    refused(f"{url}/send", {"content": ""}, 400, "content")
    # Top-k out of range (search 1..1000, attribution 1..100).
    for k in (0, 1001):
        refused(
            "/api/monitor/steer/search", {"modelId": "mtiny", "description": "cats", "topK": k}, 400, "topK"
        )
    answer_pos = max(
        t["position"]
        for t in api_client.get(f"{url}/concepts").json()["tokens"]
        if t["role"] == "assistant" and not t["special"]
    )
    for k in (0, 101):
        refused(f"{url}/attribution", {"position": answer_pos, "topK": k}, 400, "topK")
    # Unknown sources: watching, reading concepts, attributing, searching.
    refused(f"{url}/sources", {"sources": ["9-nope"]}, 404, "9-nope")
    refused(f"{url}/concepts", {"sources": ["9-nope"]}, 404, "9-nope")
    refused(f"{url}/attribution", {"position": answer_pos, "sources": ["9-nope"]}, 404, "9-nope")
    refused(
        "/api/monitor/steer/search",
        {"modelId": "mtiny", "description": "cats", "sources": ["9-nope"]},
        404,
        "sources",
    )
    # Steering specs on positions that do not exist (prompt ranges past the conversation's prompt).
    spec = {"mode": "suppress", "features": [{"source": "1-res-tiny", "index": 2}]}
    for conv_id in (plain["id"], chat["id"]):
        body = {
            "conversationId": conv_id,
            "nTokens": 2,
            "specs": [{**spec, "positions": {"prompt": [[0, 999]]}}],
        }
        refused("/api/monitor/steer", body, 400, "specs[0].positions.prompt")
        refused(
            f"/api/monitor/conversation/{conv_id}/specs",
            {**spec, "positions": {"prompt": [[5, 2]]}},
            400,
            "spec.positions.prompt",
        )
    # Attribution on a position that does not exist, or is not an answer token.
    refused(f"{url}/attribution", {"position": 10_000}, 400, "position")
    refused(f"{url}/attribution", {"position": 1}, 400, "position")
    assert {pk: snapshot(pk) for pk in (plain["id"], chat["id"])} == before
