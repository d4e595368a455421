"""The semantic search API page built by raw SQL (``autointerp.search_hydrate``) is the same JSON,
field for field, type for type (a number is a number: PostgreSQL writes 9.0 as ``9``) and in the
same order, as the ORM path it replaced
(``hydrate="orm"`` + ``hit_json``, i.e. ``features.api.serializers``), on a fixture with every
field set: authors, types, explainer models, scores with and without details or scorer, votes,
activations with every column (SAEDashboard's -1 bin, empty data source, DFA values), features
with several explanations, and rows with nothing attached."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.management import call_command
from rest_framework.renderers import JSONRenderer
from rest_framework.test import APIClient

from autointerp import selectors
from autointerp.api.search import hit_json
from features.models import (
    Activation,
    ExplainerModel,
    Explanation,
    ExplanationScore,
    ExplanationScoreType,
    ExplanationType,
    Vote,
)

TEXTS = [
    "cats that purr on the sofa",
    "stock prices falling sharply",
    "rain and thunder tonight",
    "python list comprehension",
    "kittens chasing a red dot",
    "the weather forecast for tomorrow",
]


def _embed(text: str) -> list[float]:
    vec = [0.0] * 384
    for i, ch in enumerate(text):
        vec[(ord(ch) * 7 + i) % 384] += 1.0
    return vec


@pytest.fixture
def rich_corpus(llm, settings, make_source, make_feature, make_user):
    llm.embed = _embed
    settings.EXPLANATION_EMBEDDER = "openai"
    settings.EXPLANATION_EMBEDDING_MODEL = "scripted-embedder"
    author, voter = make_user(), make_user()
    source = make_source(model="tiny", set_name="res-hyd", layer=0)
    other = make_source(model="tiny", set_name="res-hyd2", layer=1)
    kind = ExplanationType.objects.create(name="oai_token-act-pair")
    explainer = ExplainerModel.objects.create(name="gpt-test")
    fuzz = ExplanationScoreType.objects.create(name="eleuther_fuzz")
    recall = ExplanationScoreType.objects.create(name="eleuther_recall")
    features = [
        make_feature(source=source, index=3, max_act_approx=4.1, frac_nonzero=0.1, pos_values=[0.1, 1e-7]),
        make_feature(
            source=source, index=7, max_act_approx=None, frac_nonzero=None, pos_str=[], pos_values=[]
        ),
        make_feature(source=other, index=2),
    ]
    rows = []
    for i, text in enumerate(TEXTS):
        rows.append(
            Explanation.objects.create(
                feature=features[i % 3],
                description=text,
                type=kind if i % 2 == 0 else None,
                explainer_model=explainer if i % 3 == 0 else None,
                author=author if i != 1 else None,
                status=Explanation.Status.PENDING if i == 4 else Explanation.Status.APPROVED,
            )
        )
    ExplanationScore.objects.create(
        explanation=rows[0],
        score_type=fuzz,
        scorer_model=explainer,
        value=0.35,
        details={"b": [1, 2.5], "a": "x"},
    )
    ExplanationScore.objects.create(explanation=rows[0], score_type=recall, value=1.0, details={})
    ExplanationScore.objects.create(explanation=rows[3], score_type=recall, value=0.1)
    Vote.objects.create(explanation=rows[0], user=voter)
    Vote.objects.create(explanation=rows[0], user=author)
    Vote.objects.create(explanation=rows[2], user=voter)
    Activation.objects.create(
        feature=features[0],
        tokens=["Ġthe", "Ġcat", 'Ġ"q"\\'],
        values=[0.1, 2.5, -0.3333],
        max_value=2.5,
        max_value_token_index=1,
        min_value=-0.3333,
        bin_min=-1,
        bin_max=2.5,
        bin_contains=-1,
        qualifying_token_index=1,
        data_source="",
        data_index=2**40,
        dfa_values=[0.25, 0.5, 0.0],
        dfa_target_index=0,
        dfa_max_value=0.5,
        creator=author,
    )
    for value in [0.7, 3.3, 1.9]:
        Activation.objects.create(
            feature=features[0], tokens=["a", "b"], values=[0.0, value], max_value=value, bin_contains=0.25,
            data_source="pile", bin_min=0.5, bin_max=1.0,
        )  # fmt: skip
    Activation.objects.create(feature=features[2], tokens=["c"], values=[9.0], max_value=9.0)
    # two timestamps with microseconds and one without (isoformat differs)
    Activation.objects.filter(max_value=9.0).update(created_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    call_command("embed_explanations", verbosity=0)
    return rows


def _reference(**kw) -> list[dict]:
    page, _ = selectors.explanations_search_semantic(user=AnonymousUser(), hydrate="orm", **kw)
    return [hit_json(e) for e in page]


def _raw(**kw) -> list[dict]:
    page, _ = selectors.explanations_search_semantic(user=AnonymousUser(), hydrate="api", **kw)
    return page


def _same_json(a, b, path="$") -> None:
    """``a`` and ``b`` are the same JSON value, keys in the same order: numbers equal as numbers
    (9 and 9.0 alike), everything else of the same type (``True == 1`` would hide a bool)."""
    number = (int, float)
    if (
        isinstance(a, number)
        and isinstance(b, number)
        and not isinstance(a, bool)
        and not isinstance(b, bool)
    ):
        assert a == b, (path, a, b)
        return
    assert type(a) is type(b), (path, a, b)
    if isinstance(a, dict):
        assert list(a) == list(b), (path, list(a), list(b))
        for key in a:
            _same_json(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list):
        assert len(a) == len(b), (path, len(a), len(b))
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _same_json(x, y, f"{path}[{i}]")
    else:
        assert a == b, (path, a, b)


def test_same_json_tells_values_apart():
    _same_json({"a": 9, "b": [1.5, None]}, {"a": 9.0, "b": [1.5, None]})
    for a, b in [({"a": 1, "b": 2}, {"b": 2, "a": 1}), ({"a": True}, {"a": 1}), ([1], [1, 2]), ("1", 1)]:
        with pytest.raises(AssertionError):
            _same_json(a, b)


@pytest.mark.parametrize(
    "kw",
    [
        {"query": "cats purring"},
        {"query": "cats purring", "offset": 2},
        {"query": "weather tonight", "one_per_feature": True},
        {"query": "weather tonight", "model_name": "tiny", "source_names": ["1-res-hyd2"]},
    ],
)
def test_raw_page_is_the_orm_page(rich_corpus, kw):
    reference, raw = _reference(**kw), _raw(**kw)
    assert len(raw) >= 2
    _same_json(raw, reference)
    # what the API sends (PostgreSQL's text, unparsed) against what DRF renders of the ORM page
    page, _ = selectors.explanations_search_semantic(user=AnonymousUser(), hydrate="json", **kw)
    assert page.count == len(raw)
    _same_json(json.loads(page.text), json.loads(JSONRenderer().render(reference)))


def test_the_api_serves_the_raw_page(rich_corpus):
    r = APIClient().post("/api/explanation/search-all", {"query": "cats purring"}, format="json")
    assert r.status_code == 200, r.json()
    results = r.json()["results"]
    assert results == json.loads(JSONRenderer().render(_reference(query="cats purring")))
    assert len(results) == len(TEXTS)
    first = next(x for x in results if x["description"] == TEXTS[0])
    assert first["votes"] == 2 and [s["value"] for s in first["scores"]] == [0.35, 1.0]
    assert (
        first["scores"][0]["jsonDetails"] == {"a": "x", "b": [1, 2.5]}
        and first["scores"][1]["jsonDetails"] is None
    )
    assert [a["maxValue"] for a in first["neuron"]["activations"]] == [3.3, 2.5, 1.9]
    assert (
        first["neuron"]["activations"][1]["binContains"] is None
        and first["neuron"]["activations"][1]["binMin"] == -1
    )
    assert first["neuron"]["activations"][1]["dataIndex"] == 2**40
