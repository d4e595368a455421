"""The dashboard engine against a brute-force computation over every token (real tiny
TransformerLens model, real sae_lens SAE, everything computed directly in the test)."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

HOOK = "blocks.1.hook_resid_pre"
N_FEATURES = 24


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from inference.testing import build_dashboard_tiny

    t = build_dashboard_tiny(tmp_path_factory.mktemp("tok"), n_features=N_FEATURES)
    model, sae, tokens, vocab, ignore, tok = (
        t[k] for k in ("model", "sae", "tokens", "vocab", "ignore", "tok")
    )
    with torch.inference_mode():
        _, cache = model.run_with_cache(tokens, names_filter=HOOK)
        acts = sae.encode(cache[HOOK])  # [N, L, F], the whole model run, no early stop
    valid = ~torch.isin(tokens, torch.tensor(sorted(ignore)))
    acts = acts * valid.unsqueeze(-1)
    return {
        "model": model,
        "sae": sae,
        "tokens": tokens,
        "vocab": vocab,
        "ignore": ignore,
        "acts": acts,
        "valid": valid,
        "tok": tok,
    }


@pytest.fixture(scope="module")
def sparse_tiny(tiny):
    """The same model and SAE with its encoder biases lowered until fewer than 1 in 8 (token,
    feature) pairs fire, like a trained SAE: pass 2 then takes its sparse-row path."""
    import copy

    sae = copy.deepcopy(tiny["sae"])
    with torch.no_grad():
        sae.b_enc.sub_(0.6)
    with torch.inference_mode():
        _, cache = tiny["model"].run_with_cache(tiny["tokens"], names_filter=HOOK)
        acts = sae.encode(cache[HOOK]) * tiny["valid"].unsqueeze(-1)
    density = float((acts > 0).float().mean())
    assert 0.01 < density < 1 / 8, density
    return {**tiny, "sae": sae, "acts": acts}


def _run(tiny, **cfg):
    from inference.dashboards.engine import DashboardConfig, compute_dashboards

    config = DashboardConfig(ignore_token_ids=tiny["ignore"], **cfg)
    return compute_dashboards(
        model=tiny["model"],
        sae=tiny["sae"],
        hook_name=HOOK,
        tokens=tiny["tokens"],
        feature_indices=range(N_FEATURES),
        vocab=tiny["vocab"],
        config=config,
    )


@pytest.mark.parametrize("setup", ["tiny", "sparse_tiny"])
def test_top_snippets_density_and_max_match_brute_force(setup, request):
    tiny = request.getfixturevalue(setup)
    out = _run(tiny, prompt_batch_size=7, top_k=20)
    acts, valid, tokens = tiny["acts"], tiny["valid"], tiny["tokens"]
    n_valid = int(valid.sum())
    assert [f["feature_index"] for f in out] == list(range(N_FEATURES))
    checked = 0
    for f in out:
        col = acts[..., f["feature_index"]].flatten()
        assert f["frac_nonzero"] == pytest.approx(int((col > 0).sum()) / n_valid)
        assert f["max_act_approx"] == pytest.approx(float(col.max()), rel=1e-5)
        top = [a for a in f["activations"] if a["bin_min"] == -1]
        # sequence-level: the top prompts by their largest activation, each prompt once
        prompt_max = acts[..., f["feature_index"]].max(dim=1).values  # [n_prompts]
        k = min(20, int((prompt_max > 0).sum()))
        assert len(top) == k
        assert len({a["data_index"] for a in top}) == k
        expected = prompt_max.topk(k)
        got_vals = [a["values"][a["qualifying_token_index"]] for a in top]
        assert got_vals == pytest.approx(expected.values.tolist(), rel=1e-5)
        for a in top:  # the qualifying token is the prompt's maximum
            assert a["values"][a["qualifying_token_index"]] == pytest.approx(max(a["values"]), rel=1e-6)
        # ties make the brute-force order ambiguous: check each snippet against its own prompt
        for a in top:
            seq, position = a["data_index"], a["qualifying_token_index"] + 1  # BOS position dropped
            assert float(acts[seq, position, f["feature_index"]]) == pytest.approx(
                a["values"][a["qualifying_token_index"]], rel=1e-5
            )
            assert a["tokens"] == [tiny["vocab"][t] for t in tokens[seq, 1:].tolist()]
            assert a["values"] == pytest.approx(
                acts[seq, 1:, f["feature_index"]].tolist(), rel=1e-5, abs=1e-6
            )
            assert a["bin_max"] == pytest.approx(f["max_act_approx"]) and a["bin_contains"] == -1
            checked += 1
    assert checked > 100


def test_interval_groups_histograms_and_quantiles_match_brute_force(tiny):
    out = _run(tiny, prompt_batch_size=5, quantiles=(0.99, 0.999))
    acts, valid = tiny["acts"], tiny["valid"]
    n_valid = int(valid.sum())
    flat_valid = acts[valid]  # [n_valid, F]
    for f in out:
        i = f["feature_index"]
        col = acts[..., i].flatten()
        nz = col[col > 0]
        mx = float(col.max())
        groups = {}
        for a in f["activations"]:
            if a["bin_min"] != -1:
                groups.setdefault((a["bin_min"], a["bin_max"]), []).append(a)
        if len(nz) == 0:
            assert f["activations"] == []
            continue
        edges = [j * mx / 5 for j in range(6)]
        bounds = sorted(groups, reverse=True)
        assert [lo for lo, _ in bounds] == pytest.approx(
            [edges[j] for j in range(4, -1, -1) if j == 4 or ((nz >= edges[j]) & (nz < edges[j + 1])).any()]
        )
        for (lo, hi), snippets in groups.items():
            j = round(lo / (mx / 5))
            in_bin = ((nz >= lo) & (nz < hi)) if j < 4 else (nz >= lo)
            assert snippets[0]["bin_contains"] == pytest.approx(int(in_bin.sum()) / n_valid)
            a_col = acts[..., i]  # [n_prompts, ctx]
            tok_in = ((a_col > 0) & (a_col >= lo) & ((a_col < hi) if j < 4 else True)).any(dim=1)
            assert len(snippets) == min(5, int(tok_in.sum()))  # one per prompt holding such a token
            assert len({a["data_index"] for a in snippets}) == len(snippets)  # distinct contexts
            for a in snippets:
                assert bool(tok_in[a["data_index"]])
                v = a["values"][a["qualifying_token_index"]]
                # the qualifying token's value lies inside the interval ...
                assert lo - 1e-5 <= v <= hi + 1e-5 and v > 0
                # ... and is the prompt's largest activation inside it
                inside = [x for x in a["values"] if x > 0 and lo - 1e-6 <= x and (j == 4 or x < hi)]
                assert v == pytest.approx(max(inside), rel=1e-6)
        # activation histogram == torch.histc over the non-zero activations
        hist = torch.histc(nz, bins=50, min=float(nz.min()), max=float(nz.max()))
        assert sum(f["freq_hist_data_bar_heights"]) == len(nz)
        assert (
            sum(abs(a - b) for a, b in zip(f["freq_hist_data_bar_heights"], hist.tolist(), strict=True)) <= 2
        )
        # quantiles == torch.quantile over every non-ignored token
        for q in (0.99, 0.999):
            assert f["activation_quantiles"][repr(q)] == pytest.approx(
                float(torch.quantile(flat_valid[:, i], q)), rel=1e-5, abs=1e-6
            )


def test_logits_and_neighbours_match_direct_computation(tiny):
    from inference.dashboards.engine import decoder_neighbours

    out = _run(tiny)
    model, sae, vocab = tiny["model"], tiny["sae"], tiny["vocab"]
    logits = (sae.W_dec.detach() @ model.W_U.detach()).float()
    for f in out:
        row = logits[f["feature_index"]]
        top = row.topk(10)
        assert f["pos_str"] == [vocab[t] for t in top.indices.tolist()]
        assert f["pos_values"] == pytest.approx(top.values.tolist(), rel=1e-5)
        bottom = row.topk(10, largest=False)
        assert f["neg_str"] == [vocab[t] for t in bottom.indices.tolist()]
        hist = torch.histc(row, bins=50, min=float(row.min()), max=float(row.max()))
        assert (
            sum(abs(a - b) for a, b in zip(f["logits_hist_data_bar_heights"], hist.tolist(), strict=True))
            <= 2
        )
    idx, vals = decoder_neighbours(sae.W_dec, range(N_FEATURES), 5)
    unit = torch.nn.functional.normalize(sae.W_dec.detach(), dim=1)
    cos = unit @ unit.T
    cos.fill_diagonal_(-math.inf)
    brute = cos.topk(5, dim=1)
    assert torch.equal(idx, brute.indices)
    assert torch.allclose(vals, brute.values)


def test_results_do_not_depend_on_the_prompt_batch_size(tiny):
    small, large = _run(tiny, prompt_batch_size=3), _run(tiny, prompt_batch_size=64)
    for a, b in zip(small, large, strict=True):
        top_a = [
            (x["data_index"], x["qualifying_token_index"]) for x in a["activations"] if x["bin_min"] == -1
        ]
        top_b = [
            (x["data_index"], x["qualifying_token_index"]) for x in b["activations"] if x["bin_min"] == -1
        ]
        assert top_a == top_b
        assert a["freq_hist_data_bar_heights"] == b["freq_hist_data_bar_heights"]
        assert a["frac_nonzero"] == b["frac_nonzero"]


def test_streaming_without_the_activation_cache_gives_the_same_dashboards(tiny):
    # cache_bytes=0: nothing is kept between passes, snippet rows travel with every merge and
    # pass 2 re-encodes; the default keeps activations and gathers rows once at the end.
    assert _run(tiny, cache_bytes=0, prompt_batch_size=5) == _run(tiny, prompt_batch_size=5)


def test_pieces_are_the_arrays_of_one_pass_over_all_the_features(tiny):
    # The generator writes a piece while the next one computes: each piece must be exactly what
    # one pass over all the features gives for its features (random interval samples included).
    import numpy as np

    from inference.dashboards.engine import DashboardConfig, compute_dashboards_arrays, iter_dashboards_arrays

    kwargs = dict(
        model=tiny["model"], sae=tiny["sae"], hook_name=HOOK, tokens=tiny["tokens"],
        feature_indices=range(N_FEATURES), vocab=tiny["vocab"],
        config=DashboardConfig(ignore_token_ids=tiny["ignore"], prompt_batch_size=5),
    )  # fmt: skip
    whole = compute_dashboards_arrays(**kwargs)
    pieces = list(iter_dashboards_arrays(**kwargs, chunk=7))
    assert [p.n_features for p in pieces] == [7, 7, 7, 3]
    assert [d for p in pieces for d in p.to_dicts()] == whole.to_dicts()
    for name in ("act_max", "act_min", "nnz", "hist", "iv_count", "pos_i", "l_hist", "index"):
        assert np.array_equal(np.concatenate([getattr(p, name) for p in pieces]), getattr(whole, name))
    assert np.array_equal(np.concatenate([p.snip_values for p in pieces]), whole.snip_values)
    # without the activation cache pass 2 re-encodes the corpus: one piece, the same arrays
    (single,) = iter_dashboards_arrays(**{**kwargs, "config": DashboardConfig(
        ignore_token_ids=tiny["ignore"], prompt_batch_size=5, cache_bytes=0)}, chunk=7)  # fmt: skip
    assert single.to_dicts() == whole.to_dicts()


def test_pass2_counts_sparse_and_dense_rows_exactly_as_the_float32_arithmetic():
    # pass 2 takes a sparse token row entry by entry (positive entries only) and a dense one
    # branch-free: both must give the histogram, interval counts and interval masks of the
    # float32 steps ``floor((v - min) * nb / span)`` and ``trunc(v / width)``, computed here.
    import numpy as np

    from inference.dashboards import kernels

    rng = np.random.default_rng(0)
    ctx_len, n_prompts, m, nb, n_iv = 8, 12, 40, 50, 5
    fire = rng.random((n_prompts * ctx_len, m)) < 0.05  # ~2 of 40 features per row: sparse rows
    fire[5] = rng.random(m) < 0.6  # and a few dense rows
    fire[70] = rng.random(m) < 0.6
    feats = np.where(fire, rng.random(fire.shape) * 3, -rng.random(fire.shape)).astype(np.float32)
    feats[9] = 0.0
    assert (feats > 0).mean() < 1 / kernels.SPARSE_FROM  # the batch takes the sparse-row path
    pos = np.where(feats > 0, feats, np.inf)
    act_min = pos.min(0).astype(np.float32)
    act_max = np.maximum(feats.max(0), 0).astype(np.float32)
    act_min[~np.isfinite(act_min)] = 0
    span = np.maximum(act_max - act_min, np.float32(1e-12)).astype(np.float32)
    width = np.maximum(act_max / np.float32(n_iv), np.float32(1e-12)).astype(np.float32)
    hist = np.zeros((nb + 1, m), np.int64)
    iv_count = np.zeros((n_iv + 1, m), np.int64)
    mask = np.zeros((n_prompts, m), np.uint32)
    kernels.pass2(feats, ctx_len, 0, m, act_min, span, width, hist, iv_count, mask)

    v = feats
    q = ((v - act_min) * np.float32(nb)) / span  # float32 throughout
    b = np.clip(np.floor(q), 0, nb - 1).astype(np.int64)
    i = np.clip((v / width).astype(np.int32), 0, n_iv - 1).astype(np.int64)
    positive = v > 0
    want_hist = np.zeros_like(hist)
    want_iv = np.zeros_like(iv_count)
    want_mask = np.zeros_like(mask)
    for t, f in zip(*np.nonzero(positive), strict=True):
        want_hist[b[t, f], f] += 1
        want_iv[i[t, f], f] += 1
        want_mask[t // ctx_len, f] |= np.uint32(1 << int(i[t, f]))
    want_hist[nb] = (~positive).sum(0)
    want_iv[n_iv] = (~positive).sum(0)
    assert np.array_equal(hist, want_hist)
    assert np.array_equal(iv_count, want_iv)
    assert np.array_equal(mask & np.uint32((1 << n_iv) - 1), want_mask)
