"""The feature writer: validated feature dicts in, rows out through PostgreSQL ``COPY``.

Features are upserted on their natural key ``(source, index)`` (through a temporary table and
``INSERT ... ON CONFLICT DO UPDATE``), so explanations, comments and list items that hang off a
feature survive a re-import; its activation snippets are replaced (deleted, then COPY'd in binary
format). A batch is one transaction and is recorded in the import ledger in that transaction.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import chain

from django.db import connection, transaction
from django.utils import timezone
from psycopg.copy import QueuedLibpqWriter
from psycopg.types.json import Jsonb

from features.importers.ledger import ledger_done, ledger_lock, ledger_record
from features.importers.validation import (
    FLOAT_ARRAYS,
    INT_ARRAYS,
    REQUIRED_FEATURE_KEYS,
    TEXT_ARRAYS,
    normalize_features,
)

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

ACTIVATION_COLUMNS: list[tuple[str, str]] = [
    ("feature_id", "int8"),
    ("tokens", "text[]"),
    ("values", "float4[]"),
    ("max_value", "float4"),
    ("max_value_token_index", "int4"),
    ("min_value", "float4"),
    ("bin_min", "float4"),
    ("bin_max", "float4"),
    ("bin_contains", "float4"),
    ("qualifying_token_index", "int4"),
    ("data_source", "text"),
    ("data_index", "int8"),
    ("dfa_values", "float4[]"),
    ("dfa_target_index", "int4"),
    ("dfa_max_value", "float4"),
    ("creator_id", "int8"),
    ("created_at", "timestamptz"),
]


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


def activation_row(*, feature_id: int, a: dict, creator_id: int | None, created_at: datetime) -> tuple:
    return (
        feature_id,
        a["tokens"],
        a["values"],
        a["max_value"],
        a["max_value_token_index"],
        a["min_value"],
        a["bin_min"],
        a["bin_max"],
        a["bin_contains"],
        a["qualifying_token_index"],
        a["data_source"],
        a["data_index"],
        a["dfa_values"],
        a["dfa_target_index"],
        a["dfa_max_value"],
        creator_id,
        created_at,
    )


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


# --- binary COPY encoding of activation rows ------------------------------------------------
# psycopg's array dumper is written in Python and was the bottleneck of an import (about 6,000
# rows/s); these encoders build PostgreSQL's binary COPY format with C-level operations
# (struct, bytes.join/split, numpy), about ten times faster.

_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
_TRAILER = b"\xff\xff"
_NULL = b"\xff\xff\xff\xff"
_I = struct.Struct(">i").pack
_INT4 = struct.Struct(">ii").pack
_INT8 = struct.Struct(">iq").pack
_FLOAT4 = struct.Struct(">if").pack
_ARRAY_HEAD = struct.Struct(">iiiiii").pack  # byte length, ndim, has-null, element oid, n, lower bound
_EMPTY_TEXT_ARRAY = struct.pack(">iiii", 12, 0, 0, 25)
_EMPTY_FLOAT4_ARRAY = struct.pack(">iiii", 12, 0, 0, 700)
_FIELDS = struct.pack(">h", len(ACTIVATION_COLUMNS))
_PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_F4_TEMPLATES: dict[int, object] = {}


def _text(value: str) -> bytes:
    data = value.encode()
    return _I(len(data)) + data


def _text_array(values: list[str]) -> bytes:
    if not values:
        return _EMPTY_TEXT_ARRAY
    # Tokens never hold NUL (validation rejects it): join, encode and split once, in C.
    parts = "\x00".join(values).encode().split(b"\x00")
    body = b"".join(chain.from_iterable(zip(map(_I, map(len, parts)), parts, strict=True)))
    return _ARRAY_HEAD(20 + len(body), 1, 0, 25, len(parts), 1) + body


def _float4_array(values: list) -> bytes:
    n = len(values)
    if not n:
        return _EMPTY_FLOAT4_ARRAY
    import numpy as np

    template = _F4_TEMPLATES.get(n)
    if template is None:
        template = np.zeros(n, dtype=[("len", ">i4"), ("value", ">f4")])
        template["len"] = 4
        _F4_TEMPLATES[n] = template
    items = template.copy()
    items["value"] = values
    return _ARRAY_HEAD(20 + 8 * n, 1, 0, 700, n, 1) + items.tobytes()


def _opt(pack, value) -> bytes:
    return _NULL if value is None else pack(4 if pack is not _INT8 else 8, value)


def _timestamptz(value: datetime) -> bytes:
    delta = value - _PG_EPOCH
    return _INT8(8, (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds)


def _encode_activation(row: tuple) -> bytes:
    (
        fid,
        tokens,
        values,
        max_value,
        max_index,
        min_value,
        bin_min,
        bin_max,
        bin_contains,
        qti,
        data_source,
        data_index,
        dfa_values,
        dfa_target,
        dfa_max,
        creator_id,
        created_at,
    ) = row
    return b"".join(
        (
            _FIELDS,
            _INT8(8, fid),
            _text_array(tokens),
            _float4_array(values),
            _FLOAT4(4, max_value),
            _INT4(4, max_index),
            _FLOAT4(4, min_value),
            _opt(_FLOAT4, bin_min),
            _opt(_FLOAT4, bin_max),
            _opt(_FLOAT4, bin_contains),
            _opt(_INT4, qti),
            _text(data_source or ""),
            _opt(_INT8, data_index),
            _float4_array(dfa_values),
            _opt(_INT4, dfa_target),
            _opt(_FLOAT4, dfa_max),
            _opt(_INT8, creator_id),
            _NULL if created_at is None else _timestamptz(created_at),
        )
    )


def activations_copy(*, rows: Iterable[tuple]) -> int:
    """COPY activation rows (tuples in ACTIVATION_COLUMNS order) in binary format."""
    n = 0
    buffer = bytearray(_SIGNATURE)
    with _pg().cursor() as cur:
        # The queued writer sends from its own thread (the GIL is released while libpq writes), so
        # encoding the next rows overlaps with the server ingesting the previous ones.
        with cur.copy(
            f"COPY features_activation ({_ACTIVATION_COLS_SQL}) FROM STDIN WITH (FORMAT BINARY)",
            writer=QueuedLibpqWriter(cur),
        ) as copy:
            for row in rows:
                buffer += _encode_activation(row)
                n += 1
                if len(buffer) > 1 << 20:
                    copy.write(buffer)
                    buffer = bytearray()
            buffer += _TRAILER
            copy.write(buffer)
    return n


def features_write_normalized(
    *,
    source,
    features: list[dict],
    creator_id: int | None = None,
    created_at: datetime | None = None,
) -> BatchWriteResult:
    """Write already-normalized features (see ``validation.normalize_feature``): upsert the
    feature rows, then replace the activations of those that carry an ``activations`` list."""
    now = created_at or timezone.now()
    ids = features_upsert(
        rows=(feature_row(source_id=source.pk, f=f, creator_id=creator_id, created_at=now) for f in features)
    )
    by_index = {index: pk for (_, index), pk in ids.items()}
    replaced = [f for f in features if f["activations"] is not None]
    activations_delete(feature_ids=[by_index[f["index"]] for f in replaced])
    count = activations_copy(
        rows=(
            activation_row(feature_id=by_index[f["index"]], a=a, creator_id=creator_id, created_at=now)
            for f in replaced
            for a in f["activations"]
        )
    )
    return BatchWriteResult(ledger_key="", features=len(features), activations=count, feature_ids=by_index)


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
    normalized = normalize_features(features, d_sae=source.d_sae, zero_bos=zero_bos, required=required)
    result = features_write_normalized(
        source=source, features=normalized, creator_id=getattr(creator, "pk", None)
    )
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
