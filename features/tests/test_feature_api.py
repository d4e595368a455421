import pytest

from features.models import (
    Activation,
    Comment,
    Explanation,
    ExplanationScore,
    ExplanationScoreType,
    ExplanationType,
    List,
    ListItem,
    Vote,
)
from neuronsite.fields import Visibility


def _populate(feature, user, n: int):
    for i in range(n):
        Activation.objects.create(
            feature=feature,
            tokens=["a", "Ġb", "c"],
            values=[0.0, float(i), 0.5],
            max_value=float(i),
            max_value_token_index=1,
        )
    etype, _ = ExplanationType.objects.get_or_create(name="oai_token-act-pair")
    stype, _ = ExplanationScoreType.objects.get_or_create(name="detection")
    for i in range(n):
        exp = Explanation.objects.create(
            feature=feature, description=f"explanation {i}", type=etype, author=user
        )
        ExplanationScore.objects.create(explanation=exp, score_type=stype, value=0.5)
        Vote.objects.create(explanation=exp, user=user)
        lst = List.objects.create(owner=user, name=f"list {i}", visibility=Visibility.PUBLIC)
        ListItem.objects.create(list=lst, feature=feature)
        Comment.objects.create(feature=feature, user=user, text=f"comment {i}")


def test_feature_api_shape(api_client, make_feature, make_user):
    user = make_user()
    feature = make_feature(index=7)
    _populate(feature, user, 3)
    r = api_client.get("/api/feature/tiny/0-res-test/7")
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["modelId"] == "tiny" and body["layer"] == "0-res-test" and body["index"] == "7"
    assert body["pos_str"] == ["Ġthe", "Ġa"] and body["frac_nonzero"] == pytest.approx(0.01)
    assert [a["maxValue"] for a in body["activations"]] == [2.0, 1.0, 0.0]  # by max value
    assert body["activations"][0]["tokens"] == ["a", "Ġb", "c"]
    assert len(body["explanations"]) == 3
    assert body["explanations"][0]["scores"][0]["explanationScoreTypeName"] == "detection"
    assert body["explanations"][0]["votes"] == 1
    assert {entry["list"]["name"] for entry in body["lists"]} == {"list 0", "list 1", "list 2"}
    assert [c["text"] for c in body["comments"]] == ["comment 0", "comment 1", "comment 2"]
    assert body["source"]["hookName"] == "blocks.0.hook_resid_pre"
    assert body["model"]["id"] == "tiny"


@pytest.mark.parametrize("n", [1, 25])
def test_feature_api_constant_queries(api_client, make_feature, make_user, django_assert_max_num_queries, n):
    user = make_user()
    feature = make_feature(index=1)
    _populate(feature, user, n)
    with django_assert_max_num_queries(12):
        r = api_client.get("/api/feature/tiny/0-res-test/1")
    assert r.status_code == 200


def test_feature_api_errors(api_client, make_feature):
    make_feature(index=3)
    cases = {
        "/api/feature/nope/0-res-test/3": (404, "Model 'nope'"),
        "/api/feature/tiny/9-nope/3": (404, "Source 'tiny/9-nope'"),
        "/api/feature/tiny/0-res-test/99": (404, "Feature 'tiny/0-res-test/99'"),
        "/api/feature/tiny/0-res-test/abc": (400, "index"),
        "/api/feature/tiny/0-res-test/-1": (400, "index"),
    }
    for url, (status, text) in cases.items():
        r = api_client.get(url)
        assert r.status_code == status, (url, r.content)
        assert text in r.json()["error"], (url, r.json())


def test_private_source_is_404_for_others_and_visible_to_owner(
    api_client, make_source, make_feature, make_user
):
    owner, other = make_user(), make_user()
    source = make_source(set_name="mine", visibility=Visibility.PRIVATE, owner=owner)
    make_feature(source=source, index=0)
    assert api_client.get("/api/feature/tiny/0-mine/0").status_code == 404
    api_client.force_authenticate(other)
    assert api_client.get("/api/feature/tiny/0-mine/0").status_code == 404
    api_client.force_authenticate(owner)
    assert api_client.get("/api/feature/tiny/0-mine/0").status_code == 200


def test_hidden_explanations_are_not_served(api_client, make_feature):
    feature = make_feature(index=2)
    Explanation.objects.create(feature=feature, description="shown")
    Explanation.objects.create(feature=feature, description="hidden", status=Explanation.Status.HIDDEN)
    body = api_client.get("/api/feature/tiny/0-res-test/2").json()
    assert [e["description"] for e in body["explanations"]] == ["shown"]


def test_comment_api_requires_auth_and_only_owner_deletes(api_client, make_feature, make_user):
    make_feature(index=4)
    payload = {"modelId": "tiny", "layer": "0-res-test", "index": 4, "text": "<script>alert(1)</script>"}
    r = api_client.post("/api/comment/new", payload, format="json")
    assert r.status_code == 401 and "error" in r.json()
    alice, bob = make_user(), make_user()
    api_client.force_authenticate(alice)
    r = api_client.post("/api/comment/new", payload, format="json")
    assert r.status_code == 200, r.content
    comment_id = int(r.json()["id"])
    r = api_client.post("/api/comment/new", {**payload, "text": "   "}, format="json")
    assert r.status_code == 400 and "text" in r.json()["error"]
    r = api_client.post("/api/comment/new", {**payload, "index": "x"}, format="json")
    assert r.status_code == 400 and "index" in r.json()["error"]
    api_client.force_authenticate(bob)
    assert api_client.post("/api/comment/delete", {"commentId": comment_id}, format="json").status_code == 404
    api_client.force_authenticate(alice)
    assert api_client.post("/api/comment/delete", {"commentId": comment_id}, format="json").status_code == 200
    assert not Comment.objects.filter(pk=comment_id).exists()
