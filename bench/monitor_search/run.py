"""Steer by description: the monitor's feature search at scale (issue 15, bench goal p95 <= 20 ms).

In one run, on its own database of the embedded server (created, then dropped):
  (a) BENCH_N (default 200,000) explanations with 384-d unit vectors drawn around BENCH_CLUSTERS
      topic centres, one per feature, across 8 sources of one model (one source private), the HNSW
      index built as the migration defines it, each feature with stored activation quantiles;
  (b) BENCH_QUERIES descriptions (already embedded: near existing points) through
      ``monitor.services.steer.steer_search`` (what POST /api/monitor/steer/search runs: visibility
      in SQL, the topK nearest explanations, one row per feature, top quantiles) at topK = BENCH_TOPK (default 50, Monitor's),
      as an anonymous user: p50 / p95 latency and recall@topK against numpy's exact ranking;
  (c) the baseline, in the same run on the same queries: an exact scan in PostgreSQL (the same
      ranking SQL with index scans disabled: a sequential scan + sort over the visible rows).
Prints p95 ms (goal <= 20), recall, and ours / exact-scan p95.

    .venv/bin/python bench/monitor_search/run.py            # 200,000 explanations
    BENCH_N=20000 .venv/bin/python bench/monitor_search/run.py

    BENCH_REUSE_DB=1 ...   # keep the seeded database and reuse it on the next run (development)

Measured 2026-11-27 on the 2-core dev machine, quiet (load average ~1), ef_search 400: 200,000
explanations, topK 50: p50 56.2 ms, p95 66.4 ms, recall@50 0.994; exact scan p95 406.6 ms;
ours/exact 0.163 (the goal of 20 ms was not met).
Re-measured later that day with ef_search 200 and the visibility SQL compiled once, on the same
machine under heavy load (load average 15-17 on 2 CPUs, 100 queries): recall@50 0.994; wall
p50 228.5 ms, p95 325.4 ms (scheduling delay: every process waits for a CPU); this process's CPU
time p50 8.9 ms, p95 13.0 ms; exact scan p95 1360 ms, ours/exact 0.239.
Quiet re-measure (load average 3.1, then 0.9; after the merge of the day's work), 200,000
explanations, topK 50, 100 queries: recall@50 0.994; p50 38.0 ms, p95 44.5 ms (goal 20 ms: not met);
CPU time in this process p50 9.9 ms, p95 11.6 ms (Django, psycopg, hydration); exact scan p95
424.4 ms, ours/exact 0.105. Earlier that evening this process's CPU time read ~42 ms per query: the
numpy recall product, run between queries, left its BLAS threads spinning into the next timed
query; the exact ranking is now computed before the timed loop. Where the rest goes: the ranking
query on a first-seen vector takes ~18-20 ms in PostgreSQL (EXPLAIN ANALYZE; all shared-buffer
hits, ~3,700 index pages at ef_search 200), the same query repeated ~9 ms: the HNSW walk is bound
by memory latency over ~30 MB of index pages. Next steps, not done: a halfvec expression index
(half the bytes per visited vector) and a lower ef_search where recall allows.
2026-11-28 (helper S3): halfvec expression index (features migration 0004, 223 MB against
391 MB), re-ranked by the exact float32 cosine; steer_search is ONE statement (ranking with
visibility + each row's description, feature and source; it was the ranking, then an ORM query,
then the model lookup: the model is now looked up only when sources are named or nothing was
found); the embedded server's shared_buffers 1 GB (was 128 MB: ~1,900-2,900 of ~3,700 index
pages per query came from the OS cache). The run now also prints the statement's server-side
time (EXPLAIN ANALYZE on 50 first-seen vectors) and, with BENCH_EF_SWEEP=a,b, an ef_search sweep.
Measured on the 2-core dev machine under heavy load from other work (load average 16-20), 100
queries, topK 50: recall@50 0.993; p50 34.7 ms, p95 85.3 ms (wall: mostly waiting for a CPU; the
20 ms goal could not be checked at this load); this process's CPU time p50 1.3 ms, p95 1.9 ms
(was 9.9 / 11.6 ms); exact scan p95 1553.8 ms, ours/exact 0.055; the statement in the server,
first-seen vectors, p50 34.1 / p95 170.2 ms at that load.
Then the index rebuilt with ef_construction 128 and ef_search 100 (was 64 / 200; see
autointerp/selectors.py). An experiment first (server-side EXPLAIN ANALYZE, 40 first-seen vectors,
same queries, shared_buffers 1 GB, load ~10): ef_construction 64: ef 200 p50 15.1 ms, 3,662
pages, recall@50 0.995 (min 0.94); ef 100 7.3 ms, 1,691 pages, 0.969 (min 0.00); ef_construction
128: ef 200 23.1 ms, 5,208 pages, 0.996; ef 100 11.2 ms, 2,450 pages, 0.997 (min 0.96); ef 60
9.0 ms, 0.992 (min 0.90). (With shared_buffers 128 MB ~1,900-2,900 pages per query were read from
the OS cache; with 1 GB ~0-70.) The bench then, same machine at load ~12 with an index build
running beside it: recall@50 0.996; p50 25.3 ms, p95 39.1 ms; CPU in this process p50 1.4 / p95
2.2 ms; exact scan p95 994.4 ms, ours/exact 0.039; the statement in the server, first-seen vectors,
p50 23.0 / p95 31.8 ms; ef_search 200 on the same queries: recall@50 0.997, p50 55.8 / p95 69.7 ms.
The 20 ms p95 goal is not shown met: this machine was never quiet during the work.
Quiet re-measure after the merge (2026-11-28 02:04 UTC, load average 0.8-2.4, main 6f21839: halfvec
index, ef_construction 128, ef_search 100, 1 GB shared_buffers): 200,000 explanations, topK 50, 100
queries: p50 7.2 ms, p95 9.7 ms (goal 20 ms: met); recall@50 0.996; CPU in this process p50 1.3 ms;
the statement in the server on first-seen vectors p50 3.87 / p95 4.88 ms; exact scan p95 222.9 ms.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DB_NAME = "bench_monitor_search"
N = int(os.environ.get("BENCH_N", 200_000))
N_CLUSTERS = int(os.environ.get("BENCH_CLUSTERS", 2000))
N_QUERIES = int(os.environ.get("BENCH_QUERIES", 100))
TOP_K = int(os.environ.get("BENCH_TOPK", 50))
N_SOURCES = 8
DIM = 384
EMBEDDER = "bench"
# development: keep the seeded database for the next run (and reuse it when it has BENCH_N rows)
REUSE_DB = os.environ.get("BENCH_REUSE_DB") == "1"

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
        + 1.4 * rng.standard_normal((n, DIM)).astype(np.float32) / np.sqrt(DIM)
    )


def reuse(rng):
    """BENCH_REUSE_DB=1: the database a previous run kept, when it holds BENCH_N rows (the same
    vectors: the generator replays the seed's draws)."""
    import numpy as np

    from features.models import Explanation
    from models_app.models import Source

    rows = list(
        Explanation.objects.filter(embedding_model=EMBEDDER)
        .order_by("id")
        .values_list("feature_id", "feature__source__visibility")
    )
    if len(rows) != N:
        return None
    print(f"reusing the {N:,} explanations of database {DB_NAME}")
    source_ids = list(
        Source.objects.filter(visibility="PUBLIC").order_by("layer").values_list("pk", flat=True)
    )
    visible = np.array([r[1] == "PUBLIC" for r in rows])
    return np.array([r[0] for r in rows]), make_vectors(rng, N), visible, source_ids


def seed(rng):
    """Returns (feature ids in explanation-id order, vectors, visible mask, visible source ids)."""
    import numpy as np
    from django.db import connection

    from autointerp.selectors import SEARCH_INDEX, SEARCH_INDEX_SQL
    from features.models import Explanation, Feature
    from models_app.models import Model, Source, SourceSet
    from neuronsite.fields import Visibility

    model = Model.objects.create(name="bench", layers=N_SOURCES, d_model=16)
    sset = SourceSet.objects.create(model=model, name="res-bench", type="sae")
    sources = [
        Source.objects.create(
            model=model,
            source_set=sset,
            name=f"{layer}-res-bench",
            layer=layer,
            d_sae=N,
            visibility=Visibility.PRIVATE if layer == N_SOURCES - 1 else Visibility.PUBLIC,
        )
        for layer in range(N_SOURCES)
    ]
    per_source = N // N_SOURCES
    features = []
    t0 = time.perf_counter()
    for s in sources:
        features += Feature.objects.bulk_create(
            [
                Feature(
                    source=s,
                    index=i,
                    max_act_approx=5.0,
                    activation_quantiles={"0.99": 1.0, "0.9999999": 4.0},
                )
                for i in range(per_source)
            ],
            batch_size=10000,
        )
    vectors = make_vectors(rng, len(features))
    visible = np.array([f.source_id != sources[-1].pk for f in features])
    with connection.cursor() as c:
        c.execute(f"DROP INDEX IF EXISTS {SEARCH_INDEX}")
    # COPY in PostgreSQL's binary format (the vector's own binary form: dim, 0, big-endian
    # float32s), as a bulk import loads them
    from django.utils import timezone

    now = timezone.now()
    header = np.array([DIM, 0], dtype=">u2").tobytes()
    big = vectors.astype(">f4")
    with (
        connection.cursor() as c,
        c.cursor.copy(
            "COPY features_explanation (feature_id, description, notes, status, embedding, embedding_model, "
            "created_at, updated_at) FROM STDIN WITH (FORMAT BINARY)"
        ) as copy,
    ):
        copy.set_types(["int8", "text", "text", "varchar", "bytea", "varchar", "timestamptz", "timestamptz"])
        for i, f in enumerate(features):
            copy.write_row(
                (f.pk, f"explanation {i}", "", "APPROVED", header + big[i].tobytes(), EMBEDDER, now, now)
            )
    print(f"inserted {len(features):,} features + explanations in {time.perf_counter() - t0:.1f} s")
    t0 = time.perf_counter()
    with connection.cursor() as c:
        c.execute("SET maintenance_work_mem = '1GB'")
        c.execute(SEARCH_INDEX_SQL)
        c.execute("ANALYZE features_explanation")
        c.execute("ANALYZE features_feature")
    print(f"built the HNSW index in {time.perf_counter() - t0:.1f} s")
    feature_ids = np.array(list(Explanation.objects.order_by("id").values_list("feature_id", flat=True)))
    return feature_ids, vectors, visible, [s.pk for s in sources[:-1]]


EXACT_SQL = (
    "SELECT e.id, e.feature_id, e.embedding <=> %s::vector AS d FROM features_explanation e "
    "JOIN features_feature f ON f.id = e.feature_id "
    "WHERE e.status <> 'HIDDEN' AND e.embedding IS NOT NULL AND e.embedding_model = %s "
    "AND f.source_id = ANY(%s) ORDER BY d, e.id LIMIT %s"
)


def exact_scan(q, source_ids) -> list[int]:
    """The baseline: the same ranking without the index (sequential scan + sort)."""
    from django.db import connection, transaction

    literal = "[" + ",".join(f"{x:.7f}" for x in q) + "]"
    with transaction.atomic(), connection.cursor() as c:
        c.execute("SET LOCAL enable_indexscan = off")
        c.execute("SET LOCAL enable_bitmapscan = off")
        c.execute(EXACT_SQL, [literal, EMBEDDER, source_ids, TOP_K])
        rows = c.fetchall()
    seen, out = set(), []
    for _, fid, _ in rows:
        if fid not in seen:
            seen.add(fid)
            out.append(fid)
    return out[:TOP_K]


def bench(rng, feature_ids, vectors, visible, source_ids) -> None:
    import numpy as np
    from django.contrib.auth.models import AnonymousUser

    from features.models import Feature
    from monitor.services.steer import steer_search

    anon = AnonymousUser()
    picks = rng.integers(0, len(vectors), N_QUERIES)
    queries = unit(
        vectors[picks] + 0.8 * rng.standard_normal((N_QUERIES, DIM)).astype(np.float32) / np.sqrt(DIM)
    )
    vis_fids, vis_vectors = feature_ids[visible], vectors[visible]
    ref = {(f.source.name, f.index): f.pk for f in Feature.objects.select_related("source")}

    def ours(q):
        return steer_search(
            user=anon,
            model_id="bench",
            description="bench query",
            top_k=TOP_K,
            vector=q.tolist(),
            embedder_name=EMBEDDER,
        )

    for q in queries[:5]:  # warm-up (index pages into the cache)
        ours(q)
        exact_scan(q, source_ids)
    # numpy's exact ranking first, outside the timed loop: a BLAS matrix product leaves its threads
    # spinning for a while after it returns, which would be billed to the next query's wall and CPU
    truths = [set(vis_fids[np.argsort(-(vis_vectors @ q))[:TOP_K]].tolist()) for q in queries]
    t_ours, t_exact, recalls, recalls_exact, cpu = [], [], [], [], []
    for q, truth in zip(queries, truths, strict=True):  # alternate: drift hits both alike
        t0, c0 = time.perf_counter(), time.process_time()
        rows = ours(q)
        t_ours.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
        t0 = time.perf_counter()
        exact = exact_scan(q, source_ids)
        t_exact.append((time.perf_counter() - t0) * 1000)
        got = {ref[(r["source"], r["index"])] for r in rows}
        recalls.append(len(truth & got) / TOP_K)
        recalls_exact.append(len(truth & set(exact)) / TOP_K)
        assert all(r["topQuantile"] == {"q": "0.9999999", "value": 4.0} for r in rows)
    t_ours.sort()
    t_exact.sort()

    def p95(xs):
        return xs[int(0.95 * (len(xs) - 1))]

    print(
        f"queries={N_QUERIES} topK={TOP_K} over {len(vectors):,} explanations ({int(visible.sum()):,} visible)"
    )
    print(
        f"steer_search:  p50 = {statistics.median(t_ours):.1f} ms   p95 = {p95(t_ours):.1f} ms (goal <= 20)   "
        f"recall@{TOP_K} = {statistics.mean(recalls):.3f}"
    )
    print(
        f"exact scan:    p50 = {statistics.median(t_exact):.1f} ms   p95 = {p95(t_exact):.1f} ms   "
        f"recall@{TOP_K} = {statistics.mean(recalls_exact):.3f}"
    )
    cpu.sort()
    print(
        f"steer_search CPU time in this process (Django, psycopg): p50 = {statistics.median(cpu):.1f} ms   "
        f"p95 = {p95(cpu):.1f} ms; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    print(f"ours / exact scan p95 = {p95(t_ours) / p95(t_exact):.3f}")
    server = server_times(rng, vectors, ours)
    print(
        f"steer_search's statement in the server (EXPLAIN ANALYZE, first-seen vectors): "
        f"p50 = {statistics.median(server):.2f} ms   p95 = {p95(server):.2f} ms"
    )
    sweep = [int(x) for x in os.environ.get("BENCH_EF_SWEEP", "").split(",") if x]
    if sweep:
        from autointerp import selectors

        saved = selectors.EF_SEARCH
        for ef in sweep:
            selectors.EF_SEARCH = ef
            ms, rec = [], []
            for q, truth in zip(queries, truths, strict=True):
                t0 = time.perf_counter()
                rows = ours(q)
                ms.append((time.perf_counter() - t0) * 1000)
                rec.append(len(truth & {ref[(r["source"], r["index"])] for r in rows}) / TOP_K)
            ms.sort()
            print(
                f"  ef_search={ef}: recall@{TOP_K} {statistics.mean(rec):.3f} (min {min(rec):.2f})  "
                f"p50 {statistics.median(ms):.1f} ms  p95 {p95(ms):.1f} ms"
            )
        selectors.EF_SEARCH = saved


def server_times(rng, vectors, ours, n: int = 50) -> list[float]:
    """Server-side time (EXPLAIN ANALYZE) of steer_search's statement on ``n`` vectors the server
    has not seen (a repeated vector finds its index pages in the CPU caches), sorted."""
    import numpy as np
    from django.db import connection

    from autointerp.selectors import EF_SEARCH, _vector_literal

    fresh = unit(
        vectors[rng.integers(0, len(vectors), n)]
        + 0.8 * rng.standard_normal((n, DIM)).astype(np.float32) / np.sqrt(DIM)
    )
    connection.force_debug_cursor = True
    connection.queries_log.clear()
    ours(fresh[0])
    template = next(part for x in connection.queries for part in x["sql"].split("; ") if "<=>" in part)
    connection.force_debug_cursor = False
    seen = _vector_literal(fresh[0].tolist())
    assert seen in template
    out = []
    for q in fresh[1:]:
        with connection.cursor() as c:
            c.execute("BEGIN")
            c.execute("SET LOCAL hnsw.iterative_scan = strict_order")
            c.execute("SET LOCAL enable_sort = off")
            c.execute(f"SET LOCAL hnsw.ef_search = {int(EF_SEARCH)}")
            c.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + template.replace(seen, _vector_literal(q.tolist())))
            plan = c.fetchone()[0]
            c.execute("COMMIT")
        plan = plan[0] if isinstance(plan, list) else plan
        out.append(plan["Execution Time"])
    return sorted(out)


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
        bench(rng, *((REUSE_DB and reuse(rng)) or seed(rng)))
    finally:
        connection.close()
        if not REUSE_DB:
            drop_database()


if __name__ == "__main__":
    main()
