"""Build a small real model and SAE offline: a byte-level BPE tokenizer trained on a corpus, a
TransformerLens transformer trained on it, and a sae_lens TopK SAE trained on its residual
stream. Saved in the folder formats the loaders read (``inference.loading``):

- model folder: ``config.json`` (``HookedTransformerConfig.to_dict()``), ``model.safetensors``
  (the state dict) and the tokenizer written by ``save_pretrained`` (BOS at a non-zero id);
- SAE folder: sae_lens ``sae.save_model(folder)`` (read back with ``SAE.load_from_disk``).

torch, transformer_lens and sae_lens are imported inside the functions (see DESIGN.md §3).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

PAD, BOS, EOS = "<|pad|>", "<|bos|>", "<|eos|>"  # ids 0, 1, 2: BOS is non-zero on purpose


@dataclass(frozen=True)
class ModelSpec:
    n_layers: int = 2
    d_model: int = 128
    n_heads: int = 4
    d_mlp: int = 512
    n_ctx: int = 64
    vocab_size: int = 2048


def train_tokenizer(texts: Iterable[str], folder: Path, *, vocab_size: int = 2048):
    """Train a GPT-2-style byte-level BPE tokenizer, save it with ``save_pretrained`` and return
    it reloaded from that folder (TransformerLens reloads tokenizers by ``name_or_path``)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import AutoTokenizer, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[PAD, BOS, EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=BOS, eos_token=EOS, pad_token=PAD, model_max_length=4096
    )
    folder.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(str(folder))
    return AutoTokenizer.from_pretrained(str(folder))


def new_model(spec: ModelSpec, tokenizer, *, seed: int = 0, model_name: str = "tiny"):
    import torch
    from transformer_lens import HookedTransformer, HookedTransformerConfig

    torch.manual_seed(seed)
    cfg = HookedTransformerConfig(
        n_layers=spec.n_layers,
        d_model=spec.d_model,
        n_heads=spec.n_heads,
        d_head=spec.d_model // spec.n_heads,
        d_mlp=spec.d_mlp,
        n_ctx=spec.n_ctx,
        d_vocab=len(tokenizer),
        act_fn="gelu",
        normalization_type="LN",
        model_name=model_name,
        default_prepend_bos=True,
        seed=seed,
        device="cpu",
    )
    return HookedTransformer(cfg, tokenizer=tokenizer)


def train_model(
    model,
    tokens,
    *,
    steps: int,
    batch_size: int = 32,
    lr: float = 3e-3,
    seed: int = 0,
    log: Callable[[str], None] = print,
) -> float:
    """Next-token training on token rows ``[n, n_ctx]`` for ``steps`` steps; returns the last loss."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    model.train()
    start, step, loss_v = time.monotonic(), 0, math.nan
    while step < steps:
        batch = tokens[torch.randint(0, tokens.shape[0], (batch_size,), generator=gen)]
        loss = model(batch, return_type="loss")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        loss_v = float(loss.detach())
        if step % 100 == 0:
            log(f"  model step {step}: loss {loss_v:.3f}")
    model.eval()
    log(f"  model trained {step} steps in {time.monotonic() - start:.0f}s, loss {loss_v:.3f}")
    return loss_v


def save_model(model, tokenizer, folder: Path) -> None:
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    from inference.testing import config_to_json

    model.cfg.tokenizer_name = str(folder)
    (folder / "config.json").write_text(json.dumps(config_to_json(model.cfg), indent=1))
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(folder / "model.safetensors"))
    tokenizer.save_pretrained(str(folder))


def resid_activations(model, tokens, hook_name: str, *, batch_size: int = 64, skip_first: bool = True):
    """Activations at ``hook_name`` for all token rows, flattened ``[n_tokens, d_model]``."""
    import torch

    from inference.dashboards.engine import hook_layer

    out = []
    with torch.inference_mode():
        for start in range(0, tokens.shape[0], batch_size):
            _, cache = model.run_with_cache(
                tokens[start : start + batch_size],
                names_filter=hook_name,
                stop_at_layer=hook_layer(hook_name) + 1,
                return_type=None,
            )
            acts = cache[hook_name]
            if skip_first:
                acts = acts[:, 1:]  # BOS: a huge-norm outlier SAEs are not trained on
            out.append(acts.reshape(-1, acts.shape[-1]).clone())
    return torch.cat(out)


def train_topk_sae(
    acts,
    *,
    d_sae: int,
    k: int,
    hook_name: str,
    model_name: str,
    steps: int,
    batch_size: int = 1024,
    lr: float = 2e-3,
    seed: int = 0,
    log: Callable[[str], None] = print,
):
    """A sae_lens ``TopKSAE`` trained with MSE on ``acts [n, d_in]`` (unit-norm decoder rows,
    encoder initialised as the decoder's transpose, dead latents revived from poorly
    reconstructed inputs)."""
    import torch
    from sae_lens import TopKSAE, TopKSAEConfig
    from sae_lens.saes.sae import SAEMetadata

    torch.manual_seed(seed)
    d_in = acts.shape[1]
    cfg = TopKSAEConfig(
        d_in=d_in,
        d_sae=d_sae,
        k=k,
        metadata=SAEMetadata(
            hook_name=hook_name,
            model_name=model_name,
            prepend_bos=True,
            context_size=None,
            dataset_path="pydoc_data.topics",
        ),
    )
    sae = TopKSAE(cfg)
    with torch.no_grad():
        w = torch.nn.functional.normalize(torch.randn(d_sae, d_in), dim=1)
        sae.W_dec.copy_(w)
        sae.W_enc.copy_(w.T)
        sae.b_dec.copy_(acts.mean(0))
        sae.b_enc.zero_()
    opt = torch.optim.Adam(sae.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    fired = torch.zeros(d_sae, dtype=torch.long)
    start, step, fvu = time.monotonic(), 0, math.nan
    var = acts.var(0).sum()
    while step < steps:
        x = acts[torch.randint(0, acts.shape[0], (batch_size,), generator=gen)]
        feats = sae.encode(x)
        x_hat = sae.decode(feats)
        err = (x_hat - x).pow(2).sum(-1)
        loss = err.mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            sae.W_dec.copy_(torch.nn.functional.normalize(sae.W_dec, dim=1))
            fired += (feats > 0).sum(0)
            step += 1
            fvu = float(err.mean() / var)
            if step % 200 == 0:
                dead = (fired == 0).nonzero().flatten()
                if len(dead):  # resample dead latents towards the worst-reconstructed inputs
                    worst = x[err.topk(min(len(dead), batch_size)).indices] - sae.b_dec
                    dirs = torch.nn.functional.normalize(worst, dim=1)
                    n = len(dirs)
                    sae.W_dec[dead[:n]] = dirs
                    sae.W_enc[:, dead[:n]] = dirs.T
                    sae.b_enc[dead[:n]] = 0
                log(f"  sae step {step}: fvu {fvu:.3f}, dead {len(dead)}")
                fired.zero_()
    log(f"  sae trained {step} steps in {time.monotonic() - start:.0f}s, fvu {fvu:.3f}")
    sae.eval()
    return sae
