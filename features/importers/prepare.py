"""Preparing a batch for the database without touching it: parse, validate, encode.

Pure Python + numpy (no Django, no database), so that an import can prepare the next batch files
in worker processes while the main process streams the current one into PostgreSQL. The result
holds the normalized feature rows and the activation rows already in binary COPY form, with the
feature ids left as placeholders: ids exist only once the main process has upserted the features,
and :func:`PreparedFeatures.rows_with_ids` patches them in with one vectorised write.
"""

from __future__ import annotations

import gc
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import orjson

from features.importers.binary import activation_row, encode_activation, timestamptz
from features.importers.columnar import activations_block, encode_block
from features.importers.scanned import ScannedSnippets
from features.importers.scanned import scan as _fast_scan
from features.importers.validation import (
    REQUIRED_FEATURE_KEYS,
    FeatureDataError,
    finish_activations,
    normalize_features,
)

# A binary COPY row starts with a 2-byte field count, then the feature id as (int32 length 8,
# int64 value): the id's 8 bytes sit at offset 6 of every row.
_FEATURE_ID_AT = 6


class BatchFileError(ValueError):
    """A batch file that cannot be imported; the message names the file and the problem."""


class _ScanDeclined(Exception):
    """The scanner's output did not pass the batch-wide checks: parse the file in full."""


@dataclass
class PreparedFeatures:
    features: list[dict]  # normalized feature columns; "activations" is None or the raw list
    snippet_positions: list[int]  # features (by position) whose activations are replaced
    rows: bytearray  # binary COPY rows of features_activation (no header/trailer), ids = 0
    row_offsets: np.ndarray
    row_feature: np.ndarray  # per row: index into snippet_positions
    n_rows: int

    def rows_with_ids(self, replaced_ids: list[int]) -> bytearray:
        """The rows with ``replaced_ids[i]`` (the database id of the feature at
        ``snippet_positions[i]``) written into each row's feature id field, in place (the rows
        are hundreds of megabytes per million snippets: no copies)."""
        if not self.n_rows:
            return bytearray()
        data = np.frombuffer(self.rows, dtype=np.uint8)
        ids = np.asarray(replaced_ids, dtype=">i8")[self.row_feature].view(np.uint8).reshape(-1, 8)
        data[(self.row_offsets + _FEATURE_ID_AT)[:, None] + np.arange(8)] = ids
        return self.rows

    def drop_snippets(self) -> None:
        """Forget the raw snippet lists (encoded in ``rows``): smaller to keep and to pickle."""
        for position in self.snippet_positions:
            self.features[position]["activations"] = ()


def features_prepare(
    features: list,
    *,
    zero_bos: bool = False,
    required: tuple[str, ...] = REQUIRED_FEATURE_KEYS,
    d_sae: int | None = None,
    creator_id: int | None = None,
    created_at: datetime,
    scanned: ScannedSnippets | None = None,
) -> PreparedFeatures:
    """Validate a batch of SAEDashboard-shaped feature dicts and encode their snippets.
    Raises ``FeatureDataError`` naming the feature index and field. With ``scanned`` (the C
    scanner's output for the document the features come from), raises ``_ScanDeclined`` when
    that does not pass the batch-wide checks."""
    normalized = normalize_features(
        features, d_sae=d_sae, zero_bos=zero_bos, required=required, defer_activations=True
    )
    positions = [p for p, f in enumerate(normalized) if f["activations"] is not None]
    block = activations_block(
        [normalized[p]["activations"] for p in positions], zero_bos=zero_bos, scanned=scanned
    )
    if block is None and scanned is not None:
        raise _ScanDeclined
    if block is not None:
        for i, position in enumerate(positions):
            f = normalized[position]
            if f["max_act_approx"] is None and i in block.feature_max:
                f["max_act_approx"] = block.feature_max[i]
        rows, offsets = encode_block(
            block, creator_id=creator_id, created_at=created_at, timestamptz=timestamptz
        )
        row_feature = block.row_feature
    else:
        # The batch-wide check declined: validate snippet by snippet, which names the problem
        # (or accepts rarer shapes such as non-empty DFA arrays, encoded one by one).
        finish_activations(normalized, zero_bos=zero_bos)
        parts = [
            encode_activation(activation_row(feature_id=0, a=a, creator_id=creator_id, created_at=created_at))
            for p in positions
            for a in normalized[p]["activations"]
        ]
        row_feature = np.repeat(
            np.arange(len(positions)), [len(normalized[p]["activations"]) for p in positions]
        )
        lengths = np.fromiter(map(len, parts), dtype=np.int64, count=len(parts))
        offsets = np.zeros(len(parts), dtype=np.int64)
        if len(parts) > 1:
            np.cumsum(lengths[:-1], out=offsets[1:])
        rows = bytearray().join(parts)
    return PreparedFeatures(
        features=normalized,
        snippet_positions=positions,
        rows=rows,
        row_offsets=offsets,
        row_feature=np.asarray(row_feature, dtype=np.int64),
        n_rows=len(offsets),
    )


