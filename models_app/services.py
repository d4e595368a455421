"""Writes to models, source sets and sources."""

from __future__ import annotations

from django.db import connection, transaction

from models_app.models import Source


@transaction.atomic
def source_features_delete(*, source: Source) -> int:
    """Delete every feature of ``source`` with its activations, explanations and the rest.

    Done in SQL, children first: the ORM's cascade would load millions of activation rows.
    """
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM features_feature WHERE source_id = %s", [source.pk])
        (count,) = cur.fetchone()
        feature_ids = "SELECT id FROM features_feature WHERE source_id = %s"
        explanation_ids = f"SELECT id FROM features_explanation WHERE feature_id IN ({feature_ids})"
        for sql in (
            f"DELETE FROM features_explanationscore WHERE explanation_id IN ({explanation_ids})",
            f"DELETE FROM features_vote WHERE explanation_id IN ({explanation_ids})",
            f"DELETE FROM features_explanation WHERE feature_id IN ({feature_ids})",
            f"DELETE FROM features_activation WHERE feature_id IN ({feature_ids})",
            f"DELETE FROM features_listitem WHERE feature_id IN ({feature_ids})",
            f"DELETE FROM features_comment WHERE feature_id IN ({feature_ids})",
            f"DELETE FROM features_bookmark WHERE feature_id IN ({feature_ids})",
            "DELETE FROM features_feature WHERE source_id = %s",
        ):
            cur.execute(sql, [source.pk])
    return count
