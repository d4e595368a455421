"""The AI linter API: clusters equal scipy's linkage + fcluster on the same embeddings; naming by
the LLM (a scripted OpenAI-compatible server over real HTTP) or offline by the explanation nearest
the cluster centre; LLM failures and bad input give one clear error and no partial result."""

from __future__ import annotations

import json

import numpy as np
import pytest

from autointerp.tests.llm_server import ScriptedLLM

URL = "/api/monitor/linter"
EMBEDDER = "all-MiniLM-L6-v2"  # the local embedder's name: stored vectors of it are used as-is
DIM = 384


def _vectors(n: int, seed: int) -> np.ndarray:
    """Mixtures of three random directions: distances spread across the 0.6 cut."""
    rng = np.random.default_rng(seed)
    bases = rng.normal(size=(3, DIM))
    weights = rng.dirichlet([0.3, 0.3, 0.3], size=n)
    return weights @ bases + 0.05 * rng.normal(size=(n, DIM))


def _grouped() -> tuple[np.ndarray, list[str]]:
    """Four "cats" vectors, three "finance", two "weather" (dropped: under 3), one loner."""
    rng = np.random.default_rng(7)
    bases = rng.normal(size=(4, DIM))
    rows, texts = [], []
    for base, count, topic in zip(bases, [4, 3, 2, 1], ["cats", "finance", "weather", "loner"], strict=True):
        for k in range(count):
            rows.append(base + 0.2 * rng.normal(size=DIM))
            texts.append(f"{topic} {k}")
    return np.asarray(rows), texts


@pytest.fixture
def explained(db, make_source, make_feature):
    """``make(vectors, texts)`` → concepts: one feature per vector on two sources, each with an
    explanation carrying that embedding."""
    from features.models import Explanation

    sources = [make_source(model="tiny", set_name="res-lint", layer=layer) for layer in (0, 1)]

    def make(vectors, texts):
        concepts = []
        for i, (vector, text) in enumerate(zip(vectors, texts, strict=True)):
            source = sources[i % 2]
            feature = make_feature(source=source, index=i)
            Explanation.objects.create(
                feature=feature,
                description=text,
                embedding=list(map(float, vector)),
                embedding_model=EMBEDDER,
            )
            concepts.append({"source": source.name, "index": i, "position": i % 5})
        return concepts

    return make


@pytest.fixture
def offline(settings):
    settings.OPENAI_API_KEY = ""
    settings.EXPLANATION_EMBEDDER = "local"


@pytest.fixture
def llm(settings):
    def answer(messages):
        lines = [line[2:] for line in messages[-1]["content"].splitlines() if line.startswith("- ")]
        topic = lines[0].split()[0]
        return json.dumps({"name": f"All about {topic}", "score": 3 if topic != "finance" else 2})

    server = ScriptedLLM(answer=answer).start()
    settings.OPENAI_BASE_URL = server.url
    settings.OPENAI_API_KEY = "server-key"
    settings.AUTOINTERP_EXPLAINER_MODEL = "scripted-namer"
    settings.AUTOINTERP_BACKOFF_S = 0.0
    settings.AUTOINTERP_MAX_RETRIES = 1
    settings.EXPLANATION_EMBEDDER = "local"
    yield server
    server.close()


def _scipy_clusters(vectors, concepts) -> list[set]:
    from scipy.cluster.hierarchy import fcluster, linkage

    labels = fcluster(linkage(vectors, method="average", metric="cosine"), t=0.6, criterion="distance")
    groups: dict[int, set] = {}
    for label, c in zip(labels, concepts, strict=True):
        groups.setdefault(int(label), set()).add((c["source"], c["index"]))
    return sorted((g for g in groups.values() if len(g) >= 3), key=len, reverse=True)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_clusters_equal_scipy_linkage_and_fcluster(api_client, explained, offline, seed):
    vectors = _vectors(40, seed)
    concepts = explained(vectors, [f"explanation {i}" for i in range(len(vectors))])
    res = api_client.post(URL, {"modelId": "tiny", "concepts": concepts}, format="json")
    assert res.status_code == 200, res.content
    got = [{(f["source"], f["index"]) for f in c["features"]} for c in res.json()["clusters"]]
    expected = _scipy_clusters(vectors, concepts)
    assert expected, "the fixture must produce clusters of 3 or more"
    assert sorted(map(sorted, got)) == sorted(map(sorted, expected))
    sizes = [c["size"] for c in res.json()["clusters"]]
    assert sizes == sorted(sizes, reverse=True) and sizes == [len(g) for g in got]


