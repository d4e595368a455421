"""The Python side of the optional C scanner (``_fastscan.c``, built by ``make install``).

The scanner reads a SAEDashboard batch file's bytes once and encodes every snippet's ``tokens``
and ``values`` arrays straight into binary COPY form, returning the document with those arrays
replaced by ``null``: parsing that skeleton with orjson no longer creates millions of strings and
floats, which was most of an import's time. It only accepts: on anything unusual it returns
``None`` and the pure-Python path (same rows, byte for byte) runs and names the problem.
"""

from __future__ import annotations

from dataclasses import dataclass
from operator import itemgetter

import numpy as np

try:
    from features.importers._fastscan import scan
except ImportError:  # pragma: no cover - no C compiler where it was installed
    scan = None


@dataclass
class ScannedSnippets:
    """The snippets' tokens and values of a batch file as ``_fastscan.scan`` encoded them from
    the JSON bytes, in document order (the skeleton it returns has ``null`` in their place)."""

    token_counts: np.ndarray
    value_counts: np.ndarray
    token_payload: bytes  # per token: int32 big-endian length + UTF-8
    token_row_bytes: np.ndarray
    values: np.ndarray  # float64

    @classmethod
    def from_scan(cls, result: tuple) -> tuple[bytes, ScannedSnippets]:
        skeleton, tcounts, vcounts, payload, row_bytes, values = result
        return skeleton, cls(
            token_counts=np.frombuffer(tcounts, dtype=np.int64),
            value_counts=np.frombuffer(vcounts, dtype=np.int64),
            token_payload=payload,
            token_row_bytes=np.frombuffer(row_bytes, dtype=np.int64),
            values=np.frombuffer(values, dtype=np.float64),
        )


def tokens_values_from_scan(acts: list[dict], scanned: ScannedSnippets):
    """As ``columnar._tokens_values_from_lists``, from the scanner's output (whose string and number
    checks are done): checks that it lines up with the skeleton's snippets."""
    n = len(acts)
    tlen, vlen = scanned.token_counts, scanned.value_counts
    if len(tlen) != n or len(vlen) != n:
        return None
    try:
        if n and {*map(itemgetter("tokens"), acts), *map(itemgetter("values"), acts)} != {None}:
            return None
    except KeyError:
        return None
    if n and ((tlen != vlen).any() or (tlen == 0).any()):
        return None
    ends = np.cumsum(scanned.token_row_bytes)
    starts = (ends - scanned.token_row_bytes).tolist()
    payload = memoryview(scanned.token_payload)
    token_rows = [payload[a:b] for a, b in zip(starts, ends.tolist(), strict=True)]

    def first_token(r):
        at = starts[r]
        size = int.from_bytes(payload[at : at + 4], "big")
        return bytes(payload[at + 4 : at + 4 + size]).decode()

    return tlen, scanned.values, token_rows, first_token  # read-only: copied if written
