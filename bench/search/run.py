"""Semantic explanation search at scale, and embedding throughput.

In one run, on its own database of the embedded server (created, then dropped):
  (a) BENCH_N (default 200,000) explanations with 384-d unit vectors drawn around BENCH_CLUSTERS
      topic centres (sentence embeddings cluster by topic), across 10 sources of which one is
      private; the HNSW index is built as the migration defines it;
  (b) BENCH_QUERIES queries (near existing points) as API calls, ``POST /api/explanation/
      search-all`` through the DRF view (validation, ranking with visibility in SQL, hydration,
      JSON rendering) as an anonymous user, every explanation with a type, explainer, author, two
      scores, a third with a vote, BENCH_ACTS activations of BENCH_TOKENS tokens per feature:
      recall@20 against an exact scan of the visible rows (numpy), p50 / p95 latency; each query
      also through the ORM hydration it replaced (``hydrate="orm"``, the baseline; the two pages
      must be equal), with the ratio of CPU time per page;
  (c) embedding throughput: ``LocalEmbedder.encode`` (what writes and ``embed_explanations``
      use) against bare ``SentenceTransformer.encode`` on the same BENCH_TEXTS texts
      (pydoc topics, split into sentences) with the same batch size.
Prints recall@20 (goal >= 0.95), p95 ms (goal <= 15) and ours/bare texts-per-second (goal >= 0.9),
with this process's CPU time per query and the load average (wall-clock times on a loaded
machine are mostly waiting for a CPU). BENCH_REUSE_DB=1 keeps the seeded database for the next run.

Measured 2026-11-27, 200,000 rows, 200 queries, ef_search 200, on the 2-core dev machine under
heavy load (load average ~15): recall@20 0.998 (min 0.95); wall p50 385.7 ms, p95 592.5 ms;
CPU time in this process p50 16.1 ms, p95 22.7 ms; ranking query in the server (EXPLAIN
ANALYZE) p50 19.2 ms, p95 29.7 ms. ef_search 100 on the same rows: recall@20 0.978 with 4 of
200 queries at 0 (the HNSW walk stayed in another cluster); ef_search 400 (the old value) reads
about twice the index pages of 200 (EXPLAIN BUFFERS: ~7,400 vs ~3,500 shared hits; 100: ~1,500).
The p95 <= 15 ms goal is not met: the Django hydration of a full API page (scores, votes,
3 activations) alone costs ~16 ms of CPU.
Measured 2026-11-27 after the raw SQL page (``autointerp/search_hydrate.py``), BENCH_N=20000,
200 queries, BENCH_SKIP_EMBEDDING=1, 2-core dev machine at load ~3.7: CPU per API page (view,
validation, ranking, hydration, rendering) p50 8.8 ms / p95 10.1 ms raw SQL against 28.5 / 34.1 ms
through the ORM (0.31, 3.2x less); wall p50 29.4 / p95 40.4 ms (ORM 50.6 / 65.8) at that load;
ranking query in the server p50 7.5 ms. Of the raw page's CPU (cProfile): DRF input validation
~1.5 ms, JSON rendering ~2 ms, ranking round trip ~1.5 ms, page statement + one JSON parse ~3 ms.
(recall@20 at 20,000 rows over 2,000 clusters is 0.88: ten points per cluster, not the 200k
distribution.)
Embedding, same run conditions (load ~15, torch 2 threads, 2,000 pydoc sentences, batch 64):
bare 9 texts/s, engine encode 10/s, explanations_embed end to end 11/s: ours/bare 1.12 and
1.21 (goal >= 0.9; at this load the spread between rounds is wider than the differences).
Quiet re-measure after the merge (2026-11-27 23:44 UTC, load average 2.2, 200,000 rows, 200 queries,
BENCH_SKIP_EMBEDDING=1): recall@20 0.999 (min 0.95); API page end to end (raw SQL) wall p50 29.3 ms,
p95 41.0 ms (goal 15 ms: not met); CPU in this process p50 8.0 / p95 9.1 ms; the ORM page in the
same run p95 62.6 ms (CPU 26.3 ms); ranking query in the server p50 5.4 / p95 6.5 ms (repeated
vectors; a vector the server has not seen walks the index from memory, ~2x slower, see
bench/monitor_search).
2026-11-28 (helper S3): the index is now over ``embedding::halfvec(384)`` (features migration
0004; 223 MB against 391 MB for the float32 index at 200,000 rows), the ranking re-ranks the rows
it took by the exact float32 cosine, and the API page is ONE statement (ranking, visibility,
paging, has-more and the page's JSON; it was two round trips), the embedded server runs with
shared_buffers 1 GB (a quarter of RAM, capped; it was 128 MB, too small for the index: in the
experiment below 1,900-2,900 of ~3,700 pages per query came from the OS cache, not the buffers). The server-side
timing now EXPLAIN ANALYZEs the whole page statement on 50 vectors the server has not seen.
Measured on the 2-core dev machine under heavy load from other work (load average 10-14):
recall@20 0.997 (min 0.95); CPU in this process per API page p50 7.6 / p95 10.0 ms (ORM page
27.0 / 35.7 ms); wall p50 109 / p95 190 ms (scheduling: every process waits for a CPU; the goal of
15 ms p95 could not be checked on this machine); page statement in the server (first-seen
vectors, ~4,360 buffer pages) p50 47.9 / p95 57.7 ms at that load. ef_search sweep (same run):
100 gives recall@20 0.987, 200 gives 0.997 (index built with ef_construction 64).
Same day, one experiment (server-side EXPLAIN ANALYZE, 40 first-seen vectors per config,
interleaved, topK 50 on the bench/monitor_search rows, load ~12, shared_buffers 128 MB):
float32 index ef 200: p50 63.7 ms, 2,853 pages read from the OS cache (p50), recall@50 0.994;
halfvec ef 200: p50 50.6 ms, 1,922 read, recall 0.996; halfvec ef 100: p50 20.9 ms but one query
at recall 0 (the walk stayed in another cluster), ef 60: 12.3 ms, recall 0.994, ef 40: 0.846.
Then (same day) the joins of the page statement planned in the written order
(join_collapse_limit 1; planning p50 12.6 -> 1.6 ms, same plan) and the index rebuilt with
ef_construction 128, ef_search 100 (bench/monitor_search has the experiment). This run, load
average ~9 on the 2 cores, 200 queries, BENCH_EF_SWEEP=100,200: recall@20 1.000 (min 0.95); API
page wall p50 46.8 / p95 75.3 ms (goal 15 ms: not shown met; the machine was never quiet); CPU
in this process p50 6.1 / p95 9.3 ms (ORM page 22.9 / 33.7 ms, 0.27); the page statement in the
server, first-seen vectors, 2,944 buffer pages (p50; was ~4,360 at ef 200 on the old graph),
p50 19.8 / p95 29.1 ms at that load; sweep: ef 100 recall 1.000 p50 48.0 ms, ef 200 recall 1.000
p50 66.1 ms. Where this process's CPU goes now (cProfile, CPU clock): DRF's JSON rendering of
the page ~1.7 ms and parsing the statement's JSON text ~1.1 ms of ~6 ms; splicing PostgreSQL's
JSON text into the response unparsed would save most of both (not done: the page is then no
longer byte-identical to the ORM reference, floats like 9.0 come out as 9).
Quiet re-measure after the merge (2026-11-28 02:05-02:11 UTC, load average 2.3, main 6f21839, 200 queries,
BENCH_TEXTS=500): recall@20 0.995 (one query at 0); API page end to end wall p50 20.0 / p95 24.4 ms (goal
15 ms: NOT met); CPU in this process p50 7.5 / p95 9.2 ms (ORM page 26.5 ms); page statement in the
server on first-seen vectors p50 7.13 / p95 8.63 ms (3,028 buffer pages); embedding (500 texts, batch
64, 2 threads): bare 79/s, engine 77/s = 0.97 (goal 0.9: met), embed_explanations end to end 0.74.
2026-11-28 03:15-04:10 UTC (helper S4), after-state of each step on the kept 200,000-row database
(BENCH_REUSE_DB=1 BENCH_SKIP_EMBEDDING=1, 200 queries); the machine was never quiet (load average
7-11 on the 2 cores), so wall times are inflated and the CPU and server-side figures are the ones
to compare. (1) The page's JSON text from PostgreSQL is spliced into the response body unparsed
(``autointerp.api.search.semantic_response``; integers and score details now come out of
PostgreSQL as JSON numbers and JSON, so the page is the ORM page's JSON *value*, compared parsed)
and (2) a plain JSON body is validated without DRF's serializer when it is certainly valid
(``fast_validated``: 0.84 ms -> 0.013 ms per call at load 13; anything unusual falls back to the
serializer and its error messages): CPU in this process per API page p50 7.5 -> 2.2 ms, p95 9.2 ->
2.6 ms (ORM page 27 ms, 0.08). (3) The page's statement is a prepared statement per connection
executed with its generic plan (``plan_cache_mode`` force_generic_plan): planning 1.5-5 ms
(custom plan, load 7-10; plus parse analysis of the big text, which EXPLAIN does not show) ->
0.2 ms, the same plan. (4) Timestamps in the page: one ``to_char`` each (was a UTC conversion, an
extract and two). (5) ef_search 100 -> 80: on 600 queries recall@20 0.9997 at both (min 0.95, none
below 0.9; ef 60: two queries at 0), 2,586 index + page buffer pages per statement against 2,958,
statement p50 ~17% faster (interleaved EXPLAIN ANALYZE of first-seen vectors, load ~6). Breakdown
with timestamps (the raw page, this run's client clock): the statement's round trip is ~90% of the
wall time, the rest of the call (DRF view, validation, response) p50 1.5 ms. Last run, load
average 9-11: recall@20 1.000 (min 0.95); API page end to end wall p50 18.1 / p95 26.4 ms (goal
15 ms: not shown met at this load; the same bench before these steps, load ~10: 34.5 / 52.6 ms);
CPU in this process p50 1.8 / p95 2.5 ms (ORM page 20.6 / 29.8 ms); the page statement in the
server on first-seen vectors p50 9.1 / p95 14.1 ms, planning 0.18 ms (2,586 buffer pages). Where a
quiet machine's p95 would land is the quiet re-measure's to say: before these steps it was 24.4 ms
with 9.2 ms of this process's CPU and ~1-1.5 ms of planning now gone. A last run at 04:18 UTC,
load average 5.1: wall p50 12.4 / p95 22.0 ms; the statement's round trip p50 10.8 / p95 17.9 ms,
the rest of the call p50 1.2 ms; CPU p50 1.5 / p95 2.3 ms (ORM 17.3 ms); the statement in the
server p50 9.5 / p95 14.7 ms (planning 0.19 ms). What is left is the statement: the HNSW walk is
~3/4 of it (EXPLAIN ANALYZE: ~2,000 of its ~2,600 buffer pages), the page's JSON (80 kB: three
activations of 32 tokens per hit) most of the rest.
Run: ``BENCH_REUSE_DB=1 BENCH_SKIP_EMBEDDING=1 .venv/bin/python bench/search/run.py`` (the first run
seeds 200,000 rows and builds the index: ~15 min on 2 busy cores; drop BENCH_REUSE_DB to seed anew).
Quiet re-measure after the merge (2026-11-28 04:47 and 04:56 UTC, load average 1.4 and 0.6, main 94230a8,
200 first-seen queries, ef_search 80): recall@20 1.000 both runs (min 0.95); API page end to end
p50 10.9 / p95 15.0 ms and p50 10.2 / p95 16.2 ms (goal <= 15: met in the first run, missed by
1.2 ms in the second, so NOT reliably met); CPU in this process p50 2.1 / 1.9 ms (ORM page 25.4 / 23.7,
12x more); statement round trip p50 9.2 / 8.7, p95 12.9 / 13.9 ms; in the server (EXPLAIN ANALYZE)
p50 7.75 / 7.17, p95 9.20 / 9.04 ms, planning 0.2 ms; embedding (500 texts, batch 64): bare 71/s,
engine 93/s (1.30), embed_explanations end to end 0.95 (goal >= 0.9: met).
2026-11-28 05:50-06:40 UTC (helper S5), the four levers of the p95 on the kept 200,000-row database. The
machine was never quiet (load average 5-15: three other helpers), so the figures to compare are CPU
times, buffer pages and recall; the run now also prints the server's CPU time per page (its backend's
``/proc/<pid>/schedstat`` clock: parse, plan, run, send) and "waiting" (wall - this process's CPU - the
server's CPU), and that split for the slowest 5% of calls; ``BENCH_EF`` sets the API's ef_search for a run.
(1) Where the round trip exceeds the server: waiting for a CPU, not work. Run at load 6.8 (06:27): wall
p50 10.4 / p95 22.3 ms, server CPU p50 7.1 / p95 9.0, this process 1.5 / 1.9, waiting p50 0.6 / p95
13.5 ms; at load 8.2 (06:33): wall 16.0 / 25.5, server CPU 7.9 / 9.6, waiting 6.8 / 14.7. Transfer and
decoding of the 80 kB text are tens of microseconds; this process's CPU p95 - p50 is ~0.4 ms, so no GC
pause of note (nothing changed there). The query vector's SQL literal (sent twice per call) is now
rounded to float32 and written with 9 significant digits (the same vector): 0.43 -> 0.11 ms of client
CPU per call, 8 -> 5 kB per copy. (2) The HNSW walk. Why queries come back at recall 0: the walk never
reaches the query's cluster (2,000 nearly orthogonal cluster centres: the greedy descent has no gradient
between clusters). Not the visibility filter nor the iterative scan: the same query run without any
filter is also at 0 at ef 40 (found at ef 60), and the LIMIT is filled by wrong-cluster rows that pass
the filters, so the iterative scan has no reason to walk on. It is a rate that falls with ef, not a
threshold: ranking statement alone, 400 first-seen queries, index m 16 / ef_construction 128: ef 40
recall@20 0.975, 8 queries below 0.9, 1,320 buffer pages (p50), server CPU p50 3.2 ms; ef 60 0.994, 2,
1,640, 3.7 ms; ef 80 0.997, 1 (at 0), 1,926, 4.2 ms. Index build parameters (80-100 queries each,
interleaved: the other index dropped inside a rolled-back transaction): m 12 reads ~20% fewer pages at
equal ef but recall@20 0.963 at ef 80 with 3 queries at 0 (0.884 at ef 40); ef_construction 256 reads
more pages at equal ef (2,216 against 1,922 at ef 80: the graph keeps more neighbours) and still left
queries at 0 at ef 40 and 60 (build 17 min against ~7). Neither fixes the cause, so the index stays as
features migration 0004 builds it (no migration) and ef_search stays 80: in two interleaved bench pairs
(load 7-15) ef 60 had a query at recall 0 among the bench's 200 (recall 0.994) and its server CPU per
page was within the noise of ef 80 (p50 6.5 and 7.7 against 7.1 and 6.7 ms). (3) The page's JSON:
server CPU of the page part alone (prepared, 40 windows of 20 ids, warm, load ~8): whole 2.2-3.8 ms;
the activations' JSON (60 activations of 32 tokens and values) 1.1-1.3 ms of it, reading them
0.25-0.4, the scores 0.55, timestamps 0.1, the hits' own JSON and joins ~0.9, bind and send 0.2. Score
details are now written from the jsonb as it is (the ``::json`` cast parsed the text again; the same
output; ~0.05 ms here, more with real per-example details); the score names by scalar subqueries
instead of joins changed nothing (not kept). The largest part left, the activations' JSON, would need
each activation's JSON text precomputed with the row (features' table, not done here). (4) The tail: the
slowest 5% by wall time had about the median's server CPU (p50 8.5 against 7.9 ms) and 16.4 ms of
waiting: stalls, not particular queries. By server CPU the slowest are the queries whose walk reads
more pages (correlation of pages and server CPU 0.4-0.8; up to 4,100 pages against 2,500 p50), a spread
of p95 / p50 ~1.2-1.3. Where this leaves the goal: server CPU per page p50 ~7, p95 ~9-9.6 ms plus ~2 ms
in this process, so a quiet run lands at p95 ~11-12 ms only without waits; the quiet re-measure before
this had ~3-4 ms of waiting at p95. Last run (06:33, load 8.2): recall@20 1.000 (min 0.95); wall p50
16.0 / p95 25.5 ms (goal 15: not shown at this load); CPU in this process p50 1.7 / p95 2.0 ms (ORM page
25.0, 14.9x more); the page statement in the server (EXPLAIN ANALYZE) p50 10.2 / p95 18.5 ms.
Quiet re-measure after the merge (2026-11-28 07:14-07:22 UTC, main c9edfa2, load average 0.9-2.1, ef_search
80, 200 first-seen queries): the p95 came from a cold buffer pool. Each run of this script starts
the embedded server; its old warm-up (five of the timed queries) left the 224 MB HNSW index
(28,642 pages) outside shared buffers, so the timed walks read pages from the OS as they went:
wall p50 10.0 / p95 16.0 ms and p50 9.3 / p95 29.1 ms in two cold runs, with the slowest 5% taking
twice the median's server CPU (16.8 vs 8.4 ms), while the same statement's EXPLAIN ANALYZE after
the loop (warm) had p95 9.75 ms. A server in service keeps its index in shared buffers (1 GB), so
the warm-up now walks the index with 500 other queries (their own random stream, never the timed
ones; ``BENCH_WARM=0`` gives the cold figure). Two runs, each from a freshly started server:
recall@20 1.000 (min 0.95) both; API page end to end p50 7.7 / p95 9.9 ms and p50 8.9 / p95
10.9 ms (goal <= 15 ms: met); the server's CPU per page p50 6.4 / p95 8.5 and 7.5 / 9.3 ms;
waiting p95 0.1-0.2 ms. Embedding throughput (04:47 UTC run; the embedding code is unchanged since): engine / bare 1.30,
embed_explanations end to end 0.95 (goal >= 0.9).
Embedding, re-measured on the final main (2026-11-28 07:46-07:54 UTC, quiet, 500 texts, batch 64): the
04:47 figure (engine 1.30, end to end 0.95) was noise: with 2 rounds, bare ``encode`` itself ran
at 71-103 texts/s from run to run, and the engine's encode is that same call. Two rounds at 07:46
and 07:48: engine 0.95 and 0.84, end to end 0.70 and 0.72. The end to end figure also writes the
vectors into a table with the 200,000-row HNSW index, whose inserts cost PostgreSQL ~4 ms of CPU a
row (2.2 s for 500 rows against 5.1 s of encoding on both cores). ``explanations_embed`` now
encodes the next chunk while the previous one is written: end to end 0.90 and 0.69 in two 2-round
runs; on 2 cores the overlap can reach at most ~0.82 (encoding already takes both cores). With 5
alternating rounds (now the default): engine encode 0.95 (goal >= 0.9, the issue's comparison of
encoders on the same texts and batch size: met), end to end 0.73 (printed as a stricter check).
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DB_NAME = "bench_search"
N = int(os.environ.get("BENCH_N", 200_000))
N_CLUSTERS = int(os.environ.get("BENCH_CLUSTERS", 2000))
N_QUERIES = int(os.environ.get("BENCH_QUERIES", 200))
N_WARM = 500
N_TEXTS = int(os.environ.get("BENCH_TEXTS", 2000))
BATCH = int(os.environ.get("BENCH_BATCH", 64))
DIM = 384
K = 20
# development: keep the seeded database for the next run (and reuse it when it has BENCH_N rows)
REUSE_DB = os.environ.get("BENCH_REUSE_DB") == "1"
ACTS = int(os.environ.get("BENCH_ACTS", 3))  # activations per feature
TOKENS = int(os.environ.get("BENCH_TOKENS", 32))  # tokens per activation

sys.path.insert(0, str(ROOT))
os.environ["EMBEDDED_DB_NAME"] = DB_NAME
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "neuronsite.settings")


def drop_database() -> None:
    from django.conf import settings

    from neuronsite import embedded_db

    info = embedded_db.ensure_running(Path(settings.DATABASES["default"]["EMBEDDED_DATA_DIR"]))
    embedded_db.drop_database(info, DB_NAME)


def unit(x):
    import numpy as np

    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def make_vectors(rng, n: int):
    import numpy as np

    centres = unit(rng.standard_normal((N_CLUSTERS, DIM)).astype(np.float32))
    return unit(
        centres[rng.integers(0, N_CLUSTERS, n)]
        + 0.35 * rng.standard_normal((n, DIM)).astype(np.float32) / np.sqrt(DIM) * 4
    )


def reuse(rng):
    """BENCH_REUSE_DB=1: the database a previous run kept, when it holds BENCH_N rows (the same
    vectors: the generator replays the seed's draws)."""
    import numpy as np

    from features.models import Explanation

    rows = list(
        Explanation.objects.filter(embedding_model="bench")
        .order_by("id")
        .values_list("id", "feature__source__visibility")
    )
    if len(rows) != N:
        return None
    print(f"reusing the {N:,} explanations of database {DB_NAME}")
    ids = np.array([r[0] for r in rows])
    visible = np.array([r[1] == "PUBLIC" for r in rows])
    return ids, make_vectors(rng, N), visible


def seed(rng):
    """Rows in id order; returns (vectors, visible mask) aligned with explanation ids order."""
    import numpy as np
    from django.db import connection

    from autointerp.selectors import SEARCH_INDEX, SEARCH_INDEX_SQL
    from features.models import Explanation, Feature
    from models_app.models import Model, Source, SourceSet
    from neuronsite.fields import Visibility

    model = Model.objects.create(name="bench", layers=10, d_model=16)
    sset = SourceSet.objects.create(model=model, name="res-bench", type="sae")
    sources = [
        Source.objects.create(
            model=model,
            source_set=sset,
            name=f"{layer}-res-bench",
            layer=layer,
            d_sae=N,
            visibility=Visibility.PRIVATE if layer == 9 else Visibility.PUBLIC,
        )  # fmt: skip
        for layer in range(10)
    ]
    per_source = N // 10
    features = []
    for s in sources:
        features += Feature.objects.bulk_create(
            [Feature(source=s, index=i) for i in range(per_source)], batch_size=10000
        )
    vectors = make_vectors(rng, len(features))
    visible = np.array([f.source_id != sources[-1].pk for f in features])
    # Drop the index while loading (as a bulk import would), then build it.
    with connection.cursor() as c:
        c.execute(f"DROP INDEX IF EXISTS {SEARCH_INDEX}")
    t0 = time.perf_counter()
    # COPY in PostgreSQL's binary format (the vector column's own binary form: dim, 0, float32s
    # big-endian), as a bulk import would load them; bulk_create's text vectors took 13x longer.
    from django.utils import timezone

    now = timezone.now()
    header = np.array([DIM, 0], dtype=">u2").tobytes()
    with connection.cursor() as c:
        raw = c.cursor
        with raw.copy(
            "COPY features_explanation (feature_id, description, notes, status, embedding, embedding_model, "
            "created_at, updated_at) FROM STDIN WITH (FORMAT BINARY)"
        ) as copy:
            copy.set_types(
                ["int8", "text", "text", "varchar", "bytea", "varchar", "timestamptz", "timestamptz"]
            )
            big = vectors.astype(">f4")
            for i, f in enumerate(features):
                copy.write_row(
                    (f.pk, f"explanation {i}", "", "APPROVED", header + big[i].tobytes(), "bench", now, now)
                )
    print(f"inserted {len(features):,} explanations in {time.perf_counter() - t0:.1f} s")
    t0 = time.perf_counter()
    seed_page_data([s.pk for s in sources])
    print(
        f"added types, authors, scores, votes and {ACTS} activations per feature in {time.perf_counter() - t0:.1f} s"
    )
    t0 = time.perf_counter()
    with connection.cursor() as c:
        c.execute("SET maintenance_work_mem = '1GB'")
        c.execute(SEARCH_INDEX_SQL)
        c.execute("ANALYZE features_explanation")
    print(f"built the HNSW index in {time.perf_counter() - t0:.1f} s")
    ids = np.array(list(Explanation.objects.order_by("id").values_list("id", flat=True)))
    return ids, vectors, visible


def seed_page_data(source_ids: list[int]) -> None:
    """What an API page shows besides the ranking, so that hydration costs what it does on a real
    site: every explanation has a type, an explainer model and an author; two scores each (one
    with per-example details); a third have a vote; every feature has ACTS activations of
    TOKENS tokens (a page reads the best 3 of each hit's feature)."""
    from django.contrib.auth import get_user_model
    from django.db import connection

    from features.models import (
        Activation,
        ExplainerModel,
        Explanation,
        ExplanationScore,
        ExplanationScoreType,
        ExplanationType,
        Feature,
        Vote,
    )

    user = get_user_model().objects.create(username="bench-author")
    kind = ExplanationType.objects.create(name="oai_token-act-pair")
    llm = ExplainerModel.objects.create(name="bench-llm")
    fuzz = ExplanationScoreType.objects.create(name="eleuther_fuzz")
    recall = ExplanationScoreType.objects.create(name="eleuther_recall")
    e, a, sc, v, f = (m._meta.db_table for m in (Explanation, Activation, ExplanationScore, Vote, Feature))
    with connection.cursor() as c:
        c.execute(
            f'UPDATE "{e}" SET type_id = %s, explainer_model_id = %s, author_id = %s',
            [kind.pk, llm.pk, user.pk],
        )
        c.execute(
            f'INSERT INTO "{sc}" (explanation_id, score_type_id, scorer_model_id, value, details, author_id, created_at) '
            "SELECT x.id, t.id, %s, random(), CASE WHEN t.id = %s THEN "
            '\'{"examples": [{"text": "a cat sat", "correct": true}, {"text": "dogs", "correct": false}]}\'::jsonb '
            f"ELSE '{{}}'::jsonb END, NULL, now() FROM \"{e}\" x CROSS JOIN (VALUES (%s), (%s)) t(id)",
            [llm.pk, fuzz.pk, fuzz.pk, recall.pk],
        )
        c.execute(
            f'INSERT INTO "{v}" (explanation_id, user_id, created_at) SELECT id, %s, now() FROM "{e}" WHERE id %% 3 = 0',
            [user.pk],
        )
        c.execute(
            f'INSERT INTO "{a}" (feature_id, tokens, "values", max_value, max_value_token_index, min_value, '
            "data_source, dfa_values, created_at) "
            "SELECT f.id, ARRAY(SELECT 'Ġtok' || g FROM generate_series(1, %s) g), "
            "ARRAY(SELECT (g %% 7)::real / 3 FROM generate_series(1, %s) g), random() * 10, 3, 0, 'pile', '{}', now() "
            f'FROM "{f}" f CROSS JOIN generate_series(1, %s) k WHERE f.source_id = ANY(%s)',
            [TOKENS, TOKENS, ACTS, source_ids],
        )
        c.execute(f'ANALYZE "{a}"; ANALYZE "{sc}"; ANALYZE "{v}"')


def _backend_cpu_clock():
    """A function that reads the CPU time (ms) this connection's server process has used so far:
    its ``/proc/<pid>/schedstat`` (Linux, the embedded server on this machine; nanoseconds). A
    figure load does not inflate much, unlike wall times on a shared machine. NaN when the
    server's process cannot be read (a remote server)."""
    from django.db import connection

    with connection.cursor() as c:
        c.execute("SELECT pg_backend_pid()")
        path = Path(f"/proc/{c.fetchone()[0]}/schedstat")
    try:
        path.read_text()
    except OSError:
        return lambda: float("nan")
    return lambda: int(path.read_text().split()[0]) / 1e6


def api_pages(queries) -> dict:
    """Each query as an API call, end to end in this process: ``POST /api/explanation/search-all``
    through the DRF view (input validation, ranking, hydration, JSON rendering), anonymous. Two
    ways per query, alternating so that load drift hits both alike: "raw SQL" (the page as it is
    served: ``autointerp.search_hydrate``'s JSON text spliced into the body) and "ORM" (the same
    page built from model objects, ``hydrate="orm"`` + ``hit_json``, rendered by DRF: the path it
    replaced, the baseline). The query text maps to its vector (no embedding model:
    ``embed_query`` is replaced here). Returns, per way, (wall ms, CPU ms of this process, the
    pages' results, parsed after the clock stopped)."""
    import json

    from django.contrib.auth.models import AnonymousUser
    from django.db import connection
    from django.urls import resolve
    from rest_framework.response import Response
    from rest_framework.test import APIRequestFactory

    from autointerp import selectors
    from autointerp.api import search as search_api

    vectors = {f"bench query {i}": q.tolist() for i, q in enumerate(queries)}
    selectors.embed_query = lambda query: (vectors[query], "bench")
    real_response = search_api.semantic_response

    def orm_response(request, v, **scope):
        page, has_more = selectors.explanations_search_semantic(
            query=v["query"], user=request.user, offset=v["offset"], limit=search_api.SEARCH_PAGE_SIZE,
            one_per_feature=v.get("onePerFeature", False), hydrate="orm", **scope,
        )  # fmt: skip
        next_offset = v["offset"] + len(page)
        return Response(
            {
                "request": dict(request.data),
                "mode": "semantic",
                "results": [search_api.hit_json(e) for e in page],
                "resultsCount": next_offset + (1 if has_more else 0),
                "hasMore": has_more,
                "nextOffset": next_offset,
            }
        )

    db_ms, round_trips, server_cpu = [], [], []
    backend_cpu = _backend_cpu_clock()

    def timed(execute, sql, params, many, context):
        t = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            db_ms.append((time.perf_counter() - t) * 1000)

    factory, anon, route = APIRequestFactory(), AnonymousUser(), resolve("/api/explanation/search-all")
    out = {"raw SQL": ([], [], []), "ORM": ([], [], [])}
    for i in range(len(queries)):
        for way in ("raw SQL", "ORM") if i % 2 == 0 else ("ORM", "raw SQL"):
            search_api.semantic_response = real_response if way == "raw SQL" else orm_response
            request = factory.post(
                "/api/explanation/search-all", {"query": f"bench query {i}"}, format="json"
            )
            request.user, request.resolver_match = anon, route  # the URL's name picks the rate limit
            db_ms.clear()
            s0 = backend_cpu()
            t0, c0 = time.perf_counter(), time.process_time()
            with connection.execute_wrapper(timed):
                response = search_api.explanation_search_all(request)
            if hasattr(response, "render"):  # DRF's Response (the ORM way); the raw way is bytes
                response.render()
            out[way][0].append((time.perf_counter() - t0) * 1000)
            out[way][1].append((time.process_time() - c0) * 1000)
            if way == "raw SQL":
                round_trips.append(sum(db_ms))
                server_cpu.append(backend_cpu() - s0)
            assert response.status_code == 200, response.content
            out[way][2].append(json.loads(response.content)["results"])
    search_api.semantic_response = real_response
    for i, (new, old) in enumerate(zip(out["raw SQL"][2], out["ORM"][2], strict=True)):
        # the same JSON values (PostgreSQL writes the float 9.0 as 9: equal numbers)
        assert new == old, f"query {i}: the raw SQL page differs from the ORM page"
    for way in out:
        wall, cpu = sorted(out[way][0]), sorted(out[way][1])
        print(
            f"API page ({way}): wall p50 {statistics.median(wall):.1f} ms  p95 {wall[int(0.95 * (len(wall) - 1))]:.1f} ms;"
            f"  CPU p50 {statistics.median(cpu):.1f} ms  p95 {cpu[int(0.95 * (len(cpu) - 1))]:.1f} ms"
        )
    rest = sorted(w - d for w, d in zip(out["raw SQL"][0], round_trips, strict=True))
    round_trips.sort()
    print(
        f"  raw SQL: the statement's round trip (send, plan, run, receive; client clock) p50 "
        f"{statistics.median(round_trips):.1f} ms  p95 {round_trips[int(0.95 * (len(round_trips) - 1))]:.1f} ms; "
        f"the rest of the call (Python) p50 {statistics.median(rest):.1f} ms  p95 {rest[int(0.95 * (len(rest) - 1))]:.1f} ms"
    )
    if server_cpu[0] == server_cpu[0]:  # not NaN: the server's CPU clock could be read
        calls = list(zip(out["raw SQL"][0], out["raw SQL"][1], server_cpu, strict=True))
        waits = sorted(w - c - s for w, c, s in calls)
        # the tail: the slowest 5% of calls by wall time, more work (server CPU) or waiting?
        tail = sorted(calls)[-max(1, len(calls) // 20) :]
        print(
            f"  raw SQL, the slowest 5% by wall time: server CPU p50 "
            f"{statistics.median(s for _, _, s in tail):.1f} ms (all calls: {statistics.median(server_cpu):.1f}), "
            f"waiting p50 {statistics.median(w - c - s for w, c, s in tail):.1f} ms"
        )
        server_cpu.sort()
        print(
            f"  raw SQL: the server's CPU time per page (its backend's clock; parse, plan, run, send) p50 "
            f"{statistics.median(server_cpu):.1f} ms  p95 {server_cpu[int(0.95 * (len(server_cpu) - 1))]:.1f} ms; "
            f"waiting (wall - this process's CPU - the server's CPU) p50 {statistics.median(waits):.1f} ms  "
            f"p95 {waits[int(0.95 * (len(waits) - 1))]:.1f} ms"
        )
    new_cpu, old_cpu = statistics.median(out["raw SQL"][1]), statistics.median(out["ORM"][1])
    print(
        f"CPU per API page, raw SQL / ORM (median): {new_cpu / old_cpu:.2f} ({old_cpu / new_cpu:.1f}x less)"
    )
    return out


def bench_search(rng, ids, vectors, visible) -> None:
    import numpy as np
    from django.contrib.auth.models import AnonymousUser

    from autointerp.selectors import explanations_search_semantic

    anon = AnonymousUser()
    if os.environ.get("BENCH_EF"):  # the API's hnsw.ef_search for this run (else the setting's)
        from autointerp import selectors

        selectors.EF_SEARCH = int(os.environ["BENCH_EF"])
    picks = rng.integers(0, len(vectors), N_QUERIES)
    queries = unit(
        vectors[picks] + 0.2 * rng.standard_normal((N_QUERIES, DIM)).astype(np.float32) / np.sqrt(DIM) * 4
    )
    vis_ids, vis_vectors = ids[visible], vectors[visible]
    # Warm-up: a server in service has its HNSW index in shared buffers (1 GB here; the index is
    # 224 MB, 28,642 pages, at 200,000 rows). This process has just started the embedded server,
    # so the timed queries would read a cold index from the OS into shared buffers as they walk
    # it: N_WARM other queries (their own random stream, never the timed ones) walk it first.
    # BENCH_WARM=0 measures from cold (five of the timed queries as the only warm-up).
    warm_rng = np.random.default_rng(1)  # the timed queries come from default_rng(0)
    n_warm = int(os.environ.get("BENCH_WARM", N_WARM))
    warm = unit(
        vectors[warm_rng.integers(0, len(vectors), n_warm)]
        + 0.2 * warm_rng.standard_normal((n_warm, DIM)).astype(np.float32) / np.sqrt(DIM) * 4
    )
    for q in warm if n_warm else queries[:5]:
        explanations_search_semantic(query="warm", user=anon, vector=q.tolist(), embedder_name="bench")
    print(f"warm-up: {n_warm} queries that are not timed (BENCH_WARM; 0: five of the timed ones)")
    pages = api_pages(queries)
    recalls = []
    for q, results in zip(queries, pages["raw SQL"][2], strict=True):
        exact = set(vis_ids[np.argsort(-(vis_vectors @ q))[:K]].tolist())
        recalls.append(len(exact & {int(hit["id"]) for hit in results}) / K)
        assert all(hit["layer"] != "9-res-bench" for hit in results)  # the private source
    times, cpu, _ = pages["raw SQL"]
    # Server-side time of the page's statement (ranking + page JSON; EXPLAIN ANALYZE), to separate
    # the database's work from round trips on a busy machine, on vectors the server has not seen
    # (a repeated vector finds its index pages in the CPU caches: about twice as fast).
    from django.db import connection

    from autointerp.selectors import _SETTINGS_SQL, EF_SEARCH, MAX_SCAN_TUPLES, _vector_literal

    fresh = unit(
        vectors[rng.integers(0, len(vectors), 50)]
        + 0.2 * rng.standard_normal((50, DIM)).astype(np.float32) / np.sqrt(DIM) * 4
    )
    connection.force_debug_cursor = True
    connection.queries_log.clear()
    explanations_search_semantic(
        query="bench query", user=anon, vector=queries[0].tolist(), embedder_name="bench"
    )
    template = next(
        part for x in connection.queries for part in x["sql"].split("; ") if part.startswith("EXECUTE ")
    )  # the page's prepared statement (sent together with its planner settings)
    connection.force_debug_cursor = False
    assert _vector_literal(queries[0].tolist()) in template
    server_ms, planning_ms, blocks = [], [], []
    for q in fresh:
        sql = template.replace(_vector_literal(queries[0].tolist()), _vector_literal(q.tolist()))
        with connection.cursor() as c:
            c.execute("BEGIN")
            c.execute(_SETTINGS_SQL, [str(EF_SEARCH), str(MAX_SCAN_TUPLES)])  # the API's planner settings
            c.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql)
            plan = c.fetchone()[0]
            c.execute("COMMIT")
        plan = plan[0] if isinstance(plan, list) else plan
        server_ms.append(plan["Execution Time"])
        planning_ms.append(plan["Planning Time"])
        blocks.append(plan["Plan"].get("Shared Hit Blocks", 0) + plan["Plan"].get("Shared Read Blocks", 0))
        if os.environ.get("BENCH_EXPLAIN") and len(server_ms) == 1:
            import cProfile
            import pstats

            connection.force_debug_cursor = True
            connection.queries_log.clear()
            prof = cProfile.Profile()
            prof.enable()
            explanations_search_semantic(
                query="bench query", user=anon, vector=q.tolist(), embedder_name="bench"
            )
            prof.disable()
            connection.force_debug_cursor = False
            print([(x["time"], x["sql"][:60]) for x in connection.queries])
            pstats.Stats(prof).sort_stats("tottime").print_stats(12)
    server_ms.sort()
    planning_ms.sort()
    times.sort()
    sweep = [int(x) for x in os.environ.get("BENCH_EF_SWEEP", "").split(",") if x]
    if sweep:
        from autointerp import selectors

        saved = selectors.EF_SEARCH
        for ef in sweep:
            selectors.EF_SEARCH = ef
            rec, ms = [], []
            for q in queries:
                t0 = time.perf_counter()
                page, _ = explanations_search_semantic(
                    query="bench query", user=anon, vector=q.tolist(), embedder_name="bench"
                )
                ms.append((time.perf_counter() - t0) * 1000)
                exact = set(vis_ids[np.argsort(-(vis_vectors @ q))[:K]].tolist())
                rec.append(len(exact & {int(hit["id"]) for hit in page}) / K)
            ms.sort()
            print(f"  ef_search={ef}: recall@{K} {statistics.mean(rec):.3f} (min {min(rec):.2f})  p50 {statistics.median(ms):.1f} ms  "
                  f"p95 {ms[int(0.95 * (len(ms) - 1))]:.1f} ms")  # fmt: skip
        selectors.EF_SEARCH = saved
    p95 = times[int(0.95 * (len(times) - 1))]
    from autointerp.selectors import EF_SEARCH as ef_used

    print(f"queries={N_QUERIES} over {len(vectors):,} rows ({visible.sum():,} visible), ef_search {ef_used}")
    print(f"recall@{K} = {statistics.mean(recalls):.3f} (goal >= 0.95)   min {min(recalls):.2f}")
    print(
        f"latency p50 = {statistics.median(times):.1f} ms   p95 = {p95:.1f} ms (goal <= 15; API page end to end, raw SQL)"
    )
    cpu.sort()
    print(
        f"this process's CPU time per API page (DRF, Django, psycopg; what load does not inflate much): "
        f"p50 = {statistics.median(cpu):.1f} ms   p95 = {cpu[int(0.95 * (len(cpu) - 1))]:.1f} ms"
    )
    print(f"load average {os.getloadavg()[0]:.1f} (1 min) on {os.cpu_count()} CPUs")
    print(
        f"page statement (ranking + page JSON) in the server, first-seen vectors, "
        f"{statistics.median(blocks):.0f} buffer pages (p50): p50 = {statistics.median(server_ms):.2f} ms   "
        f"p95 = {server_ms[int(0.95 * (len(server_ms) - 1))]:.2f} ms; planning p50 = {statistics.median(planning_ms):.2f} ms"
    )


def bench_embedding() -> None:
    """Texts per second: bare ``SentenceTransformer.encode`` (one call over all texts) against
    ours, twice: the engine's ``LocalEmbedder.encode`` (what a search query and every write go
    through), and ``explanations_embed`` end to end (what ``embed_explanations`` and the
    on-write job run: read the texts from the table, encode them chunk by chunk, write the
    vectors back, the HNSW index over BENCH_N rows kept up to date). Same texts, same model
    object, batch size, device and torch threads; rounds alternate so drift hits all alike."""
    from pydoc_data.topics import topics

    import torch

    from autointerp.engines.embeddings import LocalEmbedder, sentence_transformer
    from autointerp.services import explanations_embed
    from features.models import Explanation, Feature

    texts = []
    for body in topics.values():
        texts += [s.strip() for s in body.replace("\n", " ").split(". ") if len(s.strip()) > 20]
    texts = texts[:N_TEXTS]
    features = list(Feature.objects.order_by("id")[: len(texts)])
    rows = Explanation.objects.bulk_create(
        [Explanation(feature=f, description=t) for f, t in zip(features, texts, strict=True)]
    )
    ids = [e.pk for e in rows]
    model = sentence_transformer()
    ours = LocalEmbedder()
    model.encode(texts[:BATCH], batch_size=BATCH)  # warm-up
    results = {"bare": [], "engine": [], "embed_explanations": []}
    for _ in range(int(os.environ.get("BENCH_EMBED_ROUNDS", 5))):
        t0 = time.perf_counter()
        model.encode(texts, batch_size=BATCH, normalize_embeddings=True, convert_to_numpy=True)
        results["bare"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        ours.encode(texts, batch_size=BATCH)
        results["engine"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        written = explanations_embed(ids=ids, force=True, encode_batch_size=BATCH)
        results["embed_explanations"].append(time.perf_counter() - t0)
        assert written == len(ids)
    best = {k: min(v) for k, v in results.items()}
    print(
        f"embedding {len(texts):,} texts, batch {BATCH}, torch threads {torch.get_num_threads()}: "
        + ", ".join(f"{k} {len(texts) / t:.0f}/s" for k, t in best.items())
    )
    Explanation.objects.filter(pk__in=ids).delete()
    print(f"ours/bare throughput: engine encode = {best['bare'] / best['engine']:.2f} (goal >= 0.9)")
    print(
        f"embed_explanations (read + encode + write, the {N:,}-row HNSW index kept up to date) = "
        f"{best['bare'] / best['embed_explanations']:.2f} (a stricter check than the issue's, which compares "
        "encoders: the index's inserts take PostgreSQL CPU that bare encoding does not spend)"
    )


def main() -> None:
    import django
    import numpy as np

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    if not REUSE_DB:
        drop_database()
    call_command("migrate", verbosity=0)
    try:
        rng = np.random.default_rng(0)
        ids, vectors, visible = (REUSE_DB and reuse(rng)) or seed(rng)
        bench_search(rng, ids, vectors, visible)
        if not os.environ.get("BENCH_SKIP_EMBEDDING"):
            bench_embedding()
    finally:
        connection.close()
        if not REUSE_DB:
            drop_database()


if __name__ == "__main__":
    main()