def test_offline_names_are_the_explanation_nearest_the_centre(api_client, explained, offline):
    vectors, texts = _grouped()
    concepts = explained(vectors, texts)
    res = api_client.post(URL, {"modelId": "tiny", "concepts": concepts}, format="json")
    assert res.status_code == 200, res.content
    body = res.json()
    assert body["naming"] == "centre" and body["model"] is None
    clusters = body["clusters"]
    assert [c["size"] for c in clusters] == [4, 3]  # weather (2) and the loner dropped
    for cluster in clusters:
        members = [texts.index(f["explanation"]) for f in cluster["features"]]
        unit = vectors[members] / np.linalg.norm(vectors[members], axis=1, keepdims=True)
        centre = unit.mean(axis=0)
        nearest = texts[members[int(np.argmax(unit @ (centre / np.linalg.norm(centre))))]]
        assert cluster["name"] == nearest and cluster["score"] is None
        assert cluster["positions"] == sorted({i % 5 for i in members})
    assert clusters[0]["name"].startswith("cats") and clusters[1]["name"].startswith("finance")


def test_llm_names_each_cluster_with_a_score(api_client, explained, llm):
    vectors, texts = _grouped()
    concepts = explained(vectors, texts)
    res = api_client.post(URL, {"modelId": "tiny", "concepts": concepts}, format="json")
    assert res.status_code == 200, res.content
    body = res.json()
    assert body["naming"] == "llm" and body["model"] == "scripted-namer"
    assert [(c["name"], c["score"], c["size"]) for c in body["clusters"]] == [
        ("All about cats", 3, 4),
        ("All about finance", 2, 3),
    ]
    sent = llm.chat_requests()
    assert len(sent) == 2 and all(r["model"] == "scripted-namer" for r in sent)
    assert any("- cats 0" in r["messages"][-1]["content"] for r in sent)
    # minScore drops clusters the LLM found incoherent
    res = api_client.post(URL, {"modelId": "tiny", "concepts": concepts, "minScore": 3}, format="json")
    assert [c["name"] for c in res.json()["clusters"]] == ["All about cats"]


@pytest.mark.parametrize("failure", [401, "garbage", "not-json-name"])
def test_llm_failure_is_one_clear_error_and_no_partial_result(api_client, explained, llm, failure):
    vectors, texts = _grouped()
    concepts = explained(vectors, texts)
    if failure == "not-json-name":
        llm.answer = lambda messages: "a fine cluster, I would say"
    else:
        llm.fail_next(failure)
    res = api_client.post(URL, {"modelId": "tiny", "concepts": concepts}, format="json")
    assert res.status_code == 502, res.content
    body = res.json()
    assert set(body) == {"error"} and body["error"]
    if failure == 401:
        assert "HTTP 401" in body["error"]


def test_concepts_without_explanations_are_skipped(api_client, explained, make_feature, offline):
    from models_app.models import Source

    vectors, texts = _grouped()
    concepts = explained(vectors, texts)
    source = Source.objects.get(name="0-res-lint")
    make_feature(source=source, index=50)  # no explanation
    res = api_client.post(
        URL, {"modelId": "tiny", "concepts": [*concepts, {"source": source.name, "index": 50}]}, format="json"
    )
    assert res.status_code == 200
    assert res.json()["skipped"] == [{"source": "0-res-lint", "index": 50, "reason": "no explanation"}]
    assert res.json()["concepts"] == len(concepts)


@pytest.mark.parametrize(
    "body,field",
    [
        ({"modelId": "tiny", "concepts": []}, "concepts"),
        ({"modelId": "tiny"}, "concepts"),
        ({"modelId": "tiny", "concepts": [{"source": "0-res-lint", "index": -1}]}, "concepts"),
        ({"modelId": "tiny", "concepts": ["0-res-lint/1"]}, "concepts"),
        ({"modelId": "tiny", "concepts": [{"source": "0-res-lint", "index": 1}], "minScore": 9}, "minScore"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(api_client, explained, offline, body, field):
    explained(*_grouped())
    res = api_client.post(URL, body, format="json")
    assert res.status_code == 400, res.content
    assert res.json()["error"].startswith(field)


def test_unknown_source_is_404_naming_it(api_client, explained, offline):
    explained(*_grouped())
    res = api_client.post(
        URL, {"modelId": "tiny", "concepts": [{"source": "9-nope", "index": 1}]}, format="json"
    )
    assert res.status_code == 404, res.content
    assert res.json()["error"].startswith("concepts") and "9-nope" in res.json()["error"]


def test_unknown_model_is_404(api_client, db, offline):
    res = api_client.post(
        URL, {"modelId": "nope", "concepts": [{"source": "0-x", "index": 1}]}, format="json"
    )
    assert res.status_code == 404 and "nope" in res.json()["error"]


def test_query_count_does_not_grow_with_concepts(
    api_client, explained, offline, django_assert_max_num_queries
):
    vectors = _vectors(60, 3)
    concepts = explained(vectors, [f"explanation {i}" for i in range(len(vectors))])
    with django_assert_max_num_queries(10):  # 4 of them: the rate limiter
        res = api_client.post(URL, {"modelId": "tiny", "concepts": concepts}, format="json")
    assert res.status_code == 200 and res.json()["concepts"] == 60
