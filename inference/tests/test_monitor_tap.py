"""The chat monitor's engine kernels (issue 15): the per-token tap equals ``sae.encode`` on
``run_with_cache``; attribution equals a direct autograd computation on a hand-spliced model."""

from __future__ import annotations

import pytest

from inference.tests.conftest import HOOK0, HOOK1

pytestmark = pytest.mark.django_db

TEXT = "The quick brown fox jumps over the lazy dog because it is a function of the class."


def _engine_inputs(tiny, engine_sources):
    from inference.engine import ModelSpec, SourceSpec

    return ModelSpec.of(tiny["model"]), [SourceSpec.of(s) for s in engine_sources]


def test_encode_all_equals_sae_encode_on_run_with_cache(tiny, direct):
    import torch

    from inference.engine import get_engine
    from inference.monitor.tap import encode_all

    sources = [*tiny["sources"], tiny["topk"], tiny["jumprelu"]]
    model_spec, specs = _engine_inputs(tiny, sources)
    ids = direct["model"].to_tokens(TEXT)[0].tolist()
    got = get_engine().call_kernel(encode_all, ids, model=model_spec, sources=specs)
    _, cache = direct["model"].run_with_cache(torch.tensor([ids]))
    names = {"0-res-tiny": "sae0", "1-res-tiny": "sae1", "1-topk-tiny": "topk1", "1-jr-tiny": "jumprelu1"}
    for spec in specs:
        sae = direct["sae"](names[spec.name])
        want = sae.encode(cache[spec.hook_name][0]).detach()
        assert got[spec].shape == want.shape
        assert torch.allclose(got[spec], want, atol=1e-5, rtol=0), spec.name
        assert (want > 0).any()


def test_active_concepts_threshold_and_normalised(tiny, direct):
    import torch

    from inference.engine import get_engine
    from inference.monitor.tap import tap

    model_spec, specs = _engine_inputs(tiny, tiny["sources"])
    ids = direct["model"].to_tokens(TEXT)[0].tolist()
    _, cache = direct["model"].run_with_cache(torch.tensor([ids]))
    # Thresholds: latent i of each source gets a threshold between its median and max activation.
    values, expected = {}, set()
    for spec, name in zip(specs, ["sae0", "sae1"], strict=True):
        acts = direct["sae"](name).encode(cache[spec.hook_name][0]).detach()
        acts[0] = 0  # BOS is skipped
        th = {}
        for i in range(0, acts.shape[1], 2):  # odd latents have no threshold: never active
            top = float(acts[:, i].max())
            if top <= 0:
                continue
            th[i] = top * 0.6
            for pos in torch.nonzero(acts[:, i] >= th[i]).flatten().tolist():
                expected.add((spec.name, i, pos, float(acts[pos, i]) / th[i]))
        values[spec] = ("s1", th)
    rows = get_engine().call_kernel(
        tap, ids, model=model_spec, sources=specs, thresholds=values, skip_positions=[0]
    )
    assert expected and len(rows) == len(expected)
    got = {(r["source"], r["index"], r["position"]) for r in rows}
    assert got == {(s, i, p) for s, i, p, _ in expected}
    norms = [r["normalised"] for r in rows]
    assert norms == sorted(norms, reverse=True) and min(norms) >= 1.0 - 1e-6
    by_key = {(s, i, p): n for s, i, p, n in expected}
    for r in rows:
        assert r["normalised"] == pytest.approx(by_key[(r["source"], r["index"], r["position"])], rel=1e-5)
        assert r["index"] % 2 == 0 and r["position"] != 0
    # Cached: the same stamp without values reuses the vector.
    again = get_engine().call_kernel(
        tap,
        ids,
        model=model_spec,
        sources=specs,
        thresholds={s: ("s1", None) for s in specs},
        skip_positions=[0],
    )
    assert again == rows


def test_active_concepts_order_ties_and_limit(tiny, direct):
    """The ordering rule (normalised desc, then source name, index, position) holds on exact ties,
    ``limit`` keeps the head of the full list, and a threshold that is not positive is missing."""
    import torch

    from inference.engine import get_engine
    from inference.monitor.tap import encode_all, tap

    sources = [tiny["topk"], *tiny["sources"], tiny["jumprelu"]]  # not in name order
    model_spec, specs = _engine_inputs(tiny, sources)
    ids = direct["model"].to_tokens(TEXT)[0].tolist()
    acts = get_engine().call_kernel(encode_all, ids, model=model_spec, sources=specs)
    values, expected = {}, []
    for spec in specs:
        a = acts[spec].clone()
        a[0] = 0  # BOS is skipped
        th = {}
        for i in range(a.shape[1]):
            top = float(a[:, i].max())
            if top <= 0:
                continue
            # Every third latent at its own max (normalised exactly 1.0: ties across sources and
            # latents), the others at half of it; latents 5 and 7 get a non-positive threshold.
            th[i] = {5: 0.0, 7: -1.0}.get(i, top if i % 3 == 0 else top / 2)
            if th[i] <= 0:
                continue
            t = torch.tensor(th[i], dtype=torch.float32)
            for pos in torch.nonzero(a[:, i] >= t).flatten().tolist():
                v = a[pos, i]
                expected.append((-float(v / t), spec.name, i, pos, float(v)))
        values[spec] = ("ties", th)
    expected.sort(key=lambda r: r[:4])
    want = [
        {"source": s, "index": i, "position": p, "activation": v, "normalised": -n}
        for n, s, i, p, v in expected
    ]
    assert sum(1 for r in want if r["normalised"] == 1.0) > 3  # there are ties to break
    rows = get_engine().call_kernel(
        tap, ids, model=model_spec, sources=specs, thresholds=values, skip_positions=[0]
    )
    assert rows == want
    assert all(r["index"] not in (5, 7) for r in rows)
    for limit in (0, 7):
        head = get_engine().call_kernel(
            tap, ids, model=model_spec, sources=specs, thresholds=values, skip_positions=[0], limit=limit
        )
        assert head == want[:limit]


