"""The per-token tap and attribution over SAE / transcoder latents.

``encode_all``: one forward pass (``run_with_cache`` on the hooks the sources read, stopped after the
deepest one; a ``blocks.{k}.hook_resid_pre`` is read as ``blocks.{k-1}.hook_resid_post``, the same
tensor, so block ``k`` itself never runs) and ``sae.encode`` of each source's hook activation at every token: the dense
``[pos, d_sae]`` activations, exactly what ``sae.encode`` gives on ``run_with_cache``.

``active_concepts``: the entries of those activations that reach the latent's threshold (its high
activation quantile, see ``inference.monitor.thresholds``), as ``{source, index, position,
activation, normalised}`` with ``normalised = activation / threshold``, sorted by ``normalised``
(best first). A latent whose threshold is unknown (``inf``) is never active.

``attribute``: Monitor's attribution rule over latents. For the token at ``position`` (its
log-probability under the logits at ``position - 1``), every latent at every earlier position is
scored by ``|activation × ∂ log p / ∂ activation|``. The latents are spliced in at each source's
hook as ``x + decode(f) - decode(f).detach()``: the forward value is unchanged (still ``x``) and the
gradient reaching ``f`` is the decoder applied to the true gradient at the hook, which is the same
as the usual ``decode(f) + error`` splice with the error term held fixed; several sources on one
hook each get their own gradient. Transcoders (stored as an SAE at the MLP input whose decoder writes
the MLP output) are spliced at their output hook (``out_hooks``) instead. Returns the top ``k``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from inference.engine.ops import stop_layer_for
from inference.errors import InferenceInputError


def _token_tensor(model, token_ids: Sequence[int]):
    import torch

    if not token_ids:
        raise InferenceInputError("There are no tokens to read.", field="tokens")
    if len(token_ids) > model.cfg.n_ctx:
        raise InferenceInputError(
            f"The conversation is {len(token_ids)} tokens long; the model's context is "
            f"{model.cfg.n_ctx} tokens.",
            field="content",
        )
    return torch.tensor([list(token_ids)], dtype=torch.long, device=model.cfg.device)


def encode_all(token_ids: Sequence[int], *, model, saes: dict) -> dict:
    """``{SourceSpec: [pos, d_sae] float32 tensor}``: each source's latents at every token."""
    import torch

    with torch.no_grad():
        return _encode(token_ids, model=model, saes=saes)


_RESID_PRE = re.compile(r"^blocks\.(\d+)\.hook_resid_pre$")


def read_hook(name: str, model) -> str:
    """The hook whose cached value equals ``name``'s and fires earliest: ``blocks.{k}.hook_resid_pre``
    (k >= 1) is the tensor ``blocks.{k-1}`` returned, i.e. ``blocks.{k-1}.hook_resid_post`` (the
    same values), so reading it there spares running block ``k`` at all."""
    match = _RESID_PRE.match(name)
    if match and int(match.group(1)) >= 1:
        post = f"blocks.{int(match.group(1)) - 1}.hook_resid_post"
        if post in model.hook_dict:
            return post
    return name


def _encode(token_ids: Sequence[int], *, model, saes: dict) -> dict:
    tokens = _token_tensor(model, token_ids)
    read = {spec: read_hook(spec.hook_name, model) for spec in saes}
    hooks = sorted(set(read.values()))
    _, cache = model.run_with_cache(tokens, names_filter=hooks, stop_at_layer=stop_layer_for(hooks))
    return {spec: sae.encode(cache[read[spec]][0].to(sae.dtype)).float() for spec, sae in saes.items()}


def active_concepts(
    token_ids: Sequence[int],
    *,
    model,
    saes: dict,
    thresholds: dict,
    skip_positions: Sequence[int] = (),
    limit: int | None = None,
) -> list[dict]:
    """Latents at or above their threshold at each token, best ``normalised`` first (ties: source
    name, index, position). ``thresholds`` holds a ``[d_sae]`` tensor per source
    (``inference.monitor.thresholds.threshold_vector``: ``inf`` where unknown, never <= 0);
    ``skip_positions`` (e.g. BOS) are left out.

    All in torch, every source at once. A latent can only be active where its largest activation
    over the tokens reaches its threshold, so only those few columns of each source are kept (SAE
    activations are sparse: a full ``[pos, d_sae]`` mask + ``nonzero`` costs several times the
    max); they are concatenated in (source name, index) order and masked transposed, so that one
    ``nonzero`` comes out ordered by (source name, index, position), and one stable descending
    sort on ``normalised`` gives the full ordering. ``limit`` applies before anything becomes
    Python, which then happens column by column (``tolist``)."""
    import torch

    with torch.inference_mode():
        acts = _encode(token_ids, model=model, saes=saes)
        specs = sorted(acts, key=lambda s: s.name)
        names = [spec.name for spec in specs]
        cols, col_thresholds, col_index, col_source = [], [], [], []
        for sid, spec in enumerate(specs):
            a, t = acts[spec], thresholds[spec]
            if t.shape[0] != a.shape[1]:
                raise InferenceInputError(
                    f"Source {spec.name} has {a.shape[1]} latents but {t.shape[0]} thresholds.",
                    field="sources",
                )
            t = t.to(a.device)
            # Skipped positions may add candidates here, never remove any: they are masked below.
            # ``~(max < t)`` rather than ``max >= t``: a NaN anywhere in a column makes its max NaN,
            # and the column's other tokens must still be looked at.
            cand = torch.nonzero(~(a.amax(dim=0) < t)).flatten()
            cols.append(a.index_select(1, cand))
            col_thresholds.append(t[cand])
            col_index.append(cand)
            col_source.append(torch.full_like(cand, sid))
        if not specs:
            return []
        sub = torch.cat(cols, dim=1).T  # [candidate columns, pos]
        col_thresholds = torch.cat(col_thresholds)
        mask = sub >= col_thresholds[:, None]
        n_pos = len(token_ids)
        skip = set(skip_positions)
        if skip.intersection(range(n_pos)):
            keep = [p not in skip for p in range(n_pos)]
            mask &= torch.tensor(keep, dtype=torch.bool, device=mask.device)[None, :]
        col, pos = torch.nonzero(mask, as_tuple=True)  # ordered by (source name, index, position)
        val = sub[col, pos]
        norm = val / col_thresholds[col]
        order = torch.sort(norm, descending=True, stable=True).indices
        if limit is not None:
            order = order[: max(0, limit)]
        col = col[order]
        columns = (
            torch.cat(col_source)[col].tolist(),
            torch.cat(col_index)[col].tolist(),
            pos[order].tolist(),
            val[order].tolist(),
            norm[order].tolist(),
        )
    return [
        {"source": names[s], "index": i, "position": p, "activation": v, "normalised": n}
        for s, i, p, v, n in zip(*columns, strict=True)
    ]


