"""The generator's two streaming passes over one prompt batch, each as ONE sweep of the feature
activations ``feats [B * L, F]`` in the layout the SAE encoder writes them (numba, compiled once
and cached on disk).

Written with tensor operations, the passes took some thirty full sweeps of the ``[T, F]`` matrix
per batch (a transposed copy, masks, a ``torch.where`` + ``argmax`` per interval, histogram bins
through several temporaries, two ``scatter_add``): four times the cost of the model forward and
the SAE encode themselves. Here each element is read once per pass into per-prompt summaries
(``[B, F]`` arrays), which :func:`top_merge` and :func:`sample_merge` fold into the running top
lists and interval samples by insertion (an entry is rarely better than a feature's kept ones,
so this is one comparison per prompt and feature; before, a torch sort and ``topk`` per batch
and interval, with their gathers, cost as much as a pass). Every kernel touches only the features
``f0:f1`` it is given, so the engine splits a batch over threads by feature range.

The arithmetic is the tensor version's, in the same float32 steps, so the results are identical:
the histogram bin is ``floor((v - min) * nb / span)`` and the interval ``trunc(v / width)``, each
operation rounded to float32 as torch rounds it.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# pass2 takes a token row entry by entry, positive ones only, when fewer than 1 in SPARSE_FROM of
# its features fire (a trained SAE's row); else the branch-free loop over all of them. Rows are
# counted only when the first SAMPLE_ROWS of the batch look sparse (at 45% density the count per
# row cost a fifth of the pass).
SPARSE_FROM = 8
SAMPLE_ROWS = 64  # the rows of a batch that decide whether to look for sparse rows at all

# error_model="numpy": no zero-division checks, whose branches stop the loops from vectorising
# (the divisors are clamped away from zero by the caller).


@njit(cache=True, nogil=True, boundscheck=False, error_model="numpy")
def _sift_down(heap, f, size):
    i = 0
    while True:
        left = 2 * i + 1
        if left >= size:
            return
        child = left
        right = left + 1
        if right < size and heap[f, right] < heap[f, left]:
            child = right
        if heap[f, child] < heap[f, i]:
            heap[f, i], heap[f, child] = heap[f, child], heap[f, i]
            i = child
        else:
            return


@njit(cache=True, nogil=True, boundscheck=False, error_model="numpy")
def _push(heap, f, size, v):
    """Push ``v`` onto feature ``f``'s min-heap holding ``size`` entries."""
    i = size
    heap[f, i] = v
    while i > 0:
        parent = (i - 1) // 2
        if heap[f, i] < heap[f, parent]:
            heap[f, i], heap[f, parent] = heap[f, parent], heap[f, i]
            i = parent
        else:
            break


@njit(cache=True, nogil=True, boundscheck=False, error_model="numpy")
def pass1(feats, ctx_len, f0, f1, act_max, act_min, heap, heap_size, p_max, p_pos):
    """Density extremes, the quantile tail and the per-prompt maxima of one batch.

    ``act_max`` (running max, from 0), ``act_min`` (running smallest positive value, from inf)
    ``[F]``; ``heap [F, q_k]`` a min-heap per feature of the ``q_k`` largest values seen, all
    features holding ``heap_size`` entries (the new size is returned); ``p_max``/``p_pos
    [B, F]``: each prompt's largest activation and its first position (written).

    The inner loop over features is ONE branch-free loop over slices of this range (views, so
    that LLVM sees no aliasing and vectorises it; the positions are int32 like ``p_pos``: an
    int64 there, or the arrays indexed whole, kept it scalar at a third of the speed). The heap
    is touched only for the rare values above a feature's current tail threshold. Only the
    features ``f0:f1`` are touched, so that threads can share a batch by feature range."""
    n_tok = feats.shape[0]
    q_k = heap.shape[1]
    size = heap_size
    inf = np.float32(np.inf)
    m = f1 - f0
    thr = np.empty(m, dtype=np.float32)  # each feature's smallest kept value, once full
    amin = np.empty(m, dtype=np.float32)
    for k in range(m):
        thr[k] = heap[f0 + k, 0] if size == q_k else -inf
        amin[k] = act_min[f0 + k]
    for t in range(n_tok):
        p = t // ctx_len
        pos = np.int32(t - p * ctx_len)
        row = feats[t, f0:f1]
        pm = p_max[p, f0:f1]
        pp = p_pos[p, f0:f1]
        if pos == 0:
            for k in range(m):
                v = row[k]
                pm[k] = v
                pp[k] = 0
                w = v if v > 0 else inf
                amin[k] = w if w < amin[k] else amin[k]
        else:
            for k in range(m):
                v = row[k]
                better = v > pm[k]
                pm[k] = v if better else pm[k]
                pp[k] = pos if better else pp[k]
                w = v if v > 0 else inf
                amin[k] = w if w < amin[k] else amin[k]
        if size < q_k:  # filling the tails: every value goes in
            for k in range(m):
                _push(heap, f0 + k, size, row[k])
            size += 1
            if size == q_k:
                for k in range(m):
                    thr[k] = heap[f0 + k, 0]
        else:
            above = 0
            for k in range(m):
                above += row[k] > thr[k]
            if above:
                for k in range(m):
                    v = row[k]
                    if v > thr[k]:
                        heap[f0 + k, 0] = v
                        _sift_down(heap, f0 + k, q_k)
                        thr[k] = heap[f0 + k, 0]
        if pos == ctx_len - 1 or t == n_tok - 1:
            am = act_max[f0:f1]
            for k in range(m):
                am[k] = pm[k] if pm[k] > am[k] else am[k]
    for k in range(m):
        act_min[f0 + k] = amin[k]
    return size


