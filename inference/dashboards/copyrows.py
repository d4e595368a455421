"""Binary COPY rows of ``features_activation`` straight from the generator's arrays.

The importers' path (``features.importers.prepare.features_prepare``) starts from snippet dicts:
for a generated source that meant building ~6 million Python floats and strings per 2,000
features only to take them apart again, three times the cost of the model forward and the SAE
encode. Here the rows are built from :class:`~inference.dashboards.arrays.DashboardArrays` with
numpy: the fixed-size part of every row (values array, max/min, bins, data source and index,
creator, time) is one structured array; the variable part (the tokens' ``text[]``) is encoded
once per corpus prompt and shared by every snippet of that prompt.

The bytes are exactly those of ``features_prepare`` on the same snippets as dicts (the test
``inference/tests/test_dashboards_copyrows.py`` compares them), in the same order, with the feature
id left 0 for ``PreparedFeatures.rows_with_ids``. Data the fast path does not accept (a
non-finite value, a token that is not a string or holds NUL) makes :func:`encodable` false: the
caller then writes the dicts through the importers, whose validation names the problem.
"""

from __future__ import annotations

import gc
import struct
import sys
import threading
from collections.abc import Callable
from datetime import datetime

import numpy as np

from features.importers.binary import timestamptz
from features.importers.prepare import PreparedFeatures
from features.importers.validation import normalize_features
from inference.dashboards.arrays import DashboardArrays
from inference.dashboards.featurerows import feature_rows

_HEAD = struct.Struct(">hiqiiiiii")  # fields, id (len, value), tokens text[] header


def encodable(arrays: DashboardArrays) -> bool:
    """Whether every snippet can be encoded here (else: the importers' path, which explains)."""
    if sys.byteorder != "little":  # the row writer byte-swaps words (kernels.write_rows)
        return False
    if len(arrays.snip_seq) and arrays.snip_values.shape[1] == 0:  # empty snippets: refused there
        return False
    if not np.isfinite(arrays.snip_values).all():
        return False
    for column in (arrays.snip_bin_min, arrays.snip_bin_max, arrays.snip_bin_contains):
        if not np.isfinite(column).all():
            return False
    used = (
        np.unique(arrays.tokens[np.unique(arrays.snip_seq), arrays.first :]) if len(arrays.snip_seq) else []
    )
    for t in np.asarray(used).tolist():
        s = arrays.token_str(t)
        if type(s) is not str or "\x00" in s:
            return False
    return True


def _tail_dtype(n_values: int, source_len: int, with_creator: bool) -> np.dtype:
    i4 = ">i4"
    fields = [(f"vh{k}", i4) for k in range(6)]
    fields.append(("vals", [("len", i4), ("value", ">f4")], (n_values,)))
    for name, kind in (("max", ">f4"), ("idx", i4), ("min", ">f4"), ("bmin", ">f4"), ("bmax", ">f4"),
                       ("bc", ">f4"), ("qti", i4)):  # fmt: skip
        fields += [(f"{name}_len", i4), (name, kind)]
    fields.append(("src_len", i4))
    if source_len:
        fields.append(("src", f"S{source_len}"))
    fields += [("di_len", i4), ("di", ">i8")]
    fields += [(f"dfa{k}", i4) for k in range(4)]  # the empty float4[] of dfa_values
    fields += [("dfa_t_len", i4), ("dfa_m_len", i4), ("creator_len", i4)]
    if with_creator:
        fields.append(("creator", ">i8"))
    fields += [("created_len", i4), ("created", ">i8")]
    return np.dtype(fields)


class _Thread(threading.Thread):
    """Runs ``fn()`` at once; ``join()`` waits and raises what it raised."""

    def __init__(self, fn):
        super().__init__(name="dashboards-rows", daemon=True)
        self.fn, self.error = fn, None
        self.start()

    def run(self) -> None:
        try:
            self.fn()
        except BaseException as exc:  # raised in the joining thread
            self.error = exc

    def join(self, timeout=None) -> None:
        super().join(timeout)
        if self.error is not None:
            raise self.error


