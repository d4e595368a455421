"""Steer by description, the search half: the concept is embedded (here by a scripted
OpenAI-compatible /embeddings endpoint over real HTTP) and matched by cosine against stored
explanation embeddings (the topK nearest, one row per feature), visibility in SQL; bad input names its field."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from autointerp.tests.llm_server import ScriptedLLM

URL = "/api/monitor/steer/search"
DIM = 384


def bag_of_words(text: str) -> list[float]:
    """A deterministic 384-d embedding: hashed words, unit length."""
    v = np.zeros(DIM)
    for word in text.lower().split():
        v[int(hashlib.sha256(word.encode()).hexdigest(), 16) % DIM] += 1.0
    return (v / max(np.linalg.norm(v), 1e-9)).tolist()


@pytest.fixture
def embedder(settings):
    server = ScriptedLLM(embed=bag_of_words).start()
    settings.OPENAI_BASE_URL = server.url
    settings.OPENAI_API_KEY = "server-key"
    settings.EXPLANATION_EMBEDDER = "openai"
    settings.EXPLANATION_EMBEDDING_MODEL = "scripted-embed"
    settings.AUTOINTERP_BACKOFF_S = 0.0
    yield server
    server.close()


TEXTS = {
    ("0-res-s", 0): ["cats and kittens", "small cats"],  # two explanations, one hit
    ("0-res-s", 1): ["dogs barking loudly"],
    ("1-res-s", 2): ["cats purring softly"],
    ("1-res-s", 3): ["stock market prices"],
    ("1-res-s", 4): ["kittens playing"],
}


@pytest.fixture
def corpus(db, make_source, make_feature, embedder):
    from features.models import Explanation

    sources = {layer: make_source(model="tiny", set_name="res-s", layer=layer) for layer in (0, 1)}
    hidden_model = make_source(model="other", set_name="res-s", layer=0)
    for (name, index), texts in TEXTS.items():
        feature = make_feature(
            source=sources[int(name[0])],
            index=index,
            activation_quantiles={"0.9999999": 5.0} if index == 2 else {"0.99": 1.0, "0.999": 2.0},
        )
        for text in texts:
            Explanation.objects.create(
                feature=feature,
                description=text,
                embedding=bag_of_words(text),
                embedding_model="openai:scripted-embed",
            )
    other = make_feature(source=hidden_model, index=0)
    Explanation.objects.create(
        feature=other,
        description="cats",
        embedding=bag_of_words("cats"),
        embedding_model="openai:scripted-embed",
    )
    return sources


def test_search_ranks_features_by_cosine_one_per_feature(api_client, corpus, embedder):
    res = api_client.post(URL, {"modelId": "tiny", "description": "cats"}, format="json")
    assert res.status_code == 200, res.content
    rows = res.json()["features"]
    query = np.asarray(bag_of_words("cats"))
    expected = []
    for (source, index), texts in TEXTS.items():
        best = max(float(np.dot(query, bag_of_words(t))) for t in texts)
        expected.append((best, source, index))
    expected.sort(key=lambda r: -r[0])
    # Best first; features tied on similarity may come in any order among themselves.
    assert [round(r["similarity"], 5) for r in rows] == [round(b, 5) for b, _, _ in expected]
    assert sorted((-round(r["similarity"], 5), r["source"], r["index"]) for r in rows) == sorted(
        (-round(b, 5), s, i) for b, s, i in expected
    )
    assert rows[0]["explanation"] == "small cats"  # the feature's nearest explanation
    top = {(r["source"], r["index"]): r["topQuantile"] for r in rows}
    assert top[("1-res-s", 2)] == {"q": "0.9999999", "value": 5.0}
    assert top[("0-res-s", 1)] == {"q": "0.999", "value": 2.0}
    assert embedder.requests[-1]["body"]["input"] == ["cats"]


def test_top_k_and_sources_narrow_the_search(api_client, corpus):
    # the 3 nearest explanations: "small cats", then "cats and kittens" (the same feature) and
    # "cats purring softly"
    res = api_client.post(URL, {"modelId": "tiny", "description": "cats", "topK": 3}, format="json")
    assert [(r["source"], r["index"]) for r in res.json()["features"]] == [("0-res-s", 0), ("1-res-s", 2)]
    res = api_client.post(
        URL, {"modelId": "tiny", "description": "cats", "sources": ["1-res-s"]}, format="json"
    )
    assert {r["source"] for r in res.json()["features"]} == {"1-res-s"}
    assert len(res.json()["features"]) == 3


def test_search_sees_only_visible_features(api_client, corpus, make_user):
    from models_app.models import Model
    from neuronsite.fields import Visibility

    owner = make_user()
    Model.objects.filter(name="tiny").update(visibility=Visibility.PRIVATE, owner=owner)
    res = api_client.post(URL, {"modelId": "tiny", "description": "cats"}, format="json")
    assert res.status_code == 404
    api_client.force_authenticate(owner)
    res = api_client.post(URL, {"modelId": "tiny", "description": "cats"}, format="json")
    assert res.status_code == 200 and len(res.json()["features"]) == 5


@pytest.mark.parametrize(
    "change,field",
    [
        ({"description": ""}, "description"),
        ({"description": "  a "}, "description"),
        ({"topK": 0}, "topK"),
        ({"topK": 1001}, "topK"),
        ({"topK": "many"}, "topK"),
        ({"sources": []}, "sources"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(api_client, corpus, change, field):
    res = api_client.post(URL, {"modelId": "tiny", "description": "cats", **change}, format="json")
    assert res.status_code == 400, res.content
    assert res.json()["error"].startswith(field), res.json()


def test_unknown_source_is_a_404_naming_it(api_client, corpus):
    # like a conversation's sources: a well-formed name that is not there (issue 10's schema rule)
    body = {"modelId": "tiny", "description": "cats", "sources": ["0-res-s", "9-nope"]}
    res = api_client.post(URL, body, format="json")
    assert res.status_code == 404, res.content
    assert res.json()["error"].startswith("sources") and "9-nope" in res.json()["error"]


def test_query_count_does_not_grow_with_top_k(api_client, corpus, django_assert_max_num_queries):
    with django_assert_max_num_queries(12):  # 4 of them: the rate limiter
        res = api_client.post(
            URL,
            {"modelId": "tiny", "description": "cats", "topK": 1000, "sources": ["0-res-s", "1-res-s"]},
            format="json",
        )
    assert res.status_code == 200 and len(res.json()["features"]) == 5


def test_exclude_phrases_leave_features_out_and_refill_the_top_k(api_client, corpus):
    """A feature with ANY explanation containing an exclude phrase (case-insensitive) is left out;
    the topK nearest explanations are then taken among the other features'."""
    res = api_client.post(URL, {"modelId": "tiny", "description": "cats", "topK": 3}, format="json")
    assert [(r["source"], r["index"]) for r in res.json()["features"]] == [("0-res-s", 0), ("1-res-s", 2)]
    # "KITTENS" matches feature 0/0 through its other explanation "cats and kittens", and 1/4.
    body = {"modelId": "tiny", "description": "cats", "topK": 3, "exclude": ["KITTENS"]}
    res = api_client.post(URL, body, format="json")
    assert res.status_code == 200, res.content
    got = [(r["source"], r["index"]) for r in res.json()["features"]]
    assert got[0] == ("1-res-s", 2) and len(got) == 3
    assert set(got) == {("1-res-s", 2), ("0-res-s", 1), ("1-res-s", 3)}
    assert res.json()["exclude"] == ["KITTENS"]
    # Excluding everything that matches leaves nothing; several phrases combine.
    body = {"modelId": "tiny", "description": "cats", "exclude": ["cat", "kitten", "dog", "market"]}
    assert api_client.post(URL, body, format="json").json()["features"] == []
    # Bad phrases: a 400 naming exclude.
    for bad in ([""], ["  "], ["x"] * 17, "cats", [5]):
        res = api_client.post(URL, {"modelId": "tiny", "description": "cats", "exclude": bad}, format="json")
        assert res.status_code == 400, (bad, res.content)
        assert res.json()["error"].startswith("exclude"), res.json()