@njit(cache=True, nogil=True, boundscheck=False, error_model="numpy", inline="always")
def _interval(v, wd, n_iv):
    """The interval of a positive activation ``v``: ``trunc(v / width)`` in float32, clamped."""
    i = np.int32(np.float32(v / wd))
    i = i if i < n_iv - 1 else n_iv - 1
    return i if i > 0 else 0


@njit(cache=True, nogil=True, boundscheck=False, error_model="numpy", inline="always")
def _hist_bin(v, am, nb_f, sp, nb):
    """The histogram bin of a positive activation ``v`` of a feature whose minimum is ``am`` and
    span ``sp``: ``floor((v - am) * nb / sp)`` in float32 steps, as int32, clamped to ``nb`` bins."""
    b = np.int32(np.floor(np.float32(np.float32(np.float32(v - am) * nb_f) / sp)))
    b = b if b < nb - 1 else nb - 1
    return b if b > 0 else 0


@njit(cache=True, nogil=True, boundscheck=False, error_model="numpy")
def pass2(feats, ctx_len, f0, f1, act_min, span, width, hist, iv_count, iv_mask):
    """Histogram and interval counts (running, ``hist [nb + 1, F]``, ``iv_count [n_iv + 1, F]``,
    the last row collecting the non-positive entries) and, per prompt, the set of intervals it
    holds a token in (``iv_mask [B, F]``, bit ``i`` for interval ``i``, written). Features
    ``f0:f1`` only.

    Which token of a prompt qualifies it for an interval is worked out later, only for the
    prompts kept in the samples (:func:`interval_positions`): tracking every prompt's largest
    value and position per interval here cost two thirds of this sweep. The bins are int32 (an
    int64 ``floor`` made the bin loop scalar: five times slower) and the batch's counts go to
    small int32 arrays of this range first, added to the running int64 counts once at the end.
    A non-positive value's bin arithmetic may overflow; it is never used (the select picks the
    last row). A sparse token row (see ``SPARSE_FROM``) visits its positive entries only, in the
    same float32 steps: the same counts and masks (bit ``n_iv`` of a mask means nothing)."""
    n_tok = feats.shape[0]
    nb = hist.shape[0] - 1
    n_iv = iv_count.shape[0] - 1
    nb_f = np.float32(nb)
    m = f1 - f0
    iv_mask[:, f0:f1] = 0
    hbin = np.empty(m, dtype=np.int32)
    ivl = np.empty(m, dtype=np.int32)
    lh = np.zeros((m, nb + 1), dtype=np.int32)  # by feature: a row's bins land in order
    lc = np.zeros((n_iv + 1, m), dtype=np.int32)
    am, sp, wd = act_min[f0:f1], span[f0:f1], width[f0:f1]
    one = np.uint32(1)
    # sparse rows expected? (a sample of rows: a dense batch pays no per-row count)
    sample = 0
    for t in range(min(n_tok, SAMPLE_ROWS)):
        for k in range(m):
            sample += feats[t, f0 + k] > 0
    sparse = sample * SPARSE_FROM < m * min(n_tok, SAMPLE_ROWS)
    for t in range(n_tok):
        p = t // ctx_len
        row = feats[t, f0:f1]
        mk = iv_mask[p, f0:f1]
        positives = m
        if sparse:
            positives = 0
            for k in range(m):
                positives += row[k] > 0
        if positives * SPARSE_FROM < m:
            # a sparse row (a trained SAE's: ~1% of the features fire): the same arithmetic for
            # its positive entries only; the non-positive ones are counted at the end
            for k in range(m):
                v = row[k]
                if v > 0:
                    lh[k, _hist_bin(v, am[k], nb_f, sp[k], nb)] += 1
                    i = _interval(v, wd[k], n_iv)
                    lc[i, k] += 1
                    mk[k] |= one << np.uint32(i)
            continue
        for k in range(m):
            v = row[k]
            b = _hist_bin(v, am[k], nb_f, sp[k], nb)
            hbin[k] = b if v > 0 else nb
            i = _interval(v, wd[k], n_iv)
            i = i if v > 0 else n_iv
            ivl[k] = i
            mk[k] |= one << np.uint32(i)  # bit n_iv: no interval (ignored)
        for k in range(m):
            lh[k, hbin[k]] += 1
        for i in range(n_iv):  # few intervals: compare-and-count beats a second scatter
            ci = lc[i]
            for k in range(m):
                ci[k] += ivl[k] == i
    for k in range(m):  # the rest: the non-positive entries (every entry is in one bin)
        inside = 0
        for i in range(n_iv):
            inside += lc[i, k]
        lc[n_iv, k] = n_tok - inside
        lh[k, nb] = n_tok - inside
    for j in range(nb + 1):
        for k in range(m):
            hist[j, f0 + k] += lh[k, j]
    for j in range(n_iv + 1):
        for k in range(m):
            iv_count[j, f0 + k] += lc[j, k]


