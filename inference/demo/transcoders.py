"""Per-layer transcoders for the demo model (the graphs part of the offline demo).

For each layer, a ReLU transcoder is trained to map the MLP's input (``blocks.{l}.ln2.hook_normalized``)
to its output (``blocks.{l}.hook_mlp_out``) with MSE plus an L1 penalty, decoder rows kept at unit
norm. Each is saved twice:

- circuit-tracer's folder format (``layer_{l}.safetensors`` via ``SingleLayerTranscoder.to_safetensors``
  + ``config.yaml``): what graph generation and steering load;
- a sae_lens ``StandardSAE`` folder with the same encoder (``apply_b_dec_to_input=False``, hook
  ``blocks.{l}.ln2.hook_normalized``): what the dashboards engine loads, so every graph node opens
  a real feature page with top activations. Unit-norm decoder rows make sae_lens's norm folding a
  no-op, so dashboard activations equal the transcoder's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

SET_NAME = "tc-demo"


def mlp_io(model, tokens, layer: int, *, batch_size: int = 64):
    """MLP input and output at ``layer`` for all token rows (BOS skipped), ``[n, d_model]`` each."""
    import torch

    hook_in, hook_out = f"blocks.{layer}.ln2.hook_normalized", f"blocks.{layer}.hook_mlp_out"
    xs, ys = [], []
    with torch.inference_mode():
        for start in range(0, tokens.shape[0], batch_size):
            _, cache = model.run_with_cache(
                tokens[start : start + batch_size],
                names_filter=[hook_in, hook_out],
                stop_at_layer=layer + 1,
                return_type=None,
            )
            xs.append(cache[hook_in][:, 1:].reshape(-1, model.cfg.d_model).clone())
            ys.append(cache[hook_out][:, 1:].reshape(-1, model.cfg.d_model).clone())
    return torch.cat(xs), torch.cat(ys)


def train_transcoder(
    x,
    y,
    *,
    layer: int,
    d_transcoder: int,
    steps: int,
    l1: float = 3e-3,
    batch_size: int = 1024,
    lr: float = 2e-3,
    seed: int = 0,
    log: Callable[[str], None] = print,
):
    """A circuit-tracer ``SingleLayerTranscoder`` (ReLU) trained on ``x → y``."""
    import torch
    import torch.nn.functional as F
    from circuit_tracer.transcoder import SingleLayerTranscoder

    torch.manual_seed(seed)
    d_model = x.shape[1]
    tc = SingleLayerTranscoder(
        d_model, d_transcoder, F.relu, layer, device=torch.device("cpu"), dtype=torch.float32
    )
    with torch.no_grad():
        w = F.normalize(torch.randn(d_transcoder, d_model), dim=1)
        tc.W_dec.copy_(w)
        tc.W_enc.copy_(w * 0.5)
        tc.b_enc.zero_()
        tc.b_dec.copy_(y.mean(0))
    opt = torch.optim.Adam(tc.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    var = y.var(0).sum()
    start, fvu = time.monotonic(), float("nan")
    for step in range(1, steps + 1):
        idx = torch.randint(0, x.shape[0], (batch_size,), generator=gen)
        acts = tc.encode(x[idx])
        y_hat = acts @ tc.W_dec + tc.b_dec
        err = (y_hat - y[idx]).pow(2).sum(-1).mean()
        loss = err + l1 * acts.sum(-1).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            tc.W_dec.copy_(F.normalize(tc.W_dec, dim=1))
        fvu = float(err.detach() / var)
        if step % 200 == 0:
            log(f"  transcoder L{layer} step {step}: fvu {fvu:.3f}")
    log(f"  transcoder L{layer} trained {steps} steps in {time.monotonic() - start:.0f}s, fvu {fvu:.3f}")
    tc.eval()
    return tc


def save_sae_lens_copy(tc, folder: Path, *, layer: int, model_name: str) -> Path:
    """The transcoder's encoder as a sae_lens StandardSAE folder (dashboards)."""
    import torch
    from sae_lens import StandardSAE, StandardSAEConfig
    from sae_lens.saes.sae import SAEMetadata

    metadata = SAEMetadata(
        hook_name=f"blocks.{layer}.ln2.hook_normalized",
        model_name=model_name,
        prepend_bos=True,
        dataset_path="pydoc_data.topics",
    )
    sae = StandardSAE(
        StandardSAEConfig(
            d_in=tc.d_model, d_sae=tc.d_transcoder, apply_b_dec_to_input=False, metadata=metadata
        )
    )
    with torch.no_grad():
        sae.W_enc.copy_(tc.W_enc.T)
        sae.b_enc.copy_(tc.b_enc)
        sae.W_dec.copy_(tc.W_dec)
        sae.b_dec.copy_(tc.b_dec)
    folder.mkdir(parents=True, exist_ok=True)
    sae.save_model(str(folder))
    return folder


