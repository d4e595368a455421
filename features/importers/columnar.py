"""Columnar validation and binary COPY encoding of a whole batch of activation snippets.

A batch of SAEDashboard output holds millions of token strings and values. Checking and encoding
them one snippet at a time in Python cost about four times what PostgreSQL needs to ingest
them. Here a batch is handled as flat numpy arrays: every check is one vectorised pass, and the
binary COPY form of the token and value arrays is built for the whole batch at once, then sliced
per row.

The fast path only *accepts* data; it never explains a rejection. When any check fails,
:func:`activations_block` returns ``None`` and the caller runs the per-snippet validation of
``validation.normalize_activation``, which names the feature index, the snippet and the field.

The token and value arrays come either from the parsed snippet dicts or, much faster, straight
from the file's bytes through the optional C scanner (``scanned.py``).
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from datetime import datetime
from itertools import chain

import numpy as np

from features.importers.binary import (
    _EMPTY_FLOAT4_ARRAY,
    _FLOAT4,
    _I,
    _INT4,
    _INT8,
    _NULL,
)
from features.importers.scanned import ScannedSnippets, tokens_values_from_scan
from features.importers.validation import MAX_INDEX, is_bos_token

_NONE = type(None)
_NUMBER_OR_NONE = {int, float, _NONE}


@dataclass
class ActivationBlock:
    """Validated snippets of a batch, in feature order. Row ``r`` belongs to the feature at
    position ``row_feature[r]`` of the list given to :func:`activations_block`."""

    n_rows: int
    row_feature: np.ndarray
    feature_max: dict[int, float]  # feature position -> max activation over its snippets
    token_rows: list[bytes]  # per row, its binary text[] elements (int32 length + UTF-8 each)
    token_counts: np.ndarray
    values_payload: bytes  # binary float4[] elements, 8 bytes per value
    value_bounds: np.ndarray
    max_value: np.ndarray
    max_index: np.ndarray
    min_value: np.ndarray
    bin_min: list
    bin_max: list
    bin_contains: list
    qualifying_token_index: list
    data_source: list
    data_index: list
    dfa_target_index: list
    dfa_max_value: list


def _numbers_ok(column: list) -> bool:
    if not set(map(type, column)) <= _NUMBER_OR_NONE:
        return False
    present = [v for v in column if v is not None]
    return math.isfinite(sum(present)) if present else True


def _ints_ok(column: list) -> bool:
    if not set(map(type, column)) <= {int, _NONE}:
        return False
    present = [v for v in column if v is not None]
    return not present or (min(present) >= -MAX_INDEX - 1 and max(present) <= MAX_INDEX)


def _tokens_values_from_lists(acts: list[dict]):
    """(token counts, float64 values, per-row text[] elements, first token of row r) from the
    parsed snippet dicts; ``None`` when a check fails."""
    n = len(acts)
    try:
        tokens_lists = [a["tokens"] for a in acts]
        values_lists = [a["values"] for a in acts]
    except KeyError:
        return None
    if n and (set(map(type, tokens_lists)) != {list} or set(map(type, values_lists)) != {list}):
        return None
    tlen = np.fromiter(map(len, tokens_lists), np.int64, n)
    vlen = np.fromiter(map(len, values_lists), np.int64, n)
    if n and ((tlen != vlen).any() or (tlen == 0).any()):
        return None
    total = int(tlen.sum())
    flat_values = list(chain.from_iterable(values_lists))
    if total and not set(map(type, flat_values)) <= {int, float}:
        return None
    values = np.array(flat_values, dtype=np.float64) if total else np.zeros(0)
    del flat_values
    lookup = _ENCODED.__getitem__
    try:
        token_rows = [b"".join(map(lookup, row)) for row in tokens_lists]
    except (TypeError, ValueError):  # a token that is not a string, holds NUL or cannot encode
        return None
    if len(_ENCODED) > _ENCODED_MAX:
        _ENCODED.clear()
    return tlen, values, token_rows, lambda r: tokens_lists[r][0]


def activations_block(
    per_feature: list[list], *, zero_bos: bool = False, scanned: ScannedSnippets | None = None
) -> ActivationBlock | None:
    """Check and encode the snippets of every feature of a batch at once; ``None`` when anything
    is off (the caller then validates snippet by snippet to report the problem). With
    ``scanned``, tokens and values come from the C scanner instead of the snippet dicts."""
    counts = list(map(len, per_feature))
    acts = list(chain.from_iterable(per_feature))
    n = len(acts)
    if set(map(type, acts)) - {dict}:
        return None
    got = _tokens_values_from_lists(acts) if scanned is None else tokens_values_from_scan(acts, scanned)
    if got is None:
        return None
    tlen, values, token_rows, first_token = got
    total = int(tlen.sum())
    if not np.isfinite(values).all():
        return None

    # Optional per-snippet scalars: Python lists, checked column by column.
    def column(*keys):
        if len(keys) == 1:
            return [a.get(keys[0]) for a in acts]
        return [a.get(keys[0], a.get(keys[1])) for a in acts]

    bin_min, bin_max, bin_contains = column("bin_min"), column("bin_max"), column("bin_contains")
    qti = column("qualifying_token_index")
    dfa_values = column("dfa_values", "dfaValues")
    dfa_max, dfa_target = column("dfa_maxValue", "dfaMaxValue"), column("dfa_targetIndex", "dfaTargetIndex")
    data_source, data_index = column("data_source", "dataSource"), column("data_index", "dataIndex")
    if not all(map(_numbers_ok, (bin_min, bin_max, bin_contains, dfa_max))):
        return None
    if not all(map(_ints_ok, (qti, dfa_target, data_index))):
        return None
    if any(dfa_values):  # non-empty DFA arrays are rare: let the per-snippet path handle them
        return None
    if not set(map(type, data_source)) <= {str, _NONE}:
        return None
    qti_arr = np.array([-1 if q is None else q for q in qti], dtype=np.int64)
    if n and ((qti_arr < -1) | (qti_arr >= tlen)).any():
        return None

    starts = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(tlen, out=starts[1:])
    if zero_bos and n:
        if not values.flags.writeable:  # the scanner's buffer
            values = values.copy()
        firsts = starts[:-1]
        for r in np.flatnonzero(values[firsts] != 0):
            if is_bos_token(first_token(r)):
                values[firsts[r]] = 0.0
    if n:
        max_value = np.maximum.reduceat(values, starts[:-1])
        min_value = np.minimum.reduceat(values, starts[:-1])
        row_of = np.repeat(np.arange(n), tlen)
        hits = np.flatnonzero(values == max_value[row_of])
        _, first = np.unique(row_of[hits], return_index=True)
        max_index = hits[first] - starts[:-1]
    else:
        max_value = min_value = np.zeros(0)
        max_index = np.zeros(0, dtype=np.int64)

    items = np.empty(total, dtype=[("len", ">i4"), ("value", ">f4")])
    items["len"] = 4
    items["value"] = values
    row_feature = np.repeat(np.arange(len(per_feature)), counts)
    feature_max: dict[int, float] = {}
    if n:
        nonempty = np.flatnonzero(np.asarray(counts) > 0)
        row_starts = np.zeros(len(counts), dtype=np.int64)
        np.cumsum(counts[:-1], out=row_starts[1:])
        per_feature_max = np.maximum.reduceat(max_value, row_starts[nonempty])
        feature_max = {int(p): float(m) for p, m in zip(nonempty, per_feature_max, strict=True)}
    return ActivationBlock(
        n_rows=n,
        row_feature=row_feature,
        feature_max=feature_max,
        token_rows=token_rows,
        token_counts=tlen,
        values_payload=items.tobytes(),
        value_bounds=starts * 8,
        max_value=max_value,
        max_index=max_index,
        min_value=min_value,
        bin_min=bin_min,
        bin_max=bin_max,
        bin_contains=bin_contains,
        qualifying_token_index=qti,
        data_source=data_source,
        data_index=data_index,
        dfa_target_index=dfa_target,
        dfa_max_value=dfa_max,
    )


class _EncodedTokens(dict):
    """token -> its binary ``text[]`` element (int32 byte length + UTF-8), filled on first use.
    Batches reuse a vocabulary of some thousands of strings, so each is encoded once."""

    def __missing__(self, token):
        if type(token) is not str:
            raise TypeError(f"token {token!r} is not a string")
        if "\x00" in token:
            raise ValueError("token holds NUL")
        data = token.encode()
        self[token] = element = _I(len(data)) + data
        return element


_ENCODED = _EncodedTokens()
_ENCODED_MAX = 1 << 20  # cleared past this many distinct tokens (memory stays bounded)


_MIDDLE = struct.Struct(">ifiiif").pack  # max_value, max_value_token_index, min_value (len-prefixed)


_PREFIX = np.dtype(
    [("fields", ">i2"), ("id_len", ">i4"), ("feature_id", ">i8")]
    + [(f"tok_{k}", ">i4") for k in ("bytes", "ndim", "hasnull", "oid", "n", "lb")]
)
_VALUES_HEAD = np.dtype([(f"val_{k}", ">i4") for k in ("bytes", "ndim", "hasnull", "oid", "n", "lb")])
# Nullable tail columns in row order: (name, numpy type, byte length when present).
_TAIL_NULLABLE = (
    ("bin_min", ">f4", 4),
    ("bin_max", ">f4", 4),
    ("bin_contains", ">f4", 4),
    ("qualifying_token_index", ">i4", 4),
    ("data_source", None, 0),  # text, always present: handled as empty text here
    ("data_index", ">i8", 8),
    ("dfa_values", None, 0),  # always the empty float4[] on this path
    ("dfa_target_index", ">i4", 4),
    ("dfa_max_value", ">f4", 4),
)


def encode_block(
    block: ActivationBlock, *, creator_id: int | None, created_at: datetime, timestamptz
) -> tuple[bytearray, np.ndarray]:
    """All rows of ``block`` in binary COPY form, back to back, with feature id 0 (patched in
    later), and each row's start offset. The fixed-size parts of every row are built as numpy
    structured arrays; rows are then stitched with one ``bytes.join``. Rows whose optional
    columns differ from the batch's first row in which are null, or that carry a data source,
    are encoded one by one (rare in practice)."""
    n = block.n_rows
    if n == 0:
        return bytearray(), np.zeros(0, dtype=np.int64)
    counts = block.token_counts
    tok_bytes = np.fromiter(map(len, block.token_rows), dtype=np.int64, count=n)
    prefix = np.zeros(n, dtype=_PREFIX)
    prefix["fields"] = 17
    prefix["id_len"] = 8
    prefix["tok_bytes"] = 20 + tok_bytes
    prefix["tok_ndim"], prefix["tok_oid"], prefix["tok_n"], prefix["tok_lb"] = 1, 25, counts, 1
    vhead = np.zeros(n, dtype=_VALUES_HEAD)
    vhead["val_bytes"] = 20 + 8 * counts
    vhead["val_ndim"], vhead["val_oid"], vhead["val_n"], vhead["val_lb"] = 1, 700, counts, 1

    # The tail: max/min, optional columns, creator, created_at. One layout for the rows whose
    # null pattern matches row 0 and that have no data source; the others go one by one.
    columns = {name: getattr(block, name) for name, kind, _ in _TAIL_NULLABLE if kind}
    null = {name: np.fromiter((v is None for v in col), dtype=bool, count=n) for name, col in columns.items()}
    pattern = {name: bool(flags[0]) for name, flags in null.items()}
    uniform = np.ones(n, dtype=bool)
    for name, flags in null.items():
        uniform &= flags == pattern[name]
    uniform &= np.fromiter((not s for s in block.data_source), dtype=bool, count=n)
    fields = [
        ("max_len", ">i4"),
        ("max", ">f4"),
        ("idx_len", ">i4"),
        ("idx", ">i4"),
        ("min_len", ">i4"),
        ("min", ">f4"),
    ]
    for name, kind, _size in _TAIL_NULLABLE:
        if name == "data_source":
            fields.append(("source_len", ">i4"))
        elif name == "dfa_values":
            fields += [("dfa_bytes", ">i4"), ("dfa_ndim", ">i4"), ("dfa_hasnull", ">i4"), ("dfa_oid", ">i4")]
        elif pattern[name]:
            fields.append((f"{name}_len", ">i4"))  # -1: NULL
        else:
            fields += [(f"{name}_len", ">i4"), (name, kind)]
    fields += [("creator_len", ">i4")] + ([] if creator_id is None else [("creator", ">i8")])
    fields += [("created_len", ">i4"), ("created", ">i8")]
    rows = np.flatnonzero(uniform)
    tail = np.zeros(len(rows), dtype=np.dtype(fields))
    tail["max_len"], tail["idx_len"], tail["min_len"] = 4, 4, 4
    tail["max"], tail["idx"], tail["min"] = (
        block.max_value[rows],
        block.max_index[rows],
        block.min_value[rows],
    )
    tail["dfa_bytes"], tail["dfa_oid"] = 12, 700
    for name, kind, size in _TAIL_NULLABLE:
        if kind is None:
            continue
        if pattern[name]:
            tail[f"{name}_len"] = -1
        else:
            tail[f"{name}_len"] = size
            column = columns[name] if len(rows) == n else [columns[name][r] for r in rows.tolist()]
            tail[name] = np.array(column, dtype=np.float64 if kind.endswith("f4") else np.int64)
    if creator_id is None:
        tail["creator_len"] = -1
    else:
        tail["creator_len"], tail["creator"] = 8, creator_id
    created = timestamptz(created_at)
    tail["created_len"], tail["created"] = 8, struct.unpack(">q", created[4:])[0]
    tail_of = np.full(n, -1, dtype=np.int64)
    tail_of[rows] = np.arange(len(rows))

    prefix_b, vhead_b, tail_b = (
        memoryview(prefix.tobytes()),
        memoryview(vhead.tobytes()),
        memoryview(tail.tobytes()),
    )
    token_rows, values = block.token_rows, memoryview(block.values_payload)
    ps, vs, ts = _PREFIX.itemsize, _VALUES_HEAD.itemsize, tail.dtype.itemsize
    vb = block.value_bounds.tolist()
    slow = (
        None if uniform.all() else _row_tails_one_by_one(block, np.flatnonzero(~uniform), creator_id, created)
    )
    parts = []
    for r, t in enumerate(tail_of.tolist()):
        parts += (
            prefix_b[r * ps : (r + 1) * ps],
            token_rows[r],
            vhead_b[r * vs : (r + 1) * vs],
            values[vb[r] : vb[r + 1]],
            tail_b[t * ts : (t + 1) * ts] if t >= 0 else slow[r],
        )
    sizes = np.fromiter(map(len, parts), dtype=np.int64, count=len(parts)).reshape(n, 5).sum(axis=1)
    offsets = np.zeros(n, dtype=np.int64)
    np.cumsum(sizes[:-1], out=offsets[1:])
    return bytearray().join(parts), offsets


def _row_tails_one_by_one(block: ActivationBlock, rows, creator_id, created: bytes) -> dict[int, bytes]:
    f4 = lambda v: _NULL if v is None else _FLOAT4(4, v)  # noqa: E731
    i4 = lambda v: _NULL if v is None else _INT4(4, v)  # noqa: E731
    i8 = lambda v: _NULL if v is None else _INT8(8, v)  # noqa: E731
    creator = _NULL if creator_id is None else _INT8(8, creator_id)
    out = {}
    for r in rows.tolist():
        source = (block.data_source[r] or "").encode()
        out[r] = b"".join(
            (
                _MIDDLE(
                    4, float(block.max_value[r]), 4, int(block.max_index[r]), 4, float(block.min_value[r])
                ),
                f4(block.bin_min[r]),
                f4(block.bin_max[r]),
                f4(block.bin_contains[r]),
                i4(block.qualifying_token_index[r]),
                _I(len(source)),
                source,
                i8(block.data_index[r]),
                _EMPTY_FLOAT4_ARRAY,
                i4(block.dfa_target_index[r]),
                f4(block.dfa_max_value[r]),
                creator,
                created,
            )
        )
    return out
