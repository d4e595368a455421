"""Semantic search ranks over an HNSW index of the embeddings cast to halfvec (2-byte floats):
half the bytes per vector the walk visits, so a query touches half the index pages (the walk is
bound by memory latency: bench/search, bench/monitor_search). The ranking query orders by the
same expression (``autointerp.selectors.SEARCH_ORDER_SQL``) and reports the exact float32 cosine.
The float32 index it replaces (declared by ``features.Explanation``'s Meta, built by features'
0001) is dropped: nothing else orders by ``embedding <=>``. ef_construction 128 (was 64): a
better connected graph reaches the same recall with half the candidate list (bench/monitor_search
rows, topK 50: ef_search 100 gives recall@50 0.997 here against 0.969 with ef_construction 64,
which left queries at recall 0), so a query reads a third fewer index pages; the build takes
about twice as long."""

from django.db import migrations

HALF_INDEX = (
    "CREATE INDEX IF NOT EXISTS explanation_embedding_half_hnsw ON features_explanation "
    "USING hnsw ((embedding::halfvec(384)) halfvec_cosine_ops) WITH (m = 16, ef_construction = 128)"
)
FLOAT_INDEX = (
    "CREATE INDEX IF NOT EXISTS explanation_embedding_hnsw ON features_explanation "
    "USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64)"
)


class Migration(migrations.Migration):
    dependencies = [
        ("autointerp", "0002_autointerp_run_cancelled"),
        ("features", "0003_autointerp_embedding_model"),
    ]

    operations = [
        migrations.RunSQL(
            # the graph of 200,000 rows (~220 MB) built in memory, not spilled (the migration's
            # transaction only)
            sql=[
                "SET LOCAL maintenance_work_mem = '512MB'",
                HALF_INDEX,
                "DROP INDEX IF EXISTS explanation_embedding_hnsw",
            ],
            reverse_sql=[FLOAT_INDEX, "DROP INDEX IF EXISTS explanation_embedding_half_hnsw"],
        ),
    ]