def attribute(
    token_ids: Sequence[int],
    position: int,
    *,
    model,
    saes: dict,
    top_k: int = 20,
    out_hooks: dict | None = None,
    skip_positions: Sequence[int] = (),
) -> dict:
    """Top ``top_k`` latents by ``|activation × gradient|`` of the log-probability of the token at
    ``position``: ``{"position", "token", "logprob", "attributions": [{source, index, position,
    activation, gradient, attribution}]}``."""
    import torch

    if not 1 <= position < len(token_ids):
        raise InferenceInputError(
            f"position must be between 1 and {len(token_ids) - 1}, got {position}.", field="position"
        )
    target = int(token_ids[position])
    tokens = _token_tensor(model, token_ids[:position])
    out_hooks = out_hooks or {}
    latents: dict = {}
    fwd_hooks = []

    def encode_hook(spec, sae, splice_here: bool):
        def hook(x, hook=None):
            f = sae.encode(x[0].detach().to(sae.dtype)).detach().requires_grad_(True)
            latents[spec] = f
            if not splice_here:
                return x
            recon = sae.decode(f).to(x.dtype)
            return x + (recon - recon.detach())[None]

        return hook

    def decode_hook(spec, sae):
        def hook(x, hook=None):
            recon = sae.decode(latents[spec]).to(x.dtype)
            return x + (recon - recon.detach())[None]

        return hook

    for spec, sae in saes.items():
        out = out_hooks.get(spec)
        fwd_hooks.append((spec.hook_name, encode_hook(spec, sae, splice_here=out is None)))
        if out is not None:
            if out not in model.hook_dict:
                raise InferenceInputError(f"Unknown output hook {out!r} for {spec.name}.", field="sources")
            fwd_hooks.append((out, decode_hook(spec, sae)))
    with torch.enable_grad():
        logits = model.run_with_hooks(tokens, fwd_hooks=fwd_hooks)
        logprobs = torch.log_softmax(logits[0, -1].float(), dim=-1)
        logp = logprobs[target]
        specs = list(latents)
        grads = torch.autograd.grad(logp, [latents[s] for s in specs], allow_unused=True)
    rows = []
    for spec, grad in zip(specs, grads, strict=True):
        f = latents[spec].detach().float()
        g = torch.zeros_like(f) if grad is None else grad.detach().float()
        score = (f * g).abs()
        if skip_positions:
            score[[p for p in skip_positions if 0 <= p < score.shape[0]]] = 0.0
        flat = score.flatten()
        k = min(top_k, flat.numel())
        values, flat_idx = flat.topk(k)
        d_sae = score.shape[1]
        for v, fi in zip(values.tolist(), flat_idx.tolist(), strict=True):
            if v <= 0:
                break
            pos, idx = divmod(fi, d_sae)
            rows.append(
                {
                    "source": spec.name,
                    "index": idx,
                    "position": pos,
                    "activation": float(f[pos, idx]),
                    "gradient": float(g[pos, idx]),
                    "attribution": v,
                }
            )
    rows.sort(key=lambda r: (-r["attribution"], r["source"], r["index"], r["position"]))
    return {
        "position": position,
        "token": model.tokenizer.convert_ids_to_tokens(target),
        "logprob": float(logp.detach()),
        "attributions": rows[:top_k],
    }


def tap(
    token_ids: Sequence[int],
    *,
    model,
    saes: dict,
    thresholds: dict,
    skip_positions: Sequence[int] = (),
    limit: int | None = None,
) -> list[dict]:
    """Engine-thread entry of ``active_concepts``: ``thresholds`` is ``{spec: (stamp, values)}``
    where ``values`` ({index: threshold}) may be None when the vector for that stamp is cached."""
    from inference.monitor.thresholds import threshold_vector

    vectors = {
        spec: threshold_vector(spec, stamp, int(sae.cfg.d_sae), values, device=model.cfg.device)
        for spec, sae in saes.items()
        for stamp, values in [thresholds[spec]]
    }
    return active_concepts(
        token_ids, model=model, saes=saes, thresholds=vectors, skip_positions=skip_positions, limit=limit
    )