def test_attribution_equals_direct_autograd(tiny, direct):
    import torch

    from inference.engine import get_engine
    from inference.monitor.tap import attribute

    model_spec, specs = _engine_inputs(tiny, tiny["sources"])
    model = direct["model"]
    ids = model.to_tokens(TEXT)[0].tolist()
    position = 12
    got = get_engine().call_kernel(attribute, ids, position, model=model_spec, sources=specs, top_k=15)

    # Direct: by definition latent i at a position adds f_i · W_dec[i] to the hook's activation,
    # so d log p / d f_i = (d log p / d x) · W_dec[i]. Autograd gives d log p / d x on the plain
    # model (no splicing at all); f comes from encoding the clean activations.
    saes = {HOOK0: direct["sae"]("sae0"), HOOK1: direct["sae"]("sae1")}
    kept = {}

    def keep(x, hook):
        x.retain_grad()
        kept[hook.name] = x
        return x

    logits = model.run_with_hooks(torch.tensor([ids[:position]]), fwd_hooks=[(HOOK0, keep), (HOOK1, keep)])
    logp = torch.log_softmax(logits[0, -1], -1)[ids[position]]
    logp.backward()
    want = []
    for hook, name in ((HOOK0, "0-res-tiny"), (HOOK1, "1-res-tiny")):
        sae = saes[hook]
        x = kept[hook].detach()[0]
        f = sae.encode(x).detach()
        grad_f = kept[hook].grad[0] @ sae.W_dec.detach().T
        score = (f * grad_f).abs()
        for pos, idx in torch.nonzero(score > 0).tolist():
            want.append((float(score[pos, idx]), name, idx, pos))
    want.sort(key=lambda r: (-r[0], r[1], r[2], r[3]))
    assert got["logprob"] == pytest.approx(float(logp.detach()), abs=1e-5)
    assert len(got["attributions"]) == 15
    for row, (score, name, idx, pos) in zip(got["attributions"], want[:15], strict=True):
        assert (row["source"], row["index"], row["position"]) == (name, idx, pos)
        assert row["attribution"] == pytest.approx(score, rel=1e-4, abs=1e-7)
        assert row["position"] < position


def test_attribution_bad_position(tiny):
    from inference.engine import get_engine
    from inference.errors import InferenceInputError
    from inference.monitor.tap import attribute

    model_spec, specs = _engine_inputs(tiny, tiny["sources"][:1])
    with pytest.raises(InferenceInputError, match="position"):
        get_engine().call_kernel(attribute, [1, 5, 6], 3, model=model_spec, sources=specs)
    with pytest.raises(InferenceInputError, match="position"):
        get_engine().call_kernel(attribute, [1, 5, 6], 0, model=model_spec, sources=specs)


def test_transcoder_attribution_splices_at_the_output_hook(tiny_folders, direct, tmp_path):
    """A transcoder (stored as an SAE reading the MLP input whose decoder writes the MLP output):
    its latents' gradient is the decoder applied to the gradient at ``hook_mlp_out``."""
    import torch

    from inference.engine import ModelSpec, SourceSpec, get_engine
    from inference.monitor.tap import attribute
    from inference.testing import build_tiny_sae

    hook_in, hook_out = "blocks.0.ln2.hook_normalized", "blocks.0.hook_mlp_out"
    folder = build_tiny_sae(tmp_path / "tc", d_in=32, d_sae=64, hook_name=hook_in, seed=7)
    spec = SourceSpec(model_name="tiny", name="0-tc-tiny", layer=0, hook_name=hook_in, local_path=str(folder))
    model_spec = ModelSpec(name="tiny", local_path=str(tiny_folders["model"]))
    model = direct["model"]
    ids = model.to_tokens(TEXT)[0].tolist()
    position = 9
    got = get_engine().call_kernel(
        attribute, ids, position, model=model_spec, sources=[spec], top_k=10, out_hooks={spec: hook_out}
    )
    from sae_lens import SAE

    sae = SAE.load_from_disk(folder, device="cpu")
    sae.fold_W_dec_norm()
    kept = {}

    def keep(x, hook):
        x.retain_grad()
        kept[hook.name] = x
        return x

    logits = model.run_with_hooks(
        torch.tensor([ids[:position]]), fwd_hooks=[(hook_in, keep), (hook_out, keep)]
    )
    torch.log_softmax(logits[0, -1], -1)[ids[position]].backward()
    f = sae.encode(kept[hook_in].detach()[0]).detach()
    score = (f * (kept[hook_out].grad[0] @ sae.W_dec.detach().T)).abs()
    values, flat = score.flatten().topk(10)
    want = [(divmod(i, 64), v) for i, v in zip(flat.tolist(), values.tolist(), strict=True)]
    assert [(r["position"], r["index"]) for r in got["attributions"]] == [p for p, _ in want]
    for r, (_, v) in zip(got["attributions"], want, strict=True):
        assert r["attribution"] == pytest.approx(v, rel=1e-4, abs=1e-7)
