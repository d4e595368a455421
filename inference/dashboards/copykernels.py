"""The compiled loop that writes the generator's binary COPY rows (``copyrows.py``)."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True, boundscheck=False, inline="always")
def _be32(out, o, u):
    out[o] = (u >> 24) & 255
    out[o + 1] = (u >> 16) & 255
    out[o + 2] = (u >> 8) & 255
    out[o + 3] = u & 255


@njit(cache=True, nogil=True, boundscheck=False, error_model="numpy")
def write_rows(r0, r1, out, offsets, heads, head_off, head_len, seqs, template, values, at, bmin, bmax, bc,
               qti, di):  # fmt: skip
    """The COPY rows ``r0:r1`` of the snippets, each at ``out[offsets[r]:]``: prompt ``seqs[r]``'s
    head bytes (``heads[head_off[s]:][:head_len[s]]``), then the fixed-size tail: ``template``
    (the constant bytes: array headers, field lengths, data source, creator, time) with the
    row's own fields written big-endian at the byte offsets ``at`` (in the template: the values'
    first value, max, its first index, min, bin_min, bin_max, bin_contains, qualifying index,
    data index). ``values [n, L]`` float32; max / its first index / min as the importers compute
    them (the first largest value; float32 compares exactly as the float64 they use). The float64
    bins are rounded to float32 as numpy's ``astype`` rounds them. Rows are independent, so
    threads can write disjoint row ranges of one buffer."""
    ts = template.shape[0]
    width = values.shape[1]
    v_at, max_at, idx_at, min_at, bmin_at = at[0], at[1], at[2], at[3], at[4]
    bmax_at, bc_at, qti_at, di_at = at[5], at[6], at[7], at[8]
    bits = values.view(np.uint32)
    f32 = np.empty(3, dtype=np.float32)
    f32_bits = f32.view(np.uint32)
    # the values part (length 4, then the value, big-endian) built in an aligned scratch row of
    # words and copied as bytes: byte-by-byte stores into the unaligned rows were the slow part
    pairs = np.empty(2 * width, dtype=np.uint32)
    pairs_b = pairs.view(np.uint8)
    four = np.uint32(4 << 24)  # 4 as a big-endian word read little-endian
    for j in range(width):
        pairs[2 * j] = four
    for r in range(r0, r1):
        o = offsets[r]
        s = seqs[r]
        hl = head_len[s]
        out[o : o + hl] = heads[head_off[s] : head_off[s] + hl]
        t = o + hl
        out[t : t + ts] = template
        row = values[r]
        mx = row[0]
        mn = row[0]
        ix = 0
        for j in range(width):
            u = bits[r, j]
            pairs[2 * j + 1] = (
                ((u & np.uint32(0xFF)) << np.uint32(24))
                | ((u & np.uint32(0xFF00)) << np.uint32(8))
                | ((u >> np.uint32(8)) & np.uint32(0xFF00))
                | (u >> np.uint32(24))
            )
        for j in range(width):
            v = row[j]
            if v > mx:
                mx = v
                ix = j
            if v < mn:
                mn = v
        out[t + v_at - 4 : t + v_at - 4 + 8 * width] = pairs_b
        _be32(out, t + max_at, bits[r, ix])
        _be32(out, t + idx_at, np.uint32(ix))
        f32[0] = mn
        _be32(out, t + min_at, f32_bits[0])
        f32[0] = np.float32(bmin[r])
        f32[1] = np.float32(bmax[r])
        f32[2] = np.float32(bc[r])
        _be32(out, t + bmin_at, f32_bits[0])
        _be32(out, t + bmax_at, f32_bits[1])
        _be32(out, t + bc_at, f32_bits[2])
        _be32(out, t + qti_at, np.uint32(np.int32(qti[r]) & 0xFFFFFFFF))
        d = np.uint64(di[r])
        _be32(out, t + di_at, np.uint32(d >> np.uint64(32)))
        _be32(out, t + di_at + 4, np.uint32(d & np.uint64(0xFFFFFFFF)))


def warm() -> None:
    """Load (or compile) :func:`write_rows` (``kernels.warm`` calls this)."""
    u8, i64 = np.zeros(1, np.uint8), np.zeros(1, np.int64)
    f64 = np.zeros(1, np.float64)
    write_rows(0, 1, np.zeros(40, np.uint8), i64, u8, i64, np.ones(1, np.int64), i64, np.zeros(12, np.uint8),
               np.ones((1, 1), np.float32), np.full(9, 4, np.int64), f64, f64, f64, i64, i64)  # fmt: skip