def parse_json_bytes(data: bytes, *, path) -> object:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        # orjson rejects NaN/Infinity, which Python's json (and so SAEDashboard) writes:
        # parse those with the standard library so validation can name the field instead.
        try:
            return json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise BatchFileError(f"{path}: malformed JSON ({exc})") from None


@dataclass
class PreparedFile:
    """A SAEDashboard batch file read, checksummed, parsed and prepared (or why not)."""

    path: Path
    checksum: str = ""
    skipped: bool = False  # already in the ledger with this checksum: not parsed
    header: object = None  # the document without its features, plus "first_feature" (no snippets)
    prepared: PreparedFeatures | None = None
    error: str | None = None  # a message naming the file, feature index and field


def batch_file_prepare(
    path: Path, *, done_checksum: str | None, zero_bos: bool, created_at: datetime, fast: bool = True
) -> PreparedFile:
    """Everything about one batch file that needs no database (runs in worker processes).
    ``fast=False`` skips the C scanner (which only ever accepts; see ``_fastscan.c``)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        return PreparedFile(path=path, error=f"{path}: cannot read ({exc.strerror})")
    checksum = hashlib.sha256(data).hexdigest()  # as ledger.bytes_checksum (no Django here)
    if checksum == done_checksum:
        return PreparedFile(path=path, checksum=checksum, skipped=True)
    return _bytes_prepare(
        data, path=path, checksum=checksum, zero_bos=zero_bos, created_at=created_at, fast=fast
    )


def _bytes_prepare(
    data: bytes, *, path: Path, checksum: str, zero_bos: bool, created_at: datetime, fast: bool
) -> PreparedFile:
    doc = scanned = None
    if _fast_scan is not None and fast:
        result = _fast_scan(data)
        if result is not None:
            skeleton, scanned = ScannedSnippets.from_scan(result)
            try:
                doc = orjson.loads(skeleton)
            except orjson.JSONDecodeError:  # the scanner is laxer somewhere: take the full path
                scanned = None
    try:
        if scanned is None:
            doc = parse_json_bytes(data, path=path)
    except BatchFileError as exc:
        return PreparedFile(path=path, checksum=checksum, error=str(exc))
    if type(doc) is not dict or type(doc.get("features")) is not list:
        return PreparedFile(path=path, checksum=checksum, header=doc)  # the header check reports it
    features = doc["features"]
    doc["features"] = []  # the header keeps the key (checked by the importer), not the data
    first = features[0] if features and type(features[0]) is dict else None
    doc["first_feature"] = {k: v for k, v in first.items() if k != "activations"} if first else None
    try:
        prepared = features_prepare(features, zero_bos=zero_bos, created_at=created_at, scanned=scanned)
    except FeatureDataError as exc:
        return PreparedFile(path=path, checksum=checksum, header=doc, error=f"{path}: {exc}")
    except _ScanDeclined:  # something the batch-wide checks refuse: the full parse names it
        del features, doc
        return _bytes_prepare(
            data, path=path, checksum=checksum, zero_bos=zero_bos, created_at=created_at, fast=False
        )
    prepared.drop_snippets()
    return PreparedFile(path=path, checksum=checksum, header=doc, prepared=prepared)


def worker_init(parent_pid: int) -> None:
    """Initializer of import worker processes: exit when the importing process is gone (killed
    with SIGKILL, it cannot shut its pool down), instead of lingering as orphans."""
    import os
    import threading
    import time

    def watch():
        while os.getppid() == parent_pid:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def batch_file_prepare_no_gc(path: Path, **kwargs) -> PreparedFile:
    """:func:`batch_file_prepare` with the cyclic garbage collector paused: parsing a batch
    allocates millions of lists and dicts, and the collector's passes over them cost about 15%
    of the time while finding nothing (parsed JSON has no reference cycles)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        return batch_file_prepare(path, **kwargs)
    finally:
        if enabled:
            gc.enable()