def build_transcoders(
    model,
    tokens,
    folder: Path,
    *,
    d_transcoder: int,
    steps: int,
    model_name: str,
    seed: int = 0,
    log: Callable[[str], None] = print,
) -> tuple[Path, dict[int, Path]]:
    """Train one transcoder per layer; returns (circuit-tracer folder, {layer: sae_lens folder})."""
    from inference.graphs.transcoders import write_config

    folder = Path(folder)
    set_folder = folder / "circuit-tracer"
    set_folder.mkdir(parents=True, exist_ok=True)
    sae_folders = {}
    for layer in range(model.cfg.n_layers):
        x, y = mlp_io(model, tokens, layer)
        tc = train_transcoder(
            x, y, layer=layer, d_transcoder=d_transcoder, steps=steps, seed=seed + layer, log=log
        )
        tc.to_safetensors(str(set_folder / f"layer_{layer}.safetensors"))
        sae_folders[layer] = save_sae_lens_copy(
            tc, folder / f"sae-{layer}", layer=layer, model_name=model_name
        )
    write_config(
        set_folder, n_layers=model.cfg.n_layers, scan=f"{model_name}-{SET_NAME}", model_name=model_name
    )
    return set_folder, sae_folders


def demo_transcoders_seed(
    *,
    model_name: str,
    model_dir: Path,
    folder: Path,
    d_transcoder: int = 512,
    steps: int = 1500,
    n_prompts: int = 1024,
    ctx_len: int = 64,
    train_prompts: int = 10**7,
    dashboards: bool = True,
    umap: bool = False,
    seed: int = 0,
    log: Callable[[str], None] = print,
):
    """Train (or reuse), register and give dashboards to the demo's transcoder set; returns it."""
    import json
    from types import SimpleNamespace

    from graphs.services import transcoder_set_register
    from inference.dashboards.corpus import tokenize_corpus
    from inference.loading import load_model

    folder = Path(folder)
    stamp = folder / "stamp.json"
    wanted = {"d_transcoder": d_transcoder, "steps": steps, "seed": seed, "version": 1}
    set_folder = folder / "circuit-tracer"
    model = load_model(
        SimpleNamespace(name=model_name, local_path=str(model_dir), tl_model_name=""), device="cpu"
    )
    if stamp.exists() and json.loads(stamp.read_text()) == wanted:
        n_layers = model.cfg.n_layers
        sae_folders = {layer: folder / f"sae-{layer}" for layer in range(n_layers)}
        log(f"reusing the demo transcoders cached in {folder}")
    else:
        log("training the demo transcoders")
        tokens = tokenize_corpus(model.tokenizer, "pydoc", n_prompts=train_prompts, ctx_len=ctx_len)
        set_folder, sae_folders = build_transcoders(
            model,
            tokens,
            folder,
            d_transcoder=d_transcoder,
            steps=steps,
            model_name=model_name,
            seed=seed,
            log=log,
        )
        stamp.write_text(json.dumps(wanted))
    source_set = transcoder_set_register(
        model_name=model_name,
        set_name=SET_NAME,
        folder=set_folder,
        sae_folders=sae_folders,
        description="Per-layer ReLU transcoders trained offline on pydoc_data.topics (graphs).",
    )
    if dashboards:
        from inference.dashboards.services import dashboards_generate

        for source in source_set.sources.order_by("layer"):
            log(f"dashboards for {model_name}/{source.name}")
            dashboards_generate(
                source=source,
                corpus="pydoc",
                n_prompts=n_prompts,
                ctx_len=ctx_len,
                batch_size=128,
                umap=umap,
                seed=seed,
            )
    return source_set
