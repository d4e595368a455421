"""The search APIs' input check: a plain JSON body that is certainly valid skips DRF's serializer
(``autointerp.api.search.fast_validated``); anything else goes through it. The fast path gives
exactly the serializer's validated data or nothing, and bad input still gets the serializer's 400
naming the field; the semantic response (PostgreSQL's page text spliced into the body) carries the
request and the paging fields."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from autointerp.api.search import (
    SemanticSearchInput,
    SemanticSearchLayersInput,
    SemanticSearchModelInput,
    SemanticSearchReleaseInput,
    fast_validated,
)
from features.models import Explanation

BODIES = [
    {"query": "cats"},
    {"query": "  cats and dogs \t"},
    {"query": "ünïcödé ☃ text"},
    {"query": "lone \ud800 surrogate"},
    {"query": "nul \x00 inside"},
    {"query": "   "},
    {"query": ""},
    {"query": "x" * 1000},
    {"query": "x" * 1001},
    {"query": " " + "x" * 1000 + " "},
    {"query": 123},
    {"query": None},
    {"query": ["cats"]},
    {},
    {"query": "cats", "offset": 0},
    {"query": "cats", "offset": 40},
    {"query": "cats", "offset": -1},
    {"query": "cats", "offset": 100_000},
    {"query": "cats", "offset": 100_001},
    {"query": "cats", "offset": 2**63},
    {"query": "cats", "offset": True},
    {"query": "cats", "offset": 4.0},
    {"query": "cats", "offset": "7"},
    {"query": "cats", "offset": None},
    {"query": "cats", "mode": "keyword"},
    {"query": "cats", "mode": "semantic"},
    {"query": "cats", "mode": "fuzzy"},
    {"query": "cats", "mode": 1},
    {"query": "cats", "onePerFeature": True},
    {"query": "cats", "onePerFeature": "true"},
    {"query": "cats", "onePerFeature": 1},
    {"query": "cats", "onePerFeature": None},
    {"query": "cats", "unknown": [1, 2]},
    {"query": "cats", "modelId": "tiny", "layers": ["0-res-pub"], "releaseName": "r1"},
    {"query": "cats", "modelId": " tiny ", "layers": [" 0-res-pub", "1-res-priv"]},
    {"query": "cats", "modelId": "tiny", "layers": []},
    {"query": "cats", "modelId": "tiny", "layers": "0-res-pub"},
    {"query": "cats", "modelId": "tiny", "layers": ["ok", 3]},
    {"query": "cats", "modelId": "tiny", "layers": ["x" * 161]},
    {"query": "cats", "modelId": "tiny", "layers": ["ok"] * 1001},
    {"query": "cats", "modelId": "", "layers": ["ok"]},
    {"query": "cats", "modelId": "m" * 129, "layers": ["ok"]},
    {"query": "cats", "releaseName": "r" * 200},
    {"query": "cats", "releaseName": "r" * 201},
    {"query": "cats", "releaseName": " gemma-scope ", "mode": "semantic", "offset": 3},
    {"query": "cats", "modelId": "tiny", "layers": ["a", "b"], "offset": 20, "mode": "keyword"},
    {"query": "cats", "modelId": "tiny", "layers": ["a"] * 1000, "onePerFeature": False},
    {"query": "cats", "modelId": "tiny", "layers": ["x" * 160], "releaseName": ""},
]
SERIALIZERS = [
    SemanticSearchInput,
    SemanticSearchModelInput,
    SemanticSearchLayersInput,
    SemanticSearchReleaseInput,
]


@pytest.mark.parametrize("serializer", SERIALIZERS, ids=lambda s: s.__name__)
def test_the_fast_path_gives_the_serializers_data_or_nothing(serializer):
    taken = 0
    for body in BODIES:
        fast = fast_validated(serializer, body)
        checked = serializer(data=body)
        if fast is not None:
            taken += 1
            assert checked.is_valid(), (body, checked.errors)
            assert fast == dict(checked.validated_data), body
            assert list(fast) == list(checked.validated_data), body
    assert taken >= 3  # the usual bodies do take it


def test_form_bodies_go_through_the_serializer():
    from django.http import QueryDict

    assert fast_validated(SemanticSearchInput, QueryDict("query=cats")) is None
    assert fast_validated(SemanticSearchInput, [{"query": "cats"}]) is None


@pytest.fixture
def corpus(make_source, make_feature):
    source = make_source(model="tiny", set_name="res-pub", layer=0)
    for i, text in enumerate(["cats that purr", "stock prices", "rain tomorrow", "python lists"]):
        Explanation.objects.create(feature=make_feature(source=source, index=i), description=text)
    call_command("embed_explanations", verbosity=0)


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("search-all", {"query": "cats", "offset": -1}, "offset"),
        ("search-all", {"query": "cats", "offset": True}, "offset"),
        ("search-all", {"query": "cats", "mode": "fuzzy"}, "mode"),
        ("search-all", {"query": "cats", "onePerFeature": "maybe"}, "onePerFeature"),
        ("search-all", {"query": "   "}, "query"),
        ("search-all", {"query": "ab"}, "query"),
        ("search-model", {"query": "cats"}, "modelId"),
        ("search", {"query": "cats", "modelId": "tiny", "layers": []}, "layers"),
        ("search-release", {"query": "cats", "releaseName": 5}, "releaseName"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(corpus, path, body, field):
    # json.dumps escapes a lone surrogate (a client's encoder would refuse it)
    r = APIClient().generic(
        "POST", f"/api/explanation/{path}", json.dumps(body), content_type="application/json"
    )
    assert r.status_code == 400 and field in r.json()["error"], r.content


def test_the_semantic_response_echoes_the_request_and_pages(corpus):
    client = APIClient()
    body = {"query": "  feline pets ", "extra": ["kept in the echo"]}
    r = client.post("/api/explanation/search-all", body, format="json")
    assert r.status_code == 200 and r["Content-Type"] == "application/json"
    data = r.json()
    assert list(data) == ["request", "mode", "results", "resultsCount", "hasMore", "nextOffset"]
    assert data["request"] == body and data["mode"] == "semantic"
    assert data["results"][0]["description"] == "cats that purr"
    assert (data["resultsCount"], data["hasMore"], data["nextOffset"]) == (4, False, 4)
    data = client.post(
        "/api/explanation/search-all", {"query": "feline pets", "offset": 3}, format="json"
    ).json()
    assert (len(data["results"]), data["resultsCount"], data["hasMore"], data["nextOffset"]) == (
        1,
        4,
        False,
        4,
    )
    # a form body takes the serializer's path and gets the same page
    form = client.post("/api/explanation/search-all", {"query": "feline pets"})
    assert form.status_code == 200 and form.json()["results"] == r.json()["results"]
    data = client.post(
        "/api/explanation/search-all", {"query": "feline pets", "offset": 40_000}, format="json"
    )
    assert data.json()["results"] == [] and data.json()["nextOffset"] == 40_000
