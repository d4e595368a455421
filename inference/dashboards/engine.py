"""The dashboard generator: feature statistics from a model + SAE over corpus tokens.

Everything is computed for a whole group of features at once, as tensor operations over one
prompt batch at a time, so memory depends on the number of features and the context length,
never on the corpus size:

- pass 1 (streaming): density, max / min activation, the top-k activating prompts of every
  feature (ranked by their largest activation, a running sort merged batch by batch), and the
  largest activations needed for the high quantiles;
- pass 2 (streaming, now that each feature's max is known): the activation histogram, the
  interval counts (``bin_contains``) and a uniform sample of the prompts holding a token in each
  interval (the prompts with the smallest random keys — sampling without replacement). With the
  feature activations kept in memory it runs piece by piece over the features
  (``iter_dashboards_arrays``), each piece yielded complete, so a writer can store it while the
  next one computes; the pieces are exactly the arrays of one pass over all the features.

Selection is per prompt, as SAEDashboard's sequence-level selection: a group never holds the
same prompt twice. The qualifying token of a top snippet is the prompt's (first) maximal token;
that of an interval snippet is the prompt's largest activation inside the interval, so
``values[qualifying_token_index]`` always lies in the group's interval.

The hook activations of pass 1 are kept in memory for pass 2 when they fit a budget, so the
model runs once per source, and the SAE encodes once when the group's feature activations fit the
budget too (otherwise it re-encodes for pass 2).

Layout follows SAEDashboard's Neuronpedia runner (buffer=None): a snippet is the whole prompt
without its first (BOS) position, ``qualifying_token_index`` indexes into it; the top group has
``bin_min = bin_contains = -1`` and ``bin_max`` = the max activation; then ``n_intervals``
equal-width intervals of ``[0, max]`` from high to low. Unlike SAEDashboard, the lowest interval
holds only non-zero activations (SAEDashboard samples zeros there), and ignored positions
(BOS/EOS/pad) are left out of every statistic instead of counting as zeros.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from inference.dashboards.arrays import DashboardArrays, select_snippets
from inference.dashboards.hooks import HookActivations, feature_resid_directions, hook_layer  # noqa: F401
from inference.dashboards.neighbours import decoder_neighbours, umap_layout  # noqa: F401 (re-exported)
from inference.dashboards.pool import PARALLEL_FROM, KernelPool

NO_KEY = 2.0  # random keys are in [0, 1); this marks "no candidate"


@dataclass(frozen=True)
class DashboardConfig:
    top_k: int = 20
    n_intervals: int = 5
    interval_size: int = 5
    n_hist_bins: int = 50
    n_logits: int = 10
    n_neighbours: int = 10
    quantiles: tuple[float, ...] = (0.9999, 0.99999)
    max_quantile_k: int = 4096
    prompt_batch_size: int = 32
    seed: int = 0
    drop_first_token: bool = True
    cache_bytes: int = 1 << 30
    ignore_token_ids: frozenset[int] = field(default_factory=frozenset)


def compute_dashboards_arrays(**kwargs) -> DashboardArrays:
    """The dashboards of ``feature_indices`` of ``sae`` over ``tokens [n_prompts, ctx_len]``, as
    arrays (see ``arrays.py``; ``compute_dashboards`` gives them as dicts). Same arguments as
    :func:`iter_dashboards_arrays` (minus ``chunk``): all the features at once."""
    (arrays,) = list(iter_dashboards_arrays(**kwargs, chunk=None))
    return arrays


def iter_dashboards_arrays(
    *,
    model,
    sae,
    hook_name: str,
    tokens: torch.Tensor,
    feature_indices: Sequence[int],
    vocab: Sequence[str],
    config: DashboardConfig = DashboardConfig(),
    hook_acts: HookActivations | None = None,
    progress: Callable[[int, int], None] | None = None,
    chunk: int | None = None,
) -> Iterator[DashboardArrays]:
    """The dashboards of ``feature_indices`` as consecutive pieces of ``chunk`` features (the
    last may be shorter; ``None``: one piece), each yielded as soon as it is complete, so that a
    caller can write a piece while the next one computes.

    Pass 1 runs over all the features; pass 2 then runs one piece after the other (when the
    feature activations are kept in memory; else all at once, since it re-encodes the corpus).
    Every piece is exactly what one call over all the features gives for those features: the
    passes treat features independently and pass 2's random keys are drawn for all the features,
    batch by batch, in the same order whatever the pieces. Runs under ``inference_mode`` in the
    thread that iterates it."""
    with torch.inference_mode():
        yield from _iter_arrays(
            model=model, sae=sae, hook_name=hook_name, tokens=tokens, feature_indices=feature_indices,
            vocab=vocab, config=config, hook_acts=hook_acts, progress=progress, chunk=chunk,
        )  # fmt: skip


def _iter_arrays(
    *, model, sae, hook_name, tokens, feature_indices, vocab, config, hook_acts, progress, chunk
):
    from inference.dashboards import kernels
    from inference.dashboards.memory import keep_freed_memory

    keep_freed_memory()  # batch-sized tensors reuse freed pages instead of faulting new ones
    cfg = config
    if cfg.n_intervals > 31:  # a prompt's intervals are the bits of a uint32 (kernels.pass2)
        raise ValueError(f"n_intervals must be between 1 and 31, got {cfg.n_intervals}")
    idx = torch.as_tensor(list(feature_indices), dtype=torch.long)
    n_feat = len(idx)
    n_rows, ctx_len = tokens.shape
    hook_acts = hook_acts or HookActivations(model, tokens, hook_name, cfg.prompt_batch_size, cfg.cache_bytes)
    ignore = torch.tensor(sorted(cfg.ignore_token_ids), dtype=torch.long)
    valid_all = ~torch.isin(tokens, ignore)
    n_valid = int(valid_all.sum())
    n_batches = math.ceil(n_rows / cfg.prompt_batch_size)
    steps = 0
    d_sae = int(sae.W_dec.shape[0])
    idx_l = idx.tolist()
    # a contiguous range of the SAE's latents is a slice (the whole SAE: no copy at all)
    span_of_idx = (
        (idx_l[0], idx_l[-1] + 1) if n_feat and idx_l == list(range(idx_l[0], idx_l[-1] + 1)) else None
    )

    def encode(start: int, acts: torch.Tensor) -> torch.Tensor:
        """The feature activations ``[B * L, F]`` (float32, CPU, contiguous), zero at ignored
        tokens."""
        feats = sae.encode(acts.to(sae.W_dec.dtype).to(sae.W_dec.device))
        feats = feats.reshape(-1, feats.shape[-1])
        if span_of_idx is None:
            feats = feats[:, idx.to(feats.device)]
        elif span_of_idx != (0, d_sae):
            feats = feats[:, span_of_idx[0] : span_of_idx[1]]
        feats = feats.float().cpu().contiguous()
        invalid = ~valid_all[start : start + feats.shape[0] // ctx_len].reshape(-1)
        rows = invalid.nonzero().squeeze(1)
        if len(rows):
            feats.index_fill_(0, rows.to(feats.device), 0)  # a few whole rows (BOS, pad)
        return feats

    # Pass 2 reuses pass 1's feature activations when they fit the memory budget (else re-encodes).
    feats_cache: list[torch.Tensor] | None = [] if n_rows * ctx_len * n_feat * 4 <= cfg.cache_bytes else None
    # With the feature activations kept, snippet rows are gathered once per piece at its end.
    lazy_rows = feats_cache is not None
    piece = n_feat if (chunk is None or not lazy_rows) else max(1, chunk)
    pieces = [(c, min(c + piece, n_feat)) for c in range(0, n_feat, piece)] or [(0, 0)]
    steps_total = n_batches * (1 + len(pieces))

    def pass2_batches() -> Iterator[tuple[int, torch.Tensor]]:
        if feats_cache is not None:
            for i, feats in enumerate(feats_cache):
                yield i * cfg.prompt_batch_size, feats
        else:
            for start, acts in hook_acts:
                yield start, encode(start, acts)

    # The per-batch work is numba kernels over the feature activations (no torch operation, no
    # Python loop per feature), the features split over as many threads as torch uses; torch's
    # thread count is the caller's, never changed here.
    n_threads = torch.get_num_threads() if n_feat * cfg.prompt_batch_size >= PARALLEL_FROM else 1
    kpool = KernelPool(n_feat, n_threads)
    carry = 0 if lazy_rows else ctx_len  # snippet rows travel with the candidates (no cache)
    try:
        # ---- pass 1: density, extremes, top-k snippets, quantile tail -------------------------------
        q_need = {q: (1 - q) * (n_valid - 1) for q in cfg.quantiles}
        q_k = min(cfg.max_quantile_k, max([math.ceil(d) + 1 for d in q_need.values()] + [1]))
        act_max_np = np.zeros(n_feat, dtype=np.float32)
        act_min_np = np.full(n_feat, np.inf, dtype=np.float32)
        heap = np.empty((n_feat, q_k), dtype=np.float32)
        sizes = (0, 0)  # entries per feature of the heap (quantile tail) and of the top list
        top_score = np.full((cfg.top_k, n_feat), -np.inf, dtype=np.float32)
        top_gidx = np.zeros((cfg.top_k, n_feat), dtype=np.int64)
        top_rows = np.zeros((cfg.top_k if carry else 0, n_feat, ctx_len), dtype=np.float32)

        def pass1_work(feats_np, start, p_max, p_pos, heap_size, top_size):
            def work(f0, f1):
                hs = kernels.pass1(
                    feats_np, ctx_len, f0, f1, act_max_np, act_min_np, heap, heap_size, p_max, p_pos
                )
                ts = kernels.top_merge(p_max, p_pos, f0, f1, start * ctx_len, ctx_len, top_score, top_gidx,
                                       top_size, top_rows, feats_np)  # fmt: skip
                return hs, ts

            return work

        def done_step() -> None:
            nonlocal steps
            steps += 1
            if progress:
                progress(steps, steps_total)

        def summaries(feats):  # per-prompt maxima and their positions [B, F]
            n_prompts = feats.shape[0] // ctx_len
            return np.empty((n_prompts, n_feat), dtype=np.float32), np.empty(
                (n_prompts, n_feat), dtype=np.int32
            )

        if feats_cache is not None:
            # The model and the encoder first, every batch; then the kernels over all of them in
            # one go, each thread a feature range, batch after batch in order (the same merges).
            # Between torch's operations its OpenMP threads spin a while before they sleep: kernel
            # threads started after every batch ran against them for a core.
            starts = []
            for start, acts in hook_acts:
                feats_cache.append(encode(start, acts))  # [B * L, F]
                starts.append(start)
                done_step()

            def pass1_all(f0, f1):
                hs, ts = 0, 0
                for start, feats in zip(starts, feats_cache, strict=True):
                    work = pass1_work(feats.numpy(), start, *summaries(feats), hs, ts)
                    hs, ts = work(f0, f1)
                return hs, ts

            sizes = (kpool.run(pass1_all) or [sizes])[0]
        else:
            for start, acts in hook_acts:
                feats = encode(start, acts)
                sizes = (kpool.run(pass1_work(feats.numpy(), start, *summaries(feats), *sizes)) or [sizes])[0]
                done_step()
        heap_size, top_size = sizes
        act_max, act_min = torch.from_numpy(act_max_np), torch.from_numpy(act_min_np)
        q_vals = torch.from_numpy(kernels.heap_sorted(heap, heap_size))  # [min(q_k, T), F], descending

        # ---- logits of the decoder directions (all the features: pieces are slices of them) -----
        nb, n_iv = cfg.n_hist_bins, cfg.n_intervals
        directions = feature_resid_directions(model, sae, hook_name, idx)
        logits = (directions @ model.W_U.detach()).float().cpu()  # [F, d_vocab]
        n_logits = min(cfg.n_logits, logits.shape[1])
        pos_v, pos_i = logits.topk(n_logits, dim=1)
        neg_v, neg_i = logits.topk(n_logits, dim=1, largest=False)
        l_min, l_max = logits.min(1).values, logits.max(1).values
        l_span = (l_max - l_min).clamp_min(1e-12)
        l_bin = ((logits - l_min[:, None]) * nb / l_span[:, None]).long().clamp(0, nb - 1)
        l_hist = torch.zeros(n_feat, nb, dtype=torch.long).scatter_add_(1, l_bin, torch.ones_like(l_bin))
        del logits, l_bin

        # ---- quantiles: linear interpolation on the descending tail (= torch.quantile) -------------
        quantiles: list[tuple[str, np.ndarray]] = []
        for q, d in q_need.items():
            lo, hi = math.floor(d), math.ceil(d)
            if hi >= q_vals.shape[0]:
                continue  # the tail kept is too short for this quantile on this corpus
            quantiles.append((repr(q), (q_vals[lo] + (q_vals[hi] - q_vals[lo]) * (d - lo)).numpy()))

        # ---- pass 2: histogram, interval counts and interval samples, piece by piece -----------------
        span = (act_max - act_min).clamp_min(1e-12)
        width = (act_max / n_iv).clamp_min(1e-12)
        span_np, width_np = span.numpy(), width.numpy()
        hist_np = np.zeros((nb + 1, n_feat), dtype=np.int64)  # + non-positive
        iv_count_np = np.zeros((n_iv + 1, n_feat), dtype=np.int64)
        # per interval, a uniform sample of the prompts holding a token in it: the smallest keys
        s_score = np.full((n_iv, cfg.interval_size, n_feat), NO_KEY, dtype=np.float32)
        s_gidx = np.zeros((n_iv, cfg.interval_size, n_feat), dtype=np.int64)
        s_size = np.zeros((n_iv, n_feat), dtype=np.int64)
        s_rows = np.zeros((n_iv if carry else 0, cfg.interval_size, n_feat, ctx_len), dtype=np.float32)
        gen = torch.Generator().manual_seed(cfg.seed)
        # the random keys of every batch, drawn in batch order for all the features (as one pass
        # over all the features draws them), whatever the pieces
        key_list: list[np.ndarray] | None = None
        if feats_cache is not None:
            key_list = [
                torch.rand((n_feat, f.shape[0] // ctx_len), generator=gen).numpy() for f in feats_cache
            ]

        def pass2_work(feats_np, start, keys, iv_mask):
            def work(f0, f1):
                kernels.pass2(feats_np, ctx_len, f0, f1, act_min_np, span_np, width_np, hist_np, iv_count_np,
                              iv_mask)  # fmt: skip
                kernels.sample_merge(iv_mask, keys, f0, f1, start * ctx_len, ctx_len, s_score, s_gidx, s_size,
                                     s_rows, feats_np)  # fmt: skip
                return True

            return work

        first = 1 if cfg.drop_first_token else 0

        def gather_work(order, cuts, f_abs, row_of, values, iv_of, position):
            """The snippet rows (and interval positions) of the batches ``b0:b1`` of the kept
            feature activations (threads write disjoint snippets)."""

            def work(b0, b1):
                for b in range(b0, b1):
                    if cuts[b] < cuts[b + 1]:
                        kernels.gather_rows(feats_cache[b].numpy(), ctx_len, first, order[cuts[b] : cuts[b + 1]],
                                            f_abs, row_of, values, iv_of, width_np, n_iv, position)  # fmt: skip

            return work

        tokens_np = tokens.cpu().numpy()
        idx_np = idx.numpy().astype(np.int64)
        mx64 = act_max_np.astype(np.float64)

        def masks(feats):  # the intervals each prompt holds a token in [B, F]
            return np.empty((feats.shape[0] // ctx_len, n_feat), dtype=np.uint32)

        def pass2_all(f0, f1):  # kept feature activations: all the batches in one go, as pass 1
            for b, (start, feats) in enumerate(pass2_batches()):
                pass2_work(feats.numpy(), start, key_list[b], masks(feats))(f0, f1)

        for c0, c1 in pieces:
            if key_list is not None:
                kpool.run(pass2_all, c0, c1)
                for _ in range(n_batches):
                    done_step()
            else:
                for start, feats in pass2_batches():
                    keys = torch.rand((n_feat, feats.shape[0] // ctx_len), generator=gen).numpy()
                    kpool.run(pass2_work(feats.numpy(), start, keys, masks(feats)), c0, c1)
                    done_step()

            # ---- this piece's snippets: the kept candidates as flat arrays --------------------------
            iv_count_c = iv_count_np[:n_iv, c0:c1].T.copy()
            nnz = iv_count_c.sum(1)  # every positive entry falls in exactly one interval
            # the top group, then the intervals from high to low: (keep, gidx, rows) [K, F(, L)]
            groups = [(top_score[:top_size, c0:c1] > 0, top_gidx[:top_size, c0:c1], top_rows[:top_size])]
            groups += [
                (s_score[i, :, c0:c1] < NO_KEY, s_gidx[i, :, c0:c1], s_rows[i] if carry else None)
                for i in reversed(range(n_iv))
            ]
            f_sel, g_sel, k_sel, gidx = select_snippets([(keep, g) for keep, g, _ in groups], nnz > 0, n_iv)
            seq, position = np.divmod(gidx, ctx_len)  # an interval snippet's position: found below
            # each snippet's interval (-1: the top group), for the qualifying position of the
            # interval snippets: the prompt's largest value inside the interval (first position)
            iv_of = np.where(g_sel == 0, -1, n_iv - g_sel).astype(np.int64)
            values = np.empty((len(f_sel), ctx_len - first), dtype=np.float32)
            if lazy_rows:  # gathered from the kept feature activations, batch by batch
                batch_of, row_of = np.divmod(seq, cfg.prompt_batch_size)
                # by prompt, then feature: a prompt's snippets read neighbouring columns of the
                # same token rows one after the other (cache lines shared)
                order = np.lexsort((f_sel, seq))
                cuts = np.searchsorted(batch_of[order], np.arange(len(feats_cache) + 1))
                work = gather_work(order, cuts, f_sel + c0, row_of, values, iv_of, position)
                kpool.run(work, 0, len(feats_cache))
            else:  # carried along with the candidates (one piece: all the features)
                for g, (_, _, rows) in enumerate(groups):
                    hit = np.flatnonzero(g_sel == g)
                    full = rows[k_sel[hit], f_sel[hit]]  # [h, L]
                    values[hit] = full[:, first:]
                    if g:
                        found = np.zeros(len(hit), dtype=np.int64)
                        kernels.interval_positions(full, np.arange(len(hit), dtype=np.int64), iv_of[hit],
                                                   width_np[f_sel[hit] + c0], n_iv, found)  # fmt: skip
                        position[hit] = found
            mx_sel = mx64[f_sel + c0]
            interval = n_iv - g_sel  # group g >= 1 is interval n_iv - g
            is_top = g_sel == 0
            # the bounds as the Python expressions ``i * mx / n_iv`` give them (float64, same steps)
            bin_min = np.where(is_top, -1.0, (interval * mx_sel) / n_iv)
            bin_max = np.where(is_top, mx_sel, ((interval + 1) * mx_sel) / n_iv)
            contains = np.full(len(f_sel), -1.0)
            contains[~is_top] = iv_count_np[interval[~is_top], f_sel[~is_top] + c0] / float(max(n_valid, 1))
            yield DashboardArrays(
                index=idx_np[c0:c1],
                n_prompts_total=n_rows,
                ctx_len=ctx_len,
                n_valid=n_valid,
                first=first,
                n_hist_bins=nb,
                n_intervals=n_iv,
                act_max=act_max_np[c0:c1],
                act_min=act_min_np[c0:c1],
                nnz=nnz.astype(np.int64),
                hist=hist_np[:nb, c0:c1].T.copy(),
                iv_count=iv_count_c,
                pos_i=pos_i[c0:c1].numpy(),
                pos_v=pos_v[c0:c1].numpy(),
                neg_i=neg_i[c0:c1].numpy(),
                neg_v=neg_v[c0:c1].numpy(),
                l_hist=l_hist[c0:c1].numpy(),
                l_min=l_min[c0:c1].numpy(),
                l_span=l_span[c0:c1].numpy(),
                quantiles=[(q, v[c0:c1]) for q, v in quantiles],
                snip_feature=f_sel.astype(np.int64),
                snip_seq=seq.astype(np.int64),
                snip_qti=(position - first).astype(np.int64),
                snip_values=values,
                snip_bin_min=bin_min,
                snip_bin_max=bin_max,
                snip_bin_contains=contains,
                snip_top=is_top,
                tokens=tokens_np,
                vocab=vocab,
            )
    finally:
        kpool.close()


def compute_dashboards(**kwargs) -> list[dict]:
    """SAEDashboard-shaped feature dicts (``batch-N.json`` ``features[]`` plus extras): the dicts
    of :func:`compute_dashboards_arrays` (same arguments)."""
    return compute_dashboards_arrays(**kwargs).to_dicts()
