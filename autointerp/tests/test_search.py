"""Semantic explanation search: finds by meaning (no shared words), visibility in SQL before
the limit (full pages), keyword mode kept, embed_explanations backfill."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from features.models import Explanation
from neuronsite.fields import Visibility

TOPICS = {
    "cats": "small furry pets that purr and chase mice",
    "money": "stock market prices and interest rates",
    "weather": "rain, storms and the forecast for tomorrow",
    "code": "python functions that return a list",
}


@pytest.fixture
def corpus(make_source, make_feature, make_user):
    owner = make_user()
    public = make_source(model="tiny", set_name="res-pub", layer=0)
    private = make_source(
        model="tiny", set_name="res-priv", layer=1, visibility=Visibility.PRIVATE, owner=owner
    )
    for i, text in enumerate(TOPICS.values()):
        Explanation.objects.create(feature=make_feature(source=public, index=i), description=text)
    secret = Explanation.objects.create(
        feature=make_feature(source=private, index=0), description="kittens and cats"
    )
    call_command("embed_explanations", verbosity=0)
    return {"owner": owner, "secret": secret, "public": public, "private": private}


def _search(client, path="search-all", **body):
    return client.post(f"/api/explanation/{path}", body, format="json")


def test_finds_by_meaning_and_respects_visibility(corpus):
    r = _search(APIClient(), query="feline animals")
    assert r.status_code == 200, r.json()
    results = r.json()["results"]
    assert results[0]["description"] == TOPICS["cats"]  # no word in common with the query
    assert "kittens and cats" not in {x["description"] for x in results}  # private source
    assert results[0]["cosine_similarity"] > results[1]["cosine_similarity"]
    assert results[0]["neuron"]["layer"] == "0-res-pub" and "activations" in results[0]["neuron"]

    owner = APIClient()
    owner.force_authenticate(corpus["owner"])
    mine = [x["description"] for x in _search(owner, query="feline animals").json()["results"]]
    assert set(mine[:2]) == {"kittens and cats", TOPICS["cats"]}


def test_scopes_and_keyword_mode(corpus):
    client = APIClient()
    r = _search(client, "search-model", modelId="tiny", query="weather tomorrow")
    assert r.json()["results"][0]["description"] == TOPICS["weather"]
    r = _search(client, "search", modelId="tiny", layers=["1-res-priv"], query="feline animals")
    assert r.json()["results"] == []
    r = _search(client, "search-release", releaseName="nope", query="feline animals")
    assert r.json()["results"] == []
    r = _search(client, query="feline animals", mode="keyword")
    assert r.json()["results"] == [] and r.json()["mode"] == "keyword"
    r = _search(client, query="stock market", mode="keyword")
    assert [x["description"] for x in r.json()["results"]] == [TOPICS["money"]]
    r = _search(client, query="ab")
    assert r.status_code == 400 and "query" in r.json()["error"]
    r = _search(client, query="cats", mode="fuzzy")
    assert r.status_code == 400 and "mode" in r.json()["error"]


def test_pages_are_full_when_hidden_rows_rank_first(corpus, make_feature, django_assert_max_num_queries):
    # 25 private cat explanations would fill the first page if visibility were applied after
    # the LIMIT; 22 public ones about other things must still give a full page of 20.
    for i in range(25):
        Explanation.objects.create(
            feature=make_feature(source=corpus["private"], index=10 + i), description=f"cats {i}"
        )
    for i in range(22):
        Explanation.objects.create(
            feature=make_feature(source=corpus["public"], index=10 + i),
            description=f"a pet that meows, number {i}",
        )
    call_command("embed_explanations", verbosity=0)
    with django_assert_max_num_queries(8):
        r = _search(APIClient(), query="felines")
    body = r.json()
    assert len(body["results"]) == 20 and body["hasMore"] is True
    assert all(x["layer"] == "0-res-pub" for x in body["results"])
    r = _search(APIClient(), query="felines", offset=20)
    assert len(r.json()["results"]) == 6 and r.json()["hasMore"] is False  # 22 + 4 topics


def test_one_hit_per_feature(corpus):
    feature = Explanation.objects.get(description=TOPICS["cats"]).feature
    Explanation.objects.create(feature=feature, description="cats and their whiskers")
    call_command("embed_explanations", verbosity=0)
    plain = _search(APIClient(), query="feline animals").json()["results"]
    one = _search(APIClient(), query="feline animals", onePerFeature=True).json()["results"]
    assert [x["index"] for x in plain[:2]] == ["0", "0"]
    assert [x["index"] for x in one].count("0") == 1 and len(one) == len(plain) - 1


def test_embed_command_records_model_and_skips_done(corpus, capsys):
    row = Explanation.objects.get(description=TOPICS["code"])
    assert row.embedding_model == "all-MiniLM-L6-v2" and len(row.embedding) == 384
    call_command("embed_explanations")
    assert "Embedded 0 explanation(s)." in capsys.readouterr().out
    Explanation.objects.filter(pk=row.pk).update(embedding_model="old-model")
    call_command("embed_explanations")
    assert "Embedded 1 explanation(s)." in capsys.readouterr().out
    call_command("embed_explanations", "--force")
    assert "Embedded 5 explanation(s)." in capsys.readouterr().out


def test_openai_compatible_embedder_and_re_embedding(llm, settings, make_feature, make_source):
    """The pluggable alternative: an OpenAI-compatible /embeddings endpoint (scripted, real HTTP);
    switching embedders re-embeds, and search only ranks rows of the current embedder."""
    import math

    def embed(text):
        vec = [0.0] * 384
        vec[0 if "cat" in text else 1] = 1.0
        return vec

    llm.embed = embed
    source = make_source()
    Explanation.objects.create(feature=make_feature(source=source, index=1), description="about cats")
    Explanation.objects.create(feature=make_feature(source=source, index=2), description="about money")
    settings.EXPLANATION_EMBEDDER = "openai"
    settings.EXPLANATION_EMBEDDING_MODEL = "scripted-embedder"
    call_command("embed_explanations", verbosity=0)
    assert set(Explanation.objects.values_list("embedding_model", flat=True)) == {"openai:scripted-embedder"}
    r = _search(APIClient(), query="cat pictures")
    results = r.json()["results"]
    assert [x["description"] for x in results] == ["about cats", "about money"]
    assert math.isclose(results[0]["cosine_similarity"], 1.0, abs_tol=1e-6)
    assert llm.requests[-1]["path"].endswith("/embeddings")
    settings.EXPLANATION_EMBEDDER = "local"
    assert _search(APIClient(), query="cat pictures").json()["results"] == []  # other model's vectors
    call_command("embed_explanations", verbosity=0)
    assert set(Explanation.objects.values_list("embedding_model", flat=True)) == {"all-MiniLM-L6-v2"}


def test_the_embedder_is_warmed_only_when_asked(settings):
    from autointerp.engines import embeddings

    settings.AUTOINTERP_PRELOAD_EMBEDDER = False
    assert embeddings.schedule_warm() is None
    settings.AUTOINTERP_PRELOAD_EMBEDDER = True
    thread = embeddings.schedule_warm()
    thread.join()
    assert embeddings._model is not None  # loaded once, kept for the process
    assert embeddings.sentence_transformer() is embeddings._model


def test_hits_carry_their_features_three_best_activations(corpus):
    from features.models import Activation

    cats = Explanation.objects.get(description=TOPICS["cats"]).feature
    money = Explanation.objects.get(description=TOPICS["money"]).feature
    for value in [1.0, 4.0, 2.0, 3.0]:
        Activation.objects.create(feature=cats, tokens=["a", "b"], values=[0.0, value], max_value=value)
    Activation.objects.create(feature=money, tokens=["c"], values=[9.0], max_value=9.0)
    results = _search(APIClient(), query="feline animals").json()["results"]
    by_index = {x["index"]: x["neuron"]["activations"] for x in results}
    assert [a["maxValue"] for a in by_index[str(cats.index)]] == [4.0, 3.0, 2.0]
    assert [a["maxValue"] for a in by_index[str(money.index)]] == [9.0]
    code = Explanation.objects.get(description=TOPICS["code"]).feature
    assert by_index[str(code.index)] == []


def test_each_user_sees_their_own_private_sources(corpus, make_user):
    # the compiled visibility SQL is kept per user: the owner's search must not serve another's
    owner, other = APIClient(), APIClient()
    owner.force_authenticate(corpus["owner"])
    other.force_authenticate(make_user())
    for _ in range(2):
        mine = {x["description"] for x in _search(owner, query="feline animals").json()["results"]}
        theirs = {x["description"] for x in _search(other, query="feline animals").json()["results"]}
        assert "kittens and cats" in mine and "kittens and cats" not in theirs
    staff = make_user(is_staff=True)
    client = APIClient()
    client.force_authenticate(staff)
    seen = {x["description"] for x in _search(client, query="feline animals").json()["results"]}
    assert "kittens and cats" in seen


def test_a_page_is_one_round_trip_over_the_halfvec_index(corpus, django_assert_num_queries):
    # ranking, visibility, paging and the page's JSON in one statement (sent with its planner
    # settings), walking the HNSW index over the halfvec cast of the embeddings; the statement
    # is prepared on the connection in that round trip, and only executed after
    from django.db import connection

    _search(APIClient(), query="feline animals")  # the scope's visibility SQL compiled once
    with django_assert_num_queries(1) as captured:
        r = _search(APIClient(), query="feline animals", onePerFeature=True)
    assert r.status_code == 200 and r.json()["results"][0]["description"] == TOPICS["cats"]
    parts = captured.captured_queries[0]["sql"].split("; ")
    # prepared on its first use on this connection (possibly by an earlier test), then executed
    assert any(p.startswith("EXECUTE ") for p in parts)
    assert all("<=>" not in p or p.startswith("PREPARE ") for p in parts)
    with django_assert_num_queries(1) as captured:
        again = _search(APIClient(), query="feline animals", onePerFeature=True)
    assert again.json()["results"] == r.json()["results"]
    parts = captured.captured_queries[0]["sql"].split("; ")
    assert not any("PREPARE" in p for p in parts)
    statement = next(p for p in parts if p.startswith("EXECUTE "))
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE tablename = 'features_explanation'")
        indexes = " ".join(row[0] for row in cursor.fetchall())
        cursor.execute("SAVEPOINT plan")
        cursor.execute("SET LOCAL enable_sort = off")
        cursor.execute("SET LOCAL enable_seqscan = off")  # a tiny table: the planner would scan it
        cursor.execute("SET LOCAL plan_cache_mode = force_custom_plan")
        cursor.execute("EXPLAIN " + statement)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("ROLLBACK TO SAVEPOINT plan")
    assert "halfvec_cosine_ops" in indexes and "vector_cosine_ops" not in indexes.replace("halfvec_", "")
    assert "explanation_embedding_half_hnsw" in plan


@pytest.mark.parametrize(
    "in_transaction",
    [pytest.param(False, marks=pytest.mark.django_db(transaction=True)), True],
)
def test_a_search_prepares_again_when_the_server_lost_its_statements(corpus, in_transaction):
    # DISCARD ALL (or a pooler handing out another session) drops the connection's prepared
    # statements: the next search prepares its statement again instead of failing, also inside
    # a caller's transaction (which it leaves usable)
    from django.contrib.auth.models import AnonymousUser
    from django.db import connection, transaction

    from autointerp.selectors import explanations_search_semantic

    def search():
        return explanations_search_semantic(query="feline animals", user=AnonymousUser())[0]

    first = search()
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")
    if in_transaction:
        with transaction.atomic():
            assert search() == first
            assert Explanation.objects.count() == 5  # the transaction still works
    else:
        assert search() == first
    assert search() == first


def test_embedding_in_chunks_writes_what_one_encode_gives(corpus):
    """``explanations_embed`` encodes the next chunk in a thread while it writes the one before:
    with chunks of 2 rows (3 chunks here) every row gets the vector one encode call over all the
    texts gives, and the progress counts every row once."""
    import numpy as np

    from autointerp.engines.embeddings import LocalEmbedder
    from autointerp.services import explanations_embed

    rows = list(Explanation.objects.order_by("pk").values_list("pk", "description"))
    seen = []
    written = explanations_embed(
        force=True, batch_size=2, progress=lambda done, total: seen.append((done, total))
    )
    assert written == len(rows) == 5 and seen == [(0, 5), (2, 5), (4, 5), (5, 5)]
    expected = LocalEmbedder().encode([d for _, d in rows])
    stored = dict(Explanation.objects.values_list("pk", "embedding"))
    for (pk, _), vector in zip(rows, expected, strict=True):
        assert np.allclose(np.asarray(stored[pk]), vector, atol=1e-5), pk
