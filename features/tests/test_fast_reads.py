"""The fast read paths (features/selectors_fast.py). ``GET /api/feature/...``: the very
JSON the ORM path (``feature_json(selectors.feature_get(...))``) renders (the same values; orjson
spells some floats differently), for anonymous callers,
owners, other users and staff, with explanations (scores, votes), lists and comments or without;
two queries for a feature without them; an ``ETag`` and ``304`` on ``If-None-Match``. The
dashboard page: the same groups, explanations, lists and comments as the ORM selector, four
queries for a plain feature."""

import json

import pytest
from rest_framework.renderers import JSONRenderer

from accounts.services import api_key_create
from features.api.serializers import feature_json
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
from features.selectors import feature_get
from neuronsite.fields import Visibility


def _client_for(api_client, user):
    if user is not None:
        _key, clear = api_key_create(user=user)
        api_client.credentials(HTTP_X_API_KEY=clear)
    return api_client


def _orm_json(feature, user):
    from django.contrib.auth.models import AnonymousUser

    f = feature_get(
        model_name=feature.source.model.name,
        source_name=feature.source.name,
        index=feature.index,
        user=user or AnonymousUser(),
    )
    return json.loads(JSONRenderer().render(feature_json(f)))


@pytest.fixture
def rich_feature(make_feature, make_user):
    owner = make_user(username="owner")
    other = make_user(username="voter")
    feature = make_feature(
        index=3,
        activation_quantiles={"0.99": 1.5},
        topk_cos_sim_indices=[1, 2],
        topk_cos_sim_values=[0.5, 0.25],
    )
    source = feature.source
    source.config = {"d_in": 16, "hook": "blocks.0.hook_resid_pre"}
    source.save()
    for peak in (1.0, 3.0, 2.0):
        Activation.objects.create(
            feature=feature,
            tokens=["a", "b", "ü"],
            values=[0.0, peak, 0.125],
            max_value=peak,
            max_value_token_index=1,
            bin_min=-1,
            bin_max=peak,
            bin_contains=-1,
            data_source="pydoc",
        )
    etype, _ = ExplanationType.objects.get_or_create(name="oai_token-act-pair")
    exp = Explanation.objects.create(feature=feature, description="dogs", type=etype, author=owner)
    stype, _ = ExplanationScoreType.objects.get_or_create(name="recall_alt")
    ExplanationScore.objects.create(explanation=exp, score_type=stype, value=0.7, details={"n": 3})
    Explanation.objects.create(feature=feature, description="cats", type=etype)
    Vote.objects.create(explanation=exp, user=other)
    public = List.objects.create(owner=owner, name="pub", visibility=Visibility.PUBLIC)
    private = List.objects.create(owner=owner, name="mine", visibility=Visibility.PRIVATE)
    for lst in (public, private):
        ListItem.objects.create(list=lst, feature=feature)
    Comment.objects.create(feature=feature, user=other, text="nice")
    return {"feature": feature, "owner": owner, "other": other}


@pytest.mark.parametrize("who", ["anonymous", "owner", "other", "staff"])
def test_the_fast_path_renders_the_orm_paths_json(api_client, rich_feature, make_user, who):
    feature = rich_feature["feature"]
    user = {
        "anonymous": None,
        "owner": rich_feature["owner"],
        "other": rich_feature["other"],
        "staff": make_user(username="staffer", is_staff=True),
    }[who]
    r = _client_for(api_client, user).get(f"/api/feature/tiny/{feature.source.name}/3")
    assert r.status_code == 200
    body = json.loads(r.content)
    assert body == _orm_json(feature, user)
    assert len(body["activations"]) == 3 and len(body["explanations"]) == 2
    assert len(body["lists"]) == (2 if who in ("owner", "staff") else 1)
    assert body["comments"][0]["text"] == "nice"
    if who == "other":
        assert [e["voted"] for e in body["explanations"]] == [True, False]


def test_a_feature_without_explanations_lists_or_comments_takes_one_query(
    api_client, make_feature, django_assert_num_queries
):
    feature = make_feature(index=5)
    Activation.objects.create(feature=feature, tokens=["x"], values=[1.0], max_value=1.0)
    api_client.get(f"/api/feature/tiny/{feature.source.name}/5")  # compiles the lookup once
    with django_assert_num_queries(1):
        r = api_client.get(f"/api/feature/tiny/{feature.source.name}/5")
    assert r.status_code == 200
    assert json.loads(r.content) == _orm_json(feature, None)


