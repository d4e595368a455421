"""Inference engine overhead against bare TransformerLens/sae_lens doing the same compute.

1. Top features for a 64-token text over all sources (one forward pass + every SAE + top-k):
   Neuronsite's ``ops.search_all`` through the engine thread vs a bare script. Goal <= 1.10x.
2. Steered generation tokens/s: Neuronsite's ``Generation`` stepped one engine call per token
   (as /api/steer and /ws/steer/ do) vs bare ``model.generate`` under the same hook. Goal >= 0.9x.

Models are built from a TransformerLens config with random weights (offline). Sizes via env:
BENCH_LAYERS (4), BENCH_D_MODEL (256), BENCH_D_SAE (4096), BENCH_NEW_TOKENS (48), BENCH_REPEATS (5).
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

import django  # noqa: E402

django.setup()

import torch  # noqa: E402
from django.conf import settings  # noqa: E402

from inference.engine import (  # noqa: E402
    ModelSpec,
    SourceSpec,
    get_engine,
    ops,  # noqa: E402
)
from inference.engine.steer import Generation, SteerDirection, advance, steering_hook  # noqa: E402
from inference.testing import build_tiny_model, build_tiny_sae  # noqa: E402

LAYERS = int(os.environ.get("BENCH_LAYERS", 4))
D_MODEL = int(os.environ.get("BENCH_D_MODEL", 256))
D_SAE = int(os.environ.get("BENCH_D_SAE", 4096))
NEW_TOKENS = int(os.environ.get("BENCH_NEW_TOKENS", 48))
REPEATS = int(os.environ.get("BENCH_REPEATS", 5))


def best(fn, repeats=REPEATS):
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times), statistics.median(times)


def paired(fn_a, fn_b, repeats=REPEATS):
    """Time two functions alternately (a, b, a, b, ...) so that drift in the machine's speed
    hits both alike; returns (min, median) of each."""
    fn_a(), fn_b()  # warm-up
    times_a, times_b = [], []
    for _ in range(repeats):
        for fn, times in ((fn_a, times_a), (fn_b, times_b)):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
    return (min(times_a), statistics.median(times_a)), (min(times_b), statistics.median(times_b))


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="bench-inference-"))
    build_tiny_model(root / "model", n_layers=LAYERS, d_model=D_MODEL, n_heads=8, n_ctx=512, vocab_size=2048)
    sources = []
    for layer in range(LAYERS):
        hook = f"blocks.{layer}.hook_resid_pre"
        build_tiny_sae(root / f"sae{layer}", d_in=D_MODEL, d_sae=D_SAE, hook_name=hook, seed=layer)
        sources.append(
            SourceSpec(
                model_name="bench",
                name=f"{layer}-res",
                layer=layer,
                hook_name=hook,
                local_path=str(root / f"sae{layer}"),
            )
        )
    mspec = ModelSpec(name="bench", local_path=str(root / "model"))
    engine = get_engine()
    model = engine.call(engine.model, mspec)
    saes = [engine.call(engine.sae, s) for s in sources]
    device = model.cfg.device
    params = sum(p.numel() for p in model.parameters())
    print(
        f"device={device} threads={torch.get_num_threads()} model params={params / 1e6:.1f}M layers={LAYERS} "
        f"d_model={D_MODEL} d_sae={D_SAE} x {LAYERS} SAEs"
    )

    from pydoc_data.topics import topics

    words = topics["lists"].split()
    text = " ".join(words[:40])
    while model.to_tokens(text).shape[-1] < 64:
        words = words[1:] + words[:1]
        text += " " + words[0]
    tokens = model.to_tokens(text)[:, :64]
    text = model.tokenizer.decode(tokens[0, 1:])
    tokens = model.to_tokens(text)
    n_tok = tokens.shape[-1]

    # ---- 1. top features over all sources --------------------------------------------
    hooks = [s.hook_name for s in sources]

    def bare_search():
        with torch.no_grad():
            tokens = model.to_tokens(text)
            _, cache = model.run_with_cache(tokens, names_filter=hooks, stop_at_layer=LAYERS)
            scores = []
            for s, sae in zip(sources, saes, strict=True):
                acts = sae.encode(cache[s.hook_name][0])
                acts[0] = 0
                scores.append(acts.max(dim=0).values)
            top = torch.topk(torch.cat(scores), 50)
            return top.values.tolist(), top.indices.tolist(), model.tokenizer.convert_ids_to_tokens(tokens[0])

    def ours_search():
        return engine.call_kernel(ops.search_all, text, model=mspec, sources=sources, num_results=50)

    (bare_min, bare_med), (ours_min, ours_med) = paired(bare_search, ours_search, repeats=max(REPEATS, 20))
    print(
        f"[search-all] {n_tok} tokens, {LAYERS} sources: bare {bare_med * 1e3:.1f} ms, "
        f"neuronsite {ours_med * 1e3:.1f} ms (median); overhead ratio {ours_med / bare_med:.3f}x "
        f"(min-based {ours_min / bare_min:.3f}x; goal <= 1.10x)"
    )

    # ---- 2. steered generation ---------------------------------------------------------
    prompt_ids = model.to_tokens("The meaning of life is")[0].tolist()
    layer = LAYERS // 2
    direction = SteerDirection(
        hook_name=sources[layer].hook_name, coefficient=8.0, source=sources[layer], index=7
    )
    vec = saes[layer].W_dec[7].detach()

    def bare_generate():
        torch.manual_seed(0)
        with model.hooks(
            fwd_hooks=[(sources[layer].hook_name, steering_hook([(vec, 8.0)], "SIMPLE_ADDITIVE"))]
        ):
            model.generate(
                torch.tensor([prompt_ids], device=device),
                max_new_tokens=NEW_TOKENS,
                temperature=1.0,
                stop_at_eos=False,
                use_past_kv_cache=True,
                verbose=False,
            )

    def ours_generate():
        gen = engine.call_kernel(
            lambda *, model, saes: Generation(
                model,
                prompt_ids,
                directions=[direction],
                saes=saes,
                temperature=1.0,
                n_tokens=NEW_TOKENS,
                seed=0,
                stop_at_eos=False,
            ),
            model=mspec,
            sources=[sources[layer]],
        )
        while not gen.done:
            engine.call(advance, {"STEERED": gen}, slice_s=settings.INFERENCE_STEP_SLICE_MS / 1000)

    settings.INFERENCE_MAX_NEW_TOKENS = max(settings.INFERENCE_MAX_NEW_TOKENS, NEW_TOKENS)
    bare_min, bare_med = best(bare_generate, max(2, REPEATS // 2))
    ours_min, ours_med = best(ours_generate, max(2, REPEATS // 2))
    bare_tps, ours_tps = NEW_TOKENS / bare_med, NEW_TOKENS / ours_med
    print(
        f"[steer] {NEW_TOKENS} new tokens: bare generate {bare_tps:.1f} tok/s, neuronsite {ours_tps:.1f} tok/s; "
        f"throughput ratio {ours_tps / bare_tps:.3f}x (goal >= 0.9x)"
    )


if __name__ == "__main__":
    main()
