"""The model side of the dashboards: activations at a hook, batch by batch, and the direction each
feature writes into the residual stream (re-exported by ``engine``)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import torch


def hook_layer(hook_name: str) -> int | None:
    match = re.match(r"blocks\.(\d+)\.", hook_name)
    return int(match.group(1)) if match else None


class HookActivations:
    """Iterates ``(row_offset, activations [B, L, d_in])`` at ``hook_name`` over the token rows,
    running the model only up to the hook's block; remembers the batches for a second pass when
    they fit ``cache_bytes``."""

    def __init__(self, model, tokens: torch.Tensor, hook_name: str, batch_size: int, cache_bytes: int):
        self.model, self.tokens, self.hook_name, self.batch_size = model, tokens, hook_name, batch_size
        layer = hook_layer(hook_name)
        self.stop_at_layer = layer + 1 if layer is not None and "ln_final" not in hook_name else None
        # a block's input (``blocks.L.hook_resid_pre``) is the residual the model returns when it
        # stops before block L: that block is not run at all (the same tensor, one block less)
        self.resid_pre_of = layer if re.fullmatch(r"blocks\.\d+\.hook_resid_pre", hook_name) else None
        d_in = model.cfg.d_model if "hook_z" not in hook_name else model.cfg.n_heads * model.cfg.d_head
        self._cache: list[torch.Tensor] | None = [] if tokens.numel() * d_in * 4 <= cache_bytes else None
        self._complete = False

    @torch.inference_mode()
    def __iter__(self) -> Iterator[tuple[int, torch.Tensor]]:
        if self._complete and self._cache is not None:
            for i, acts in enumerate(self._cache):
                yield i * self.batch_size, acts
            return
        device = self.model.cfg.device
        for start in range(0, self.tokens.shape[0], self.batch_size):
            batch = self.tokens[start : start + self.batch_size].to(device)
            if self.resid_pre_of is not None:
                acts = self.model(batch, stop_at_layer=self.resid_pre_of)
            else:
                _, cache = self.model.run_with_cache(
                    batch, names_filter=self.hook_name, stop_at_layer=self.stop_at_layer, return_type=None
                )
                acts = cache[self.hook_name]
            if acts.ndim == 4:  # hook_z: [B, L, heads, d_head]
                acts = acts.flatten(-2)
            if self._cache is not None:
                self._cache.append(acts)
            yield start, acts
        self._complete = True


def feature_resid_directions(model, sae, hook_name: str, idx: torch.Tensor) -> torch.Tensor:
    """The direction each feature writes into the residual stream ``[F, d_model]``."""
    w_dec = sae.W_dec.detach()[idx].to(model.W_U.dtype).to(model.W_U.device)
    if "hook_z" in hook_name:
        layer = hook_layer(hook_name)
        w_o = model.blocks[layer].attn.W_O.detach()  # [heads, d_head, d_model]
        return torch.einsum("fhd,hdm->fm", w_dec.view(len(idx), *w_o.shape[:2]), w_o)
    if "mlp.hook_post" in hook_name:
        return w_dec @ model.blocks[hook_layer(hook_name)].mlp.W_out.detach()
    if re.search(r"(resid_(pre|mid|post)|hook_(mlp|attn)_out|hook_embed|ln_final)", hook_name):
        return w_dec
    if (
        "ln2.hook_normalized" in hook_name
    ):  # graphs (helper G): a transcoder reads the MLP input, writes mlp_out
        return w_dec
    raise ValueError(f"cannot map hook {hook_name!r} into the residual stream for logits")