def test_private_and_missing_features_keep_their_errors(api_client, make_feature, make_source):
    hidden = make_feature(source=make_source(layer=1, visibility=Visibility.PRIVATE), index=1)
    r = api_client.get(f"/api/feature/tiny/{hidden.source.name}/1")
    assert r.status_code == 404 and "not found" in r.json()["error"]
    r = api_client.get("/api/feature/nope/0-res-test/1")
    assert r.status_code == 404 and r.json()["error"] == "Model 'nope' not found."
    r = api_client.get("/api/feature/tiny/0-res-test/①")
    assert r.status_code == 400 and "index" in r.json()["error"]


def test_etag_and_conditional_get(api_client, make_feature):
    feature = make_feature(index=7)
    url = f"/api/feature/tiny/{feature.source.name}/7"
    first = api_client.get(url)
    etag = first["ETag"]
    assert etag.startswith('"') and len(etag) > 10
    again = api_client.get(url, HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304 and again.content == b"" and again["ETag"] == etag
    Activation.objects.create(feature=feature, tokens=["y"], values=[2.0], max_value=2.0)
    changed = api_client.get(url, HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200 and changed["ETag"] != etag


def _page_view(feature):
    return {
        "groups": [
            (g["key"], g["count"], g["contains"], [a.pk for a in g["activations"]])
            for g in feature.activation_groups
        ],
        "explanations": [(e.pk, e.vote_count, getattr(e, "voted", None)) for e in feature.explanations.all()],
        "lists": [lst.pk for lst in feature.lists.all()],
        "comments": [c.pk for c in feature.comments.all()],
        "source": (feature.source.name, feature.source.model.name, feature.source.source_set.name),
    }


@pytest.mark.parametrize("who", ["anonymous", "owner", "other"])
def test_the_dashboard_page_selector_matches_the_orm_one(rich_feature, who, django_assert_max_num_queries):
    from django.contrib.auth.models import AnonymousUser

    from features import selectors, selectors_fast

    feature = rich_feature["feature"]
    for peak, lo in ((0.5, 0.0), (0.9, 0.0), (0.7, 0.6)):  # two interval groups, one duplicate context
        Activation.objects.create(
            feature=feature, tokens=["q"], values=[peak if lo == 0.0 else 0.5], max_value=peak,
            bin_min=lo, bin_max=1.0, bin_contains=0.25,
        )  # fmt: skip
    user = {"anonymous": AnonymousUser(), "owner": rich_feature["owner"], "other": rich_feature["other"]}[who]
    args = {
        "model_name": "tiny",
        "source_name": feature.source.name,
        "index": 3,
        "user": user,
        "per_group": 2,
    }
    with django_assert_max_num_queries(12):
        fast = selectors_fast.feature_dashboard_get(**args)
    slow = selectors.feature_dashboard_get(**args)
    assert _page_view(fast) == _page_view(slow)
    assert (fast.prev_index, fast.next_index, fast.bookmarked) == selectors.feature_adjacent(
        feature=slow, user=user
    )
    # top group (3 snippets, each its own bin_max), [0, 1) (2 distinct contexts), [0.6, 1) (1)
    assert [(len(g["activations"]), g["count"]) for g in fast.activation_groups] == [(3, 3), (2, 2), (1, 1)]


def test_the_dashboard_page_of_a_plain_feature_in_one_query(client, make_feature, django_assert_num_queries):
    feature = make_feature(index=9)
    Activation.objects.create(feature=feature, tokens=["x", "y"], values=[0.0, 1.0], max_value=1.0)
    url = f"/tiny/{feature.source.name}/9"
    assert client.get(url).status_code == 200  # compiles the lookup once
    # feature (+ neighbours, bookmark), snippets and group counts: one row
    with django_assert_num_queries(1):
        r = client.get(url)
    assert r.status_code == 200 and b'<span id="feature-index">9</span>' in r.content
    assert client.get(f"/tiny/{feature.source.name}/999").status_code == 404


def test_snippets_built_by_postgresql_carry_the_values_python_would(api_client, make_feature):
    """float4 values as the ORM path reads them (0.1, not 0.10000000149011612; 1e-05, 3.4e38), a timestamp on a whole
    second and one with microseconds, an empty data source (null), a top-group bin (null
    binContains), a creator, dfa values, quotes and control characters in tokens."""
    import datetime as dt

    feature = make_feature(index=11)
    a = Activation.objects.create(
        feature=feature, tokens=['"q"', "\\", "\u0001", "\n"], values=[0.1, 1e-05, 3.4e38, -2.5],
        max_value=3.4e38, max_value_token_index=2, min_value=-2.5, bin_min=-1, bin_max=0.3,
        bin_contains=-1, qualifying_token_index=2, data_source="", data_index=2**40,
        dfa_values=[0.7], dfa_target_index=1, dfa_max_value=0.7,
    )  # fmt: skip
    b = Activation.objects.create(
        feature=feature, tokens=["x"], values=[0.2], max_value=0.2, bin_min=0.1, bin_max=0.3,
        bin_contains=0.33, data_source="pydoc",
    )  # fmt: skip
    Activation.objects.filter(pk=a.pk).update(created_at=dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC))
    Activation.objects.filter(pk=b.pk).update(created_at=dt.datetime(2026, 1, 2, 3, 4, 5, 60, tzinfo=dt.UTC))
    r = api_client.get(f"/api/feature/tiny/{feature.source.name}/11")
    assert r.status_code == 200 and r["Content-Type"] == "application/json"
    body = json.loads(r.content)
    expected = _orm_json(feature, None)
    assert body == expected
    first, second = body["activations"]
    assert first["values"][:2] == [0.1, 1e-05] and first["binContains"] is None
    assert first["dataSource"] is None and first["createdAt"] == "2026-01-02T03:04:05Z"
    assert second["createdAt"] == "2026-01-02T03:04:05.000060Z" and second["binContains"] == 0.33


def test_the_page_row_carries_neighbours_and_the_viewers_bookmark(make_feature, make_user):
    from django.contrib.auth.models import AnonymousUser

    from features import selectors_fast
    from features.models import Bookmark

    first = make_feature(index=2)
    make_feature(source=first.source, index=5)
    make_feature(source=first.source, index=9)
    reader, staff = make_user(username="reader"), make_user(username="boss", is_staff=True)
    Bookmark.objects.create(user=reader, feature=first.source.features.get(index=5))
    Bookmark.objects.create(user=staff, feature=first.source.features.get(index=9))

    def row(index, user):
        f = selectors_fast.feature_dashboard_get(
            model_name="tiny", source_name=first.source.name, index=index, user=user
        )
        return f.prev_index, f.next_index, f.bookmarked

    assert row(5, AnonymousUser()) == (2, 9, False)
    assert row(5, reader) == (2, 9, True) and row(9, reader) == (5, None, False)
    assert row(2, staff) == (None, 5, False) and row(9, staff) == (5, None, True)


def test_the_dashboards_neighbours_match_the_orm_selector(rich_feature, make_feature, make_user):
    """Nearest features by decoder cosine with their best explanation (most votes, then newest;
    hidden ones left out): the precompiled query gives the ORM selector's list."""
    from features import selectors, selectors_fast

    feature = rich_feature["feature"]
    one = make_feature(source=feature.source, index=1)
    make_feature(source=feature.source, index=2)
    voters = [make_user(username=f"v{i}") for i in range(2)]
    liked = Explanation.objects.create(feature=one, description="liked")
    Explanation.objects.create(feature=one, description="newer, no votes")
    hidden = Explanation.objects.create(feature=one, description="hidden", status=Explanation.Status.HIDDEN)
    for v in voters:
        Vote.objects.create(explanation=liked, user=v)
        Vote.objects.create(explanation=hidden, user=v)
    feature.topk_cos_sim_indices = [1, 3, 2, 77]  # itself (3) left out, 77 not stored
    feature.topk_cos_sim_values = [0.5, 1.0, 0.25]  # one value short
    feature.save()
    fast = selectors_fast.feature_neighbours_explained(feature=feature)
    assert fast == selectors.feature_neighbours_explained(feature=feature)
    assert fast == [
        {"index": 1, "cosine": 0.5, "exists": True, "explanation": "liked"},
        {"index": 2, "cosine": 0.25, "exists": True, "explanation": None},
        {"index": 77, "cosine": None, "exists": False, "explanation": None},
    ]
