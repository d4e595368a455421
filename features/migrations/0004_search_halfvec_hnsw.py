"""Semantic search ranks over an HNSW index of the embeddings cast to halfvec (2-byte floats):
half the bytes per vector the walk visits, so a query touches half the index pages (the walk is
bound by memory latency: bench/search, bench/monitor_search). The ranking query orders by the
same expression (``autointerp.selectors.SEARCH_ORDER_SQL``) and reports the exact float32 cosine.
The float32 index it replaces is dropped: nothing else orders by ``embedding <=>``.
ef_construction 128 (was 64): a better connected graph reaches the same recall with half the
candidate list (bench/monitor_search, topK 50: ef_search 100 gives recall@50 0.997 against 0.969
with ef_construction 64, which left queries at recall 0), so a query reads a third fewer index
pages; the build takes about twice as long."""

import django.contrib.postgres.indexes
import django.db.models.functions.comparison
import pgvector.django.halfvec
import pgvector.django.indexes
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("features", "0003_autointerp_embedding_model"),
    ]

    operations = [
        # the graph of 200,000 rows (~220 MB) is built in memory, not spilled (this migration's
        # transaction only)
        migrations.RunSQL("SET LOCAL maintenance_work_mem = '512MB'", reverse_sql=migrations.RunSQL.noop),
        migrations.AddIndex(
            model_name="explanation",
            index=pgvector.django.indexes.HnswIndex(
                django.contrib.postgres.indexes.OpClass(
                    django.db.models.functions.comparison.Cast(
                        "embedding", pgvector.django.halfvec.HalfVectorField(dimensions=384)
                    ),
                    name="halfvec_cosine_ops",
                ),
                ef_construction=128,
                m=16,
                name="explanation_embedding_half_hnsw",
            ),
        ),
        migrations.RemoveIndex(
            model_name="explanation",
            name="explanation_embedding_hnsw",
        ),
    ]
