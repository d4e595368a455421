"""The feature writer: validated feature dicts in, rows out through PostgreSQL ``COPY``.

Features are upserted on their natural key ``(source, index)`` (through a temporary table and
``INSERT ... ON CONFLICT DO UPDATE``), so explanations, comments and list items that hang off a
feature survive a re-import; its activation snippets are replaced (deleted, then COPY'd in binary
format). A batch is one transaction and is recorded in the import ledger in that transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from django.db import connection, transaction
from django.utils import timezone
from psycopg.copy import QueuedLibpqWriter
from psycopg.types.json import Jsonb

from features.importers.binary import (  # noqa: F401 (re-exported for the other importers)
    ACTIVATION_COLUMNS,
    SIGNATURE,
    TRAILER,
    activation_row,
    encode_activation,
    timestamptz,
)
from features.importers.ledger import ledger_done, ledger_lock, ledger_record
from features.importers.validation import (
    FLOAT_ARRAYS,
    INT_ARRAYS,
    REQUIRED_FEATURE_KEYS,
    TEXT_ARRAYS,
)

if TYPE_CHECKING:  # numpy stays out of the web process until a batch is written
    from features.importers.prepare import PreparedFeatures

# (column, PostgreSQL type for binary COPY) of features_feature, minus the primary key.
FEATURE_COLUMNS: list[tuple[str, str]] = [
    ("source_id", "int8"),
    ("index", "int4"),
    ("max_act_approx", "float8"),
    ("frac_nonzero", "float8"),
    *[(c, "text[]") for c in TEXT_ARRAYS],
    *[(c, "float4[]") for c in FLOAT_ARRAYS],
    *[(c, "int4[]") for c in INT_ARRAYS],
    ("activation_quantiles", "jsonb"),
    ("umap_x", "float8"),
    ("umap_y", "float8"),
    ("umap_cluster", "int4"),
    ("umap_log_feature_sparsity", "float8"),
    ("has_vector", "bool"),
    ("vector", "float4[]"),
    ("vector_label", "text"),
    ("vector_default_steer_strength", "float8"),
    ("hook_name", "text"),
    ("creator_id", "int8"),
    ("created_at", "timestamptz"),
]
# Kept from the existing row when a feature is re-imported.
_FEATURE_KEEP_ON_UPDATE = {"source_id", "index", "creator_id", "created_at"}


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


_FEATURE_COLS_SQL = ", ".join(_quote(c) for c, _ in FEATURE_COLUMNS)
_ACTIVATION_COLS_SQL = ", ".join(_quote(c) for c, _ in ACTIVATION_COLUMNS)
_FEATURE_TMP = "_ns_feature_in"


@dataclass
class BatchWriteResult:
    ledger_key: str
    skipped: bool = False
    features: int = 0
    activations: int = 0
    feature_ids: dict[int, int] = field(default_factory=dict, repr=False)


def _pg():
    """The psycopg connection under Django's (inside the current transaction)."""
    connection.ensure_connection()
    return connection.connection


def feature_row(*, source_id: int, f: dict, creator_id: int | None, created_at: datetime) -> tuple:
    row: list = [source_id, f["index"], f["max_act_approx"], f["frac_nonzero"]]
    row.extend(f[c] for c in TEXT_ARRAYS)
    row.extend(f[c] for c in FLOAT_ARRAYS)
    row.extend(f[c] for c in INT_ARRAYS)
    row.extend(
        (
            Jsonb(f["activation_quantiles"] or {}),
            f["umap_x"],
            f["umap_y"],
            f["umap_cluster"],
            f["umap_log_feature_sparsity"],
            f["has_vector"],
            f["vector"],
            f["vector_label"],
            f["vector_default_steer_strength"],
            f["hook_name"],
            creator_id,
            created_at,
        )
    )
    return tuple(row)


def features_upsert(*, rows: Iterable[tuple]) -> dict[tuple[int, int], int]:
    """Insert or update feature rows (tuples in FEATURE_COLUMNS order); returns
    ``{(source_id, index): feature id}``. Must run inside a transaction."""
    pg = _pg()
    with pg.cursor() as cur:
        cur.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {_FEATURE_TMP} ("
            + ", ".join(f"{_quote(c)} {t.replace('float4', 'real')}" for c, t in FEATURE_COLUMNS)
            + ") ON COMMIT DELETE ROWS"
        )
        cur.execute(f"TRUNCATE {_FEATURE_TMP}")
        with cur.copy(f"COPY {_FEATURE_TMP} ({_FEATURE_COLS_SQL}) FROM STDIN WITH (FORMAT BINARY)") as copy:
            copy.set_types([t for _, t in FEATURE_COLUMNS])
            for row in rows:
                copy.write_row(row)
        updates = ", ".join(
            f"{_quote(c)} = EXCLUDED.{_quote(c)}"
            for c, _ in FEATURE_COLUMNS
            if c not in _FEATURE_KEEP_ON_UPDATE
        )
        cur.execute(
            f"INSERT INTO features_feature ({_FEATURE_COLS_SQL}) "
            f"SELECT {_FEATURE_COLS_SQL} FROM {_FEATURE_TMP} "
            f'ON CONFLICT (source_id, "index") DO UPDATE SET {updates} '
            'RETURNING id, source_id, "index"'
        )
        return {(source_id, index): pk for pk, source_id, index in cur.fetchall()}


def activations_delete(*, feature_ids: list[int]) -> int:
    if not feature_ids:
        return 0
    with _pg().cursor() as cur:
        cur.execute("DELETE FROM features_activation WHERE feature_id = ANY(%s)", [feature_ids])
        return cur.rowcount


