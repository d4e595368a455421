"""Chat monitor: active concepts for a 64-token conversation across all of a model's sources, vs the
bare forward pass + SAE encodes of the same tokens (goal: ratio <= 1.15).

  (a) baseline: ``model.run_with_cache`` on every source's hook (stopped after the deepest) and
      ``sae.encode`` of each, on the main thread, nothing else;
  (b) ours: ``engine.call_kernel(tap, ...)``: the same work on the engine thread plus the threshold
      comparison, normalisation, sort and the Python rows (cached threshold vectors, as in a live
      conversation after its first request).

A tiny real model and one TopK SAE per layer are built in a temp folder (BENCH_LAYERS 4,
BENCH_D_MODEL 256, BENCH_D_SAE 8192, BENCH_TOKENS 64, BENCH_REPEATS 30). Thresholds are each
latent's 99.9th percentile on a calibration text, so a realistic handful fire per token.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "neuronsite.settings")

LAYERS = int(os.environ.get("BENCH_LAYERS", 4))
D_MODEL = int(os.environ.get("BENCH_D_MODEL", 256))
D_SAE = int(os.environ.get("BENCH_D_SAE", 8192))
N_TOKENS = int(os.environ.get("BENCH_TOKENS", 64))
REPEATS = int(os.environ.get("BENCH_REPEATS", 30))


def main() -> None:
    import django

    django.setup()
    import torch

    from inference.engine import ModelSpec, SourceSpec, get_engine
    from inference.monitor.tap import tap
    from inference.monitor.thresholds import threshold_vector
    from inference.testing import build_tiny_model, build_tiny_sae

    torch.manual_seed(0)
    root = Path(tempfile.mkdtemp(prefix="bench-monitor-"))
    build_tiny_model(root / "model", n_layers=LAYERS, d_model=D_MODEL, n_heads=8, n_ctx=max(128, N_TOKENS))
    specs = []
    for layer in range(LAYERS):
        hook = f"blocks.{layer}.hook_resid_pre"
        build_tiny_sae(
            root / f"sae{layer}",
            d_in=D_MODEL,
            d_sae=D_SAE,
            hook_name=hook,
            architecture="topk",
            k=32,
            seed=layer,
        )
        specs.append(
            SourceSpec(
                model_name="bench",
                name=f"{layer}-res-bench",
                layer=layer,
                hook_name=hook,
                local_path=str(root / f"sae{layer}"),
            )
        )
    model_spec = ModelSpec(name="bench", local_path=str(root / "model"))
    engine = get_engine()
    model = engine.call(engine.model, model_spec)
    saes = {s: engine.call(engine.sae, s) for s in specs}
    ids = torch.randint(3, model.cfg.d_vocab, (N_TOKENS,)).tolist()
    ids[0] = model.tokenizer.bos_token_id
    calib = torch.randint(3, model.cfg.d_vocab, (1, 128))
    hooks = sorted({s.hook_name for s in specs})
    with torch.no_grad():
        _, cache = model.run_with_cache(calib, names_filter=hooks)
    thresholds = {}
    for s, sae in saes.items():
        acts = sae.encode(cache[s.hook_name][0]).float()
        q = torch.quantile(acts, 0.999, dim=0)
        values = {i: float(v) for i, v in enumerate(q.tolist()) if v > 0}
        threshold_vector(s, "bench", D_SAE, values)  # cached, as after a conversation's first request
        thresholds[s] = ("bench", None)

    def baseline():
        tokens = torch.tensor([ids])
        with torch.no_grad():
            _, c = model.run_with_cache(tokens, names_filter=hooks, stop_at_layer=LAYERS)
            return [sae.encode(c[s.hook_name][0].to(sae.dtype)) for s, sae in saes.items()]

    def ours():
        return engine.call_kernel(
            tap, ids, model=model_spec, sources=specs, thresholds=thresholds, skip_positions=[0]
        )

    for _ in range(3):
        baseline()
        rows = ours()
    times = {"baseline": [], "ours": []}
    for _ in range(REPEATS):  # interleaved, so load changes hit both alike
        for name, fn in (("baseline", baseline), ("ours", ours)):
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    b, o = statistics.median(times["baseline"]), statistics.median(times["ours"])
    print(
        f"monitor tap: {LAYERS} sources x d_sae {D_SAE}, {N_TOKENS} tokens, {len(rows)} active (latent, token) pairs, "
        f"device {model.cfg.device}"
    )
    print(
        f"  baseline (forward + SAE encodes): {b * 1000:.2f} ms   ours (active concepts): {o * 1000:.2f} ms (medians of {REPEATS})"
    )
    print(f"  ratio ours/baseline = {o / b:.3f}  (goal <= 1.15)")


if __name__ == "__main__":
    main()