@njit(cache=True, nogil=True, boundscheck=False, error_model="numpy")
def top_merge(p_max, p_pos, f0, f1, tok_offset, ctx_len, score, gidx, size, rows, feats):
    """Merge one batch's prompts into every feature's running top list (features ``f0:f1``).

    ``p_max``/``p_pos [B, F]`` (from :func:`pass1`): each prompt's largest activation and its
    first position; ``score [K, F]`` the kept prompts' maxima, largest first, ``gidx [K, F]``
    their qualifying token as a global token index, all features holding ``size`` entries (the
    new size is returned). The prompts are offered in order and an entry goes after every kept
    one that is >= it, so among equal maxima the earlier prompt wins, whatever the batching
    (the order of a stable sort). With ``rows [K, F, L]`` (``rows.shape[0] > 0``) the kept
    prompts' activation rows travel along (copied from ``feats [B * L, F]``)."""
    k = score.shape[0]
    n_prompts = p_max.shape[0]
    if k == 0:
        return 0
    carry = rows.shape[0] > 0
    n = size
    for p in range(n_prompts):
        full = n == k
        for f in range(f0, f1):
            x = p_max[p, f]
            if full:
                if not x > score[k - 1, f]:
                    continue
                j = k - 1
            else:
                j = n
            while j > 0 and score[j - 1, f] < x:
                score[j, f] = score[j - 1, f]
                gidx[j, f] = gidx[j - 1, f]
                if carry:
                    rows[j, f, :] = rows[j - 1, f, :]
                j -= 1
            score[j, f] = x
            gidx[j, f] = tok_offset + p * ctx_len + p_pos[p, f]
            if carry:
                for pos in range(ctx_len):
                    rows[j, f, pos] = feats[p * ctx_len + pos, f]
        if not full:
            n += 1
    return n


@njit(cache=True, nogil=True, boundscheck=False, error_model="numpy")
def sample_merge(iv_mask, keys, f0, f1, tok_offset, ctx_len, score, gidx, size, rows, feats):
    """Merge one batch into the running uniform samples of every interval (features ``f0:f1``).

    A prompt is a candidate of interval ``i`` when it holds a token there (bit ``i`` of
    ``iv_mask [B, F]``, from :func:`pass2`); its random key is ``keys [F, B]``. ``score [n_iv, S,
    F]`` holds the ``size [n_iv, F]`` smallest keys seen (ascending; the rest of the slots keep
    their fill), ``gidx`` the global token index of the prompt's first token (its qualifying
    token is found once the samples are final: :func:`interval_positions`): sampling without
    replacement. ``rows [n_iv, S, F, L]`` as in :func:`top_merge`."""
    n_iv = score.shape[0]
    n_prompts = iv_mask.shape[0]
    s_max = score.shape[1]
    if s_max == 0:
        return
    carry = rows.shape[0] > 0
    for i in range(n_iv):
        bit = np.uint32(1) << np.uint32(i)
        for p in range(n_prompts):
            for f in range(f0, f1):
                if not iv_mask[p, f] & bit:
                    continue
                x = keys[f, p]
                n = size[i, f]
                if n == s_max:
                    if not x < score[i, s_max - 1, f]:
                        continue
                    j = s_max - 1
                else:
                    j = n
                    size[i, f] = n + 1
                while j > 0 and score[i, j - 1, f] > x:
                    score[i, j, f] = score[i, j - 1, f]
                    gidx[i, j, f] = gidx[i, j - 1, f]
                    if carry:
                        rows[i, j, f, :] = rows[i, j - 1, f, :]
                    j -= 1
                score[i, j, f] = x
                gidx[i, j, f] = tok_offset + p * ctx_len
                if carry:
                    for pos in range(ctx_len):
                        rows[i, j, f, pos] = feats[p * ctx_len + pos, f]