def activations_copy(*, rows: Iterable[tuple]) -> int:
    """COPY activation rows (tuples in ACTIVATION_COLUMNS order) in binary format, streamed in
    1 MiB pieces (memory stays bounded whatever the number of rows)."""
    count = 0

    def pieces():
        nonlocal count
        buffer = bytearray()
        for row in rows:
            buffer += encode_activation(row)
            count += 1
            if len(buffer) > _PIECE:
                yield buffer
                buffer = bytearray()
        yield buffer

    _copy_binary(pieces())
    return count


_PIECE = 1 << 20


def _copy_binary(pieces: Iterable[bytes | bytearray | memoryview]) -> None:
    """One binary COPY into features_activation of already-encoded rows."""
    with _pg().cursor() as cur:
        # The queued writer sends from its own thread (the GIL is released while libpq writes), so
        # producing the next piece overlaps with the server ingesting the previous ones.
        with cur.copy(
            f"COPY features_activation ({_ACTIVATION_COLS_SQL}) FROM STDIN WITH (FORMAT BINARY)",
            writer=QueuedLibpqWriter(cur),
        ) as copy:
            copy.write(SIGNATURE)
            for piece in pieces:
                copy.write(piece)
            copy.write(TRAILER)


def features_write_prepared(
    *, source, prepared: PreparedFeatures, creator_id: int | None = None
) -> BatchWriteResult:
    """Write a prepared batch (see ``prepare.features_prepare``): upsert the feature rows, then
    replace the activations of the features that carry snippets. Must run in a transaction."""
    now = timezone.now()
    ids = features_upsert(
        rows=(
            feature_row(source_id=source.pk, f=f, creator_id=creator_id, created_at=now)
            for f in prepared.features
        )
    )
    by_index = {index: pk for (_, index), pk in ids.items()}
    replaced = [by_index[prepared.features[p]["index"]] for p in prepared.snippet_positions]
    activations_delete(feature_ids=replaced)
    rows = memoryview(prepared.rows_with_ids(replaced))
    _copy_binary(rows[start : start + _PIECE] for start in range(0, len(rows), _PIECE))
    return BatchWriteResult(
        ledger_key="", features=len(prepared.features), activations=prepared.n_rows, feature_ids=by_index
    )


@transaction.atomic
def features_batch_write(
    *,
    source,
    features: list[dict],
    ledger_key: str,
    checksum: str,
    zero_bos: bool = False,
    kind: str = "features",
    creator=None,
    required: tuple[str, ...] = REQUIRED_FEATURE_KEYS,
) -> BatchWriteResult:
    """Validate + write one batch atomically (COPY), recorded in the ledger under ledger_key/checksum;
    a batch already in the ledger with the same checksum is skipped (result.skipped=True).

    Each feature dict: SAEDashboard keys (feature_index, pos_str, pos_values, neg_str, neg_values,
    frac_nonzero, freq_hist_data_bar_heights/values, logits_hist_data_bar_heights/values,
    neuron_alignment_*, correlated_*, decoder_weights_dist, optional vector, and activations:
    [{tokens, values, bin_min, bin_max, bin_contains, qualifying_token_index}]) plus optional
    extras our Feature model has: topk_cos_sim_indices/values, activation_quantiles (dict),
    umap_x/umap_y/umap_cluster, max_act_approx.

    Re-writing a feature index replaces that feature's statistics and activations (never
    duplicates them) and keeps its explanations, comments and list items. Bad data raises
    ``validation.FeatureDataError`` (naming the feature index and field) before anything is
    written. ``source.d_sae``, when set, bounds the feature indices.
    """
    ledger_lock(key=ledger_key)
    if ledger_done(key=ledger_key, checksum=checksum):
        return BatchWriteResult(ledger_key=ledger_key, skipped=True)
    from features.importers.prepare import features_prepare

    creator_id = getattr(creator, "pk", None)
    prepared = features_prepare(
        features,
        zero_bos=zero_bos,
        required=required,
        d_sae=source.d_sae,
        creator_id=creator_id,
        created_at=timezone.now(),
    )
    result = features_write_prepared(source=source, prepared=prepared, creator_id=creator_id)
    result.ledger_key = ledger_key
    ledger_record(
        key=ledger_key,
        checksum=checksum,
        kind=kind,
        source=source,
        features=result.features,
        activations=result.activations,
    )
    return result


@transaction.atomic
def features_batch_write_prepared(
    *,
    source,
    prepare,
    ledger_key: str,
    checksum: str,
    kind: str = "features",
    creator=None,
) -> BatchWriteResult:
    """:func:`features_batch_write` for a batch its producer validates and encodes itself (the
    dashboard generator builds the rows from arrays): ``prepare(creator_id=, created_at=)``
    returns the :class:`~features.importers.prepare.PreparedFeatures`, called only when the
    batch is not in the ledger yet. Same lock, ledger and write as ``features_batch_write``."""
    ledger_lock(key=ledger_key)
    if ledger_done(key=ledger_key, checksum=checksum):
        return BatchWriteResult(ledger_key=ledger_key, skipped=True)
    creator_id = getattr(creator, "pk", None)
    prepared = prepare(creator_id=creator_id, created_at=timezone.now())
    result = features_write_prepared(source=source, prepared=prepared, creator_id=creator_id)
    result.ledger_key = ledger_key
    ledger_record(
        key=ledger_key,
        checksum=checksum,
        kind=kind,
        source=source,
        features=result.features,
        activations=result.activations,
    )
    return result