class SnippetEncoder:
    """Encodes the snippets of one :class:`DashboardArrays` (per prompt: its tokens' bytes,
    encoded once and reused by every batch)."""

    def __init__(self, arrays: DashboardArrays, *, data_source: str):
        self.arrays = arrays
        self.source = (data_source or "").encode()
        self._heads: dict[int, bytes] = {}
        self._elements: dict[int, bytes] = {}
        self.bounds = arrays.snippet_bounds()

    def _element(self, token_id: int) -> bytes:
        element = self._elements.get(token_id)
        if element is None:
            data = self.arrays.token_str(token_id).encode()
            element = self._elements[token_id] = struct.pack(">i", len(data)) + data
        return element

    def _head(self, seq: int) -> bytes:
        """Field count, feature id 0 and the ``text[]`` of prompt ``seq``'s snippet tokens."""
        head = self._heads.get(seq)
        if head is None:
            ids = self.arrays.tokens[seq, self.arrays.first :].tolist()
            body = b"".join(map(self._element, ids))
            head = self._heads[seq] = _HEAD.pack(17, 8, 0, 20 + len(body), 1, 0, 25, len(ids), 1) + body
        return head

    def rows(
        self, start: int, stop: int, *, creator_id: int | None, created_at: datetime
    ) -> tuple[bytearray, np.ndarray, np.ndarray]:
        """The rows of the features at positions ``start:stop``: ``(rows, row offsets, row
        feature)`` where row feature is the position minus ``start``."""
        rows, offsets, row_feature, write = self._rows_job(
            start, stop, creator_id=creator_id, created_at=created_at
        )
        write()
        return rows, offsets, row_feature

    def _rows_job(self, start: int, stop: int, *, creator_id: int | None, created_at: datetime):
        """``(rows, offsets, row feature, write)``: the buffer laid out, ``write()`` fills it
        (a compiled loop that releases the GIL, so it can run in a thread)."""
        a = self.arrays
        lo, hi = int(self.bounds[start]), int(self.bounds[stop])
        n = hi - lo
        if n == 0:
            return bytearray(), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), lambda: None
        values = np.ascontiguousarray(a.snip_values[lo:hi], dtype=np.float32)
        width = values.shape[1]
        # the constant bytes of every row's fixed-size tail, once; a compiled loop then writes
        # each row: its prompt's head (encoded once per prompt), this template, and the row's own
        # fields into it (numpy over the whole block took three passes over the values plus a
        # float64 copy and a sort for the first index of the max)
        tail = np.zeros(1, dtype=_tail_dtype(width, len(self.source), creator_id is not None))
        tail["vh0"], tail["vh1"], tail["vh3"], tail["vh4"], tail["vh5"] = 20 + 8 * width, 1, 700, width, 1
        tail["vals"]["len"] = 4
        for name in ("max", "idx", "min", "bmin", "bmax", "bc", "qti"):
            tail[f"{name}_len"] = 4
        tail["src_len"] = len(self.source)
        if self.source:
            tail["src"] = self.source
        tail["di_len"] = 8
        tail["dfa0"], tail["dfa3"] = 12, 700
        tail["dfa_t_len"], tail["dfa_m_len"] = -1, -1
        if creator_id is None:
            tail["creator_len"] = -1
        else:
            tail["creator_len"], tail["creator"] = 8, creator_id
        tail["created_len"], tail["created"] = 8, struct.unpack(">q", timestamptz(created_at)[4:])[0]
        fields = tail.dtype.fields
        at = np.array(
            [fields["vals"][1] + 4]
            + [fields[k][1] for k in ("max", "idx", "min", "bmin", "bmax", "bc", "qti", "di")],
            dtype=np.int64,
        )

        from inference.dashboards.copykernels import write_rows

        seqs = a.snip_seq[lo:hi].astype(np.int64, copy=False)
        used = np.unique(seqs)
        heads = [self._head(s) for s in used.tolist()]
        head_len = np.zeros(int(used[-1]) + 1, dtype=np.int64)
        head_len[used] = np.fromiter(map(len, heads), dtype=np.int64, count=len(heads))
        head_off = np.zeros_like(head_len)
        head_off[used] = np.cumsum(head_len[used]) - head_len[used]
        ts = tail.dtype.itemsize
        sizes = head_len[seqs] + ts
        offsets = np.zeros(n, dtype=np.int64)
        np.cumsum(sizes[:-1], out=offsets[1:])
        rows = bytearray(int(offsets[-1] + sizes[-1]))
        args = (
            np.frombuffer(rows, dtype=np.uint8),
            offsets,
            np.frombuffer(b"".join(heads), dtype=np.uint8),
            head_off,
            head_len,
            seqs,
            tail.view(np.uint8),
            values,
            at,
            np.ascontiguousarray(a.snip_bin_min[lo:hi], dtype=np.float64),
            np.ascontiguousarray(a.snip_bin_max[lo:hi], dtype=np.float64),
            np.ascontiguousarray(a.snip_bin_contains[lo:hi], dtype=np.float64),
            a.snip_qti[lo:hi].astype(np.int64, copy=False),
            seqs,
        )
        return rows, offsets, a.snip_feature[lo:hi] - start, lambda: write_rows(0, n, *args)

    def prepare(
        self,
        start: int,
        stop: int,
        *,
        decorate: Callable[[dict], dict],
        d_sae: int | None,
        creator_id: int | None,
        created_at: datetime,
    ) -> PreparedFeatures:
        """The importers' :class:`PreparedFeatures` for the features at ``start:stop``: the
        feature rows validated by ``normalize_features`` (``decorate`` adds the extras), the
        activation rows encoded here. The rows are written in a thread (compiled, without the
        GIL) while this one builds and validates the feature rows (Python): on two cores the
        two take the time of the longer."""
        rows, offsets, row_feature, write = self._rows_job(
            start, stop, creator_id=creator_id, created_at=created_at
        )
        writer = _Thread(write)
        # The cyclic collector paused while the feature rows are built (as the importers' batch
        # parse does): they are tens of thousands of lists and dicts without cycles, and a full
        # collection they trigger walks every object of a process that holds torch (~660,000:
        # 0.35 CPU-s each, seen in one run out of two at a realistic SAE width).
        enabled = gc.isenabled()
        gc.disable()
        try:
            # checked on the arrays once (the same dicts as below); else the importers' check
            normalized = feature_rows(self.arrays, range(start, stop), decorate=decorate, d_sae=d_sae)
            if normalized is None:
                dicts = [
                    decorate(d) for d in self.arrays.feature_dicts(range(start, stop), activations=False)
                ]
                normalized = normalize_features(dicts, d_sae=d_sae, defer_activations=True)
        finally:
            if enabled:
                gc.enable()
            writer.join()
        return PreparedFeatures(
            features=normalized,
            snippet_positions=list(range(len(normalized))),
            rows=rows,
            row_offsets=offsets,
            row_feature=row_feature,
            n_rows=len(offsets),
        )
