"""The generator's result as numpy arrays, end to end.

``compute_dashboards_arrays`` (engine.py) returns a :class:`DashboardArrays`: per-feature
statistics ``[F, ...]`` and every snippet of every feature as flat arrays (``values [S, L]``
float32, one row per snippet, in feature order: the top group, then the intervals from high to
low). Nothing here builds a Python object per value: the writer encodes the COPY rows straight
from these arrays (``copyrows.py``). :meth:`DashboardArrays.to_dicts` gives the SAEDashboard-shaped
dicts (``batch-N.json`` ``features[]`` plus extras) for the callers that want them; the values
are exactly those of the arrays (float32 values become the same Python floats).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass
class DashboardArrays:
    index: np.ndarray  # [F] the SAE latent of each feature position
    n_prompts_total: int
    ctx_len: int
    n_valid: int  # tokens counted (ignored positions left out)
    first: int  # 1 when the snippets drop the first (BOS) position
    n_hist_bins: int
    n_intervals: int
    act_max: np.ndarray  # [F] float32
    act_min: np.ndarray  # [F] float32 (inf: never positive)
    nnz: np.ndarray  # [F] int64
    hist: np.ndarray  # [F, nb] int64
    iv_count: np.ndarray  # [F, n_iv] int64
    pos_i: np.ndarray  # [F, n_logits] top positive logit token ids
    pos_v: np.ndarray
    neg_i: np.ndarray
    neg_v: np.ndarray
    l_hist: np.ndarray  # [F, nb]
    l_min: np.ndarray  # [F]
    l_span: np.ndarray  # [F]
    quantiles: list[tuple[str, np.ndarray]]  # (repr(q), [F] float32)
    # snippets, S of them, ordered by feature position then group then rank
    snip_feature: np.ndarray  # [S] feature position
    snip_seq: np.ndarray  # [S] prompt row of the corpus
    snip_qti: np.ndarray  # [S] qualifying token index within the snippet
    snip_values: np.ndarray  # [S, ctx_len - first] float32
    snip_bin_min: np.ndarray  # [S] float64 (-1: the top group)
    snip_bin_max: np.ndarray  # [S] float64
    snip_bin_contains: np.ndarray  # [S] float64 (-1: the top group)
    snip_top: np.ndarray  # [S] bool
    tokens: np.ndarray  # [n_prompts, ctx_len] token ids of the corpus
    vocab: Sequence[str]

    @property
    def n_features(self) -> int:
        return len(self.index)

    def token_str(self, i: int) -> str:
        return self.vocab[i] if 0 <= i < len(self.vocab) else "<|outofrange|>"

    def token_strs(self, ids: np.ndarray) -> list:
        """``[[token_str(i) for i in row] for row in ids]`` for a 2-d ``ids``, at once."""
        n = len(self.vocab)
        table = self.__dict__.get("_vocab_table")
        if table is None:  # the vocabulary as an object array, + the out-of-range string last
            table = np.empty(n + 1, dtype=object)
            for i, s in enumerate(self.vocab):
                table[i] = s
            table[n] = "<|outofrange|>"
            self.__dict__["_vocab_table"] = table
        return table[np.where((ids >= 0) & (ids < n), ids, n)].tolist()

    def snippet_bounds(self) -> np.ndarray:
        """``[F + 1]``: feature position ``p``'s snippets are ``bounds[p]:bounds[p + 1]``."""
        return np.searchsorted(self.snip_feature, np.arange(self.n_features + 1))

    def bar_values(self, pos_a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The activation and logit histograms' bar values ``[P, nb]`` float64 of the features
        at ``pos_a``, as the Python expressions ``mn + (b + 0.5) * bw`` give them (same steps;
        a dead feature's activation row is not used)."""
        nb = self.n_hist_bins
        half = np.arange(nb, dtype=np.float64) + 0.5
        alive_a = self.nnz[pos_a] > 0
        mn_a = np.where(alive_a, self.act_min[pos_a].astype(np.float64), 0.0)
        bw_a = (self.act_max[pos_a].astype(np.float64) - mn_a) / nb
        l_min_a = self.l_min[pos_a].astype(np.float64)
        l_bw_a = self.l_span[pos_a].astype(np.float64) / nb
        return mn_a[:, None] + half * bw_a[:, None], l_min_a[:, None] + half * l_bw_a[:, None]

    def feature_dicts(
        self, positions: Sequence[int] | None = None, *, activations: bool = True
    ) -> list[dict]:
        """The SAEDashboard-shaped dicts of the features at ``positions`` (all by default);
        ``activations=False`` leaves the snippets out (``"activations": []``)."""
        positions = range(self.n_features) if positions is None else positions
        pos_a = np.asarray(positions, dtype=np.int64)
        hist_v, l_v = self.bar_values(pos_a)
        hist_vals = dict(zip(pos_a.tolist(), hist_v.tolist(), strict=True))
        l_vals_of = dict(zip(pos_a.tolist(), l_v.tolist(), strict=True))
        hist_of = dict(zip(pos_a.tolist(), self.hist[pos_a].tolist(), strict=True))
        l_hist_of = dict(zip(pos_a.tolist(), self.l_hist[pos_a].tolist(), strict=True))
        pos_v_of = dict(zip(pos_a.tolist(), self.pos_v[pos_a].tolist(), strict=True))
        neg_v_of = dict(zip(pos_a.tolist(), self.neg_v[pos_a].tolist(), strict=True))
        pos_str_of = dict(zip(pos_a.tolist(), self.token_strs(self.pos_i[pos_a]), strict=True))
        neg_str_of = dict(zip(pos_a.tolist(), self.token_strs(self.neg_i[pos_a]), strict=True))
        alive_l = (self.nnz > 0).tolist()
        act_max_l, nnz_l, idx_l = self.act_max.tolist(), self.nnz.tolist(), self.index.tolist()
        quantile_l = [(q, v.tolist()) for q, v in self.quantiles]
        bounds = self.snippet_bounds().tolist()
        str_rows: dict[int, list[str]] = {}
        first = self.first

        def tokens_of(seq: int) -> list[str]:
            strs = str_rows.get(seq)
            if strs is None:
                strs = str_rows[seq] = [self.token_str(t) for t in self.tokens[seq, first:].tolist()]
            return strs

        out = []
        for f in positions:
            mx, alive = act_max_l[f], alive_l[f]
            acts = []
            if activations and bounds[f] < bounds[f + 1]:
                sl = slice(bounds[f], bounds[f + 1])
                cols = zip(
                    self.snip_seq[sl].tolist(),
                    self.snip_qti[sl].tolist(),
                    self.snip_values[sl].tolist(),
                    self.snip_top[sl].tolist(),
                    self.snip_bin_min[sl].tolist(),
                    self.snip_bin_max[sl].tolist(),
                    self.snip_bin_contains[sl].tolist(),
                    strict=True,
                )
                for seq, qti, row, top, lo, hi, contains in cols:
                    acts.append(
                        {
                            "tokens": tokens_of(seq),
                            "values": row,
                            "bin_min": -1 if top else lo,
                            "bin_max": hi,
                            "bin_contains": -1 if top else contains,
                            "qualifying_token_index": qti,
                            "data_index": seq,
                        }
                    )
            out.append(
                {
                    "feature_index": idx_l[f],
                    "max_act_approx": mx,
                    "frac_nonzero": nnz_l[f] / max(self.n_valid, 1),
                    "freq_hist_data_bar_heights": hist_of[f] if alive else [],
                    "freq_hist_data_bar_values": hist_vals[f] if alive else [],
                    "pos_str": pos_str_of[f],
                    "pos_values": pos_v_of[f],
                    "neg_str": neg_str_of[f],
                    "neg_values": neg_v_of[f],
                    "logits_hist_data_bar_heights": l_hist_of[f],
                    "logits_hist_data_bar_values": l_vals_of[f],
                    "activation_quantiles": {q: v[f] for q, v in quantile_l},
                    "activations": acts,
                    "n_prompts_total": self.n_prompts_total,
                    "n_tokens_in_prompt": self.ctx_len,
                }
            )
        return out

    def to_dicts(self) -> list[dict]:
        return self.feature_dicts()


def select_snippets(groups, alive: np.ndarray, n_intervals: int):
    """Flatten the kept candidates of the top group and the interval groups into snippet order.

    ``groups``: ``[(keep [K_g, F] bool, gidx [K_g, F] int64)]``, the top group first, then the
    intervals from high to low. Returns ``(feature position, group number, rank k, global token
    index)`` per snippet, ordered by feature, then group, then rank."""
    keeps = [keep & alive[None, :] for keep, _ in groups]
    keep_all = np.concatenate(keeps, axis=0)  # [sum K, F]
    gidx_all = np.concatenate([g for _, g in groups], axis=0)
    group_of = np.concatenate([np.full(len(k), g, dtype=np.int64) for g, k in enumerate(keeps)])
    rank_of = np.concatenate([np.arange(len(k), dtype=np.int64) for k in keeps])
    f_sel, j_sel = np.nonzero(keep_all.T)  # row-major: by feature, then position in the stack
    return f_sel, group_of[j_sel], rank_of[j_sel], gidx_all[j_sel, f_sel]