@njit(cache=True, nogil=True, boundscheck=False, error_model="numpy")
def gather_rows(feats, ctx_len, first, sel, f_sel, row_of, out, iv_of, width, n_iv, pos):
    """``out[h, :] = feats[row_of[h] * ctx_len + first:..., f_sel[h]]`` for the snippets ``sel``
    that live in this batch's ``feats [B * L, F]``; for an interval snippet (``iv_of[h] >= 0``)
    also ``pos[h]``, its qualifying position (see :func:`interval_positions`)."""
    for h in sel:
        base = row_of[h] * ctx_len
        f = f_sel[h]
        for p in range(first, ctx_len):
            out[h, p - first] = feats[base + p, f]
        i = iv_of[h]
        if i >= 0:
            best = -np.inf
            at = 0
            wd = width[f]
            for p in range(ctx_len):
                v = feats[base + p, f]
                if v > 0 and v > best and _interval(v, wd, n_iv) == i:
                    best = v
                    at = p
            pos[h] = at


@njit(cache=True, nogil=True, boundscheck=False, error_model="numpy")
def interval_positions(rows, sel, iv, wd, n_iv, pos):
    """The qualifying position of the interval snippets ``sel``: the first position of the
    largest value of ``rows[h] [L]`` inside interval ``iv[h]`` (of width ``wd[h]``): what
    tracking every prompt's interval maxima batch by batch gave, found for the kept prompts
    only."""
    for h in sel:
        best = -np.inf
        at = 0
        for p in range(rows.shape[1]):
            v = rows[h, p]
            if v > 0 and v > best and _interval(v, wd[h], n_iv) == iv[h]:
                best = v
                at = p
        pos[h] = at


def heap_sorted(heap: np.ndarray, size: int) -> np.ndarray:
    """The kept tail, largest first: ``[size, F]``."""
    return -np.sort(-heap[:, :size], axis=1).T


def warm() -> None:
    """Load (or compile, the first time on a machine) the kernels: a few seconds per process,
    like importing torch; the benchmark does it before its timer, as it loads the model."""
    from inference.dashboards import copykernels

    copykernels.warm()
    feats = np.zeros((2, 1), dtype=np.float32)
    one = np.ones(1, dtype=np.float32)
    p_max, p_pos = np.zeros((1, 1), np.float32), np.zeros((1, 1), np.int32)
    pass1(feats, 2, 0, 1, one.copy(), one.copy(), np.zeros((1, 1), np.float32), 0, p_max, p_pos)
    iv_mask = np.zeros((1, 1), np.uint32)
    pass2(feats, 2, 0, 1, one, one, one, np.zeros((2, 1), np.int64), np.zeros((2, 1), np.int64), iv_mask)
    for rows in (np.zeros((0, 1, 2), np.float32), np.zeros((1, 1, 2), np.float32)):
        top_merge(p_max, p_pos, 0, 1, 0, 2, np.zeros((1, 1), np.float32), np.zeros((1, 1), np.int64), 0, rows,
                  feats)  # fmt: skip
    for rows in (np.zeros((0, 1, 1, 2), np.float32), np.zeros((1, 1, 1, 2), np.float32)):
        sample_merge(iv_mask, np.zeros((1, 1), np.float32), 0, 1, 0, 2, np.zeros((1, 1, 1), np.float32),
                     np.zeros((1, 1, 1), np.int64), np.zeros((1, 1), np.int64), rows, feats)  # fmt: skip
    z = np.zeros(1, np.int64)
    gather_rows(feats, 2, 1, z, z, z, np.zeros((1, 1), np.float32), z, one, 1, z)
    interval_positions(np.zeros((1, 2), np.float32), z, z, one, 1, z)
