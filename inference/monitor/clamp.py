"""Clamp hooks for the chat monitor's "steer by description" (issue 15, item 5).

A ``ClampTerm`` names one SAE latent (``source`` + ``index``) and what to do with it at chosen
positions:

- ``mode="clamp"``: set the latent's activation to ``value`` (Monitor's strengthen: strength × the
  feature's top quantile; suppress: 0). The residual stream keeps everything the SAE does not
  explain: ``x + (value − a)·W_dec[index]``, where ``a`` is the latent's activation ``sae.encode(x)``;
- ``mode="add"``: Neuronpedia's additive steering, ``x + value·W_dec[index]``.

Positions: ``prompt_ranges`` (half-open ``[start, end)`` token positions of the prompt as fed to
the model), ``prompt_all`` (every prompt position) and ``generated`` (every generated token: each
forward pass after the prompt's). When several clamp terms name the same latent at the same
position, the last one wins; additive terms add up.

The hooks are installed by ``inference.services.steering.steer_generations`` on the STEERED
``Generation`` of the one steering loop (``inference.services.steer_loop``); torch is imported
inside the functions (engine thread only).
"""

from __future__ import annotations

from dataclasses import dataclass

from inference.engine import SourceSpec
from inference.errors import InferenceInputError

CLAMP = "clamp"
ADD = "add"


@dataclass(frozen=True)
class ClampTerm:
    source: SourceSpec
    index: int
    mode: str  # CLAMP | ADD
    value: float  # the clamp target, or the additive coefficient
    prompt_ranges: tuple[tuple[int, int], ...] = ()
    prompt_all: bool = False
    generated: bool = True
    spec: int = 0  # which request spec it came from (for error messages)

    @property
    def hook_name(self) -> str:
        return self.source.hook_name

    def as_json(self) -> dict:
        return {
            "source": self.source.name,
            "index": self.index,
            "mode": self.mode,
            "value": self.value,
            "promptRanges": [list(r) for r in self.prompt_ranges],
            "promptAll": self.prompt_all,
            "generated": self.generated,
        }


def check_positions(terms, n_prompt: int) -> None:
    """Refuse prompt ranges past the prompt's ``n_prompt`` tokens (naming the spec)."""
    for term in terms:
        for start, end in term.prompt_ranges:
            if end > n_prompt:
                raise InferenceInputError(
                    f"range [{start}, {end}) is past the prompt's {n_prompt} tokens (positions 0..{n_prompt - 1}).",
                    field=f"specs[{term.spec}].positions.prompt",
                )


def _prompt_mask(term: ClampTerm, n_prompt: int, device):
    import torch

    mask = torch.zeros(n_prompt, dtype=torch.bool, device=device)
    if term.prompt_all:
        mask[:] = True
    for start, end in term.prompt_ranges:
        mask[start:end] = True
    return mask


def clamp_hook(terms: list[ClampTerm], sae, gen):
    """A forward hook for one SAE's hook point applying ``terms`` to ``gen`` (a
    ``inference.engine.steer.Generation``): the first pass is the prompt, later ones one generated
    token each."""
    import torch

    n_prompt = len(gen.input_ids)
    device = gen.device
    prompt_masks = [_prompt_mask(t, n_prompt, device) for t in terms]
    indices = sorted({t.index for t in terms})
    column = {idx: j for j, idx in enumerate(indices)}
    w_dec = sae.W_dec[indices]  # [k, d_model]

    def hook(act, hook=None):
        seq = act.shape[1]
        prompt_pass = not gen.generated and seq == n_prompt
        if prompt_pass:
            masks = prompt_masks
        else:
            masks = [torch.full((seq,), bool(t.generated), device=act.device) for t in terms]
        if not any(bool(m.any()) for m in masks):
            return act
        k = len(indices)
        target = torch.full((seq, k), float("nan"), device=act.device, dtype=act.dtype)
        added = torch.zeros((seq, k), device=act.device, dtype=act.dtype)
        for term, mask in zip(terms, masks, strict=True):
            j = column[term.index]
            if term.mode == CLAMP:
                target[mask, j] = term.value
            else:
                added[mask, j] += term.value
        coef = added[None]
        clamped = ~torch.isnan(target)
        if bool(clamped.any()):
            latents = sae.encode(act.to(sae.W_dec.dtype))[..., indices].to(act.dtype)  # [1, seq, k]
            coef = coef + torch.where(clamped[None], target[None] - latents, torch.zeros_like(latents))
        return act + (coef @ w_dec.to(act.dtype))

    return hook


def clamp_hooks(gen, terms, saes: dict) -> list[tuple[str, object]]:
    """``[(hook_name, hook)]`` for ``gen`` (one per SAE named by ``terms``); checks positions."""
    check_positions(terms, len(gen.input_ids))
    by_source: dict[SourceSpec, list[ClampTerm]] = {}
    for term in terms:
        by_source.setdefault(term.source, []).append(term)
    hooks = []
    for spec, group in by_source.items():
        sae = saes[spec]
        for term in group:
            if not 0 <= term.index < sae.cfg.d_sae:
                raise InferenceInputError(
                    f"index {term.index} is out of range for {spec.name} (d_sae {sae.cfg.d_sae}).",
                    field=f"specs[{term.spec}].features",
                )
        if spec.hook_name not in gen.model.hook_dict:
            raise InferenceInputError(f"Unknown hook {spec.hook_name!r} for this model.", field="specs")
        hooks.append((spec.hook_name, clamp_hook(group, sae, gen)))
    return hooks
