"""Engine kernels: activations, search over sources, top-k by token, cosine similarity,
tokenisation. Each runs on the engine thread through ``engine.call_kernel`` / ``engine.run_kernel``,
which hands it the loaded ``model=`` and ``saes=`` ({SourceSpec: SAE}); kernels never reach for the
engine themselves. Other inputs are frozen specs and plain values, never ORM rows; outputs are
plain Python data.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Sequence
from itertools import accumulate

from django.conf import settings

from inference.engine import SourceSpec
from inference.errors import InferenceInputError

_LAYER_RE = re.compile(r"^blocks\.(\d+)\.")


def stop_layer_for(hook_names: Sequence[str]) -> int | None:
    """Blocks to run so that every hook in ``hook_names`` fires; None = whole model."""
    layers = []
    for name in hook_names:
        match = _LAYER_RE.match(name)
        if not match:
            return None
        layers.append(int(match.group(1)) + 1)
    return max(layers) if layers else None


def token_limit(model) -> int:
    """The longest input (BOS included) a request may send: ``INFERENCE_TOKEN_LIMIT`` or the
    model's context (``n_ctx``), whichever is smaller."""
    n_ctx = getattr(getattr(model, "cfg", None), "n_ctx", None)
    limit = settings.INFERENCE_TOKEN_LIMIT
    return min(limit, int(n_ctx)) if n_ctx else limit


def check_token_count(model, count: int, *, what: str = "Text") -> None:
    limit = token_limit(model)
    if count > limit:
        raise InferenceInputError(
            f"{what} is {count} tokens long; the limit is {limit} tokens "
            f"(the smaller of INFERENCE_TOKEN_LIMIT and the model's context).",
            extra={"tokenLimit": limit},
        )


def to_tokens(model, text: str, *, prepend_bos: bool = True, field: str = "text"):
    """Token ids ``[1, pos]`` of ``text`` with BOS, refusing empty text and the token limit."""
    if not isinstance(text, str) or not text.strip():
        raise InferenceInputError(f"{field} must not be empty.")
    tokens = model.to_tokens(text, prepend_bos=prepend_bos, truncate=False)
    check_token_count(model, tokens.shape[-1])
    return tokens


def raw_token_strings(model, ids) -> list[str]:
    """Raw tokenizer strings (``Ġthe`` for byte-level BPE), as stored activations keep them."""
    return model.tokenizer.convert_ids_to_tokens([int(i) for i in ids])


def _cache_hooks(model, tokens, hook_names: Sequence[str]):
    import torch

    names = sorted(set(hook_names))
    with torch.no_grad():
        _, cache = model.run_with_cache(tokens, names_filter=names, stop_at_layer=stop_layer_for(names))
    return cache


def tokenize(text: str, *, model, prepend_bos: bool = True) -> dict:
    tokens = to_tokens(model, text, prepend_bos=prepend_bos)[0]
    ids = [int(i) for i in tokens]
    return {
        "tokens": ids,
        "tokenStrings": raw_token_strings(model, ids),
        "prependedBos": prepend_bos,
        "tokenLimit": token_limit(model),
    }


def feature_activations(
    index: int,
    texts: Sequence[str],
    *,
    model,
    saes: dict | None = None,
    vector: Sequence[float] | None = None,
    hook_name: str | None = None,
) -> list[dict]:
    """Activations of one SAE latent (the one SAE in ``saes``), or of the dot product with a user
    ``vector`` at ``hook_name``, on each text. The BOS position is zeroed and dropped, as
    Neuronpedia does."""
    import torch

    sae = None
    if vector is None:
        ((source_spec, sae),) = saes.items()
        hook = hook_name or source_spec.hook_name
        if not 0 <= index < sae.cfg.d_sae:
            raise InferenceInputError(
                f"Index {index} is out of range for {source_spec.name} (d_sae {sae.cfg.d_sae})."
            )
    else:
        hook = hook_name
        if len(vector) != model.cfg.d_model:
            raise InferenceInputError(
                f"Vector has dimension {len(vector)}; the model has d_model {model.cfg.d_model}."
            )
        direction = torch.tensor(vector, dtype=model.cfg.dtype, device=model.cfg.device)
    token_batches = [to_tokens(model, text, field="customText") for text in texts]
    results = []
    with torch.no_grad():
        for tokens in token_batches:
            acts = _cache_hooks(model, tokens, [hook])[hook][0]
            if sae is not None:
                values = sae.encode(acts.to(sae.dtype))[:, index]
            else:
                values = acts @ direction
            values = values.float().cpu()
            if not bool(torch.isfinite(values).all()):
                raise InferenceInputError(
                    "The activations are not finite numbers (overflow): the feature's vector values "
                    "are too large for this model's dtype.",
                    field="feature",
                )
            values[0] = 0.0
            values = values[1:].tolist()
            ids = tokens[0, 1:].tolist()
            max_value = max(values) if values else 0.0
            results.append(
                {
                    "tokens": raw_token_strings(model, ids),
                    "values": values,
                    "maxValue": max_value,
                    "maxValueTokenIndex": values.index(max_value) if values else 0,
                    "minValue": min(values) if values else 0.0,
                }
            )
    return results


def _encode_sources(model, saes: dict, tokens):
    """``{source name: activations [pos, d_sae]}`` from one forward pass for all sources."""
    cache = _cache_hooks(model, tokens, [spec.hook_name for spec in saes])
    out = {}
    for spec, sae in saes.items():
        out[spec.name] = sae.encode(cache[spec.hook_name][0].to(sae.dtype)).float()
    return out


def search_all(
    text: str,
    *,
    model,
    saes: dict,
    sort_indexes: Sequence[int] = (),
    ignore_bos: bool = True,
    num_results: int = 50,
    exclude: dict[str, Sequence[int]] | None = None,
) -> dict:
    """Top features across ``source_specs`` for ``text``: ranked by their max over positions, or by
    the sum over ``sort_indexes`` (positions in the returned ``tokens``, BOS at 0). With
    ``ignore_bos`` the BOS position counts as zero. ``exclude`` drops indexes per source (e.g. too
    dense). ``counts[s][t]`` = active latents of source ``s`` at token ``t``."""
    import torch

    source_specs = list(saes)
    tokens = to_tokens(model, text)
    n_pos = tokens.shape[-1]
    bad = [i for i in sort_indexes if not 0 <= int(i) < n_pos]
    if bad:
        raise InferenceInputError(f"sortIndexes {bad} are outside the text's {n_pos} tokens.")
    with torch.no_grad():
        per_source = _encode_sources(model, saes, tokens)
        scores, counts = [], []
        for spec in source_specs:
            acts = per_source[spec.name]
            if ignore_bos:
                acts[0] = 0.0
            counts.append((acts > 0).sum(dim=1).tolist())
            score = acts[list(sort_indexes)].sum(dim=0) if sort_indexes else acts.max(dim=0).values
            if exclude and exclude.get(spec.name):
                score[torch.tensor(list(exclude[spec.name]), dtype=torch.long)] = float("-inf")
            scores.append(score)
        all_scores = torch.cat(scores)
        k = min(num_results, all_scores.shape[0])
        top = torch.topk(all_scores, k)
        top_values = top.values.tolist()
        picked = top.indices[: sum(1 for v in top_values if v > 0)].tolist()
        # Which source and latent each pick is (sources are concatenated in order), then one
        # gather and one device->host copy per source holding picks.
        starts = list(accumulate((s.shape[0] for s in scores), initial=0))
        owner = [bisect_right(starts, i) - 1 for i in picked]
        rows_of: dict[int, list[float]] = {}
        for s_idx in sorted(set(owner)):
            mine = [i - starts[s_idx] for i, o in zip(picked, owner, strict=True) if o == s_idx]
            gathered = per_source[source_specs[s_idx].name][:, mine].T.tolist()
            rows_of.update({starts[s_idx] + index: row for index, row in zip(mine, gathered, strict=True)})
        results = []
        for value, flat_index, s_idx in zip(top_values, picked, owner, strict=False):
            spec = source_specs[s_idx]
            values = rows_of[flat_index]
            max_value = max(values)
            results.append(
                {
                    "source": spec.name,
                    "layer": spec.name,
                    "index": flat_index - starts[s_idx],
                    "values": values,
                    "maxValue": max_value,
                    "maxValueIndex": values.index(max_value),
                    "sumValues": float(sum(values[i] for i in sort_indexes)) if sort_indexes else None,
                    "score": value,
                }
            )
    ids = tokens[0].tolist()
    return {"tokens": raw_token_strings(model, ids), "result": results, "counts": counts}


def topk_by_token(
    text: str,
    *,
    model,
    saes: dict,
    k: int = 5,
    ignore_bos: bool = True,
    exclude: Sequence[int] = (),
) -> dict:
    """For one source, the top ``k`` active latents at each token."""
    import torch

    ((source_spec, _),) = saes.items()
    tokens = to_tokens(model, text)
    with torch.no_grad():
        acts = _encode_sources(model, saes, tokens)[source_spec.name]
        if exclude:
            acts[:, torch.tensor(list(exclude), dtype=torch.long)] = 0.0
        top = torch.topk(acts, min(k, acts.shape[1]), dim=1)
    ids = tokens[0].tolist()
    strs = raw_token_strings(model, ids)
    results = []
    for pos in range(len(ids)):
        if ignore_bos and pos == 0:
            continue
        feats = [
            {"featureIndex": int(i), "activationValue": float(v)}
            for v, i in zip(top.values[pos].tolist(), top.indices[pos].tolist(), strict=True)
            if v > 0
        ]
        results.append({"position": pos, "token": strs[pos], "topFeatures": feats})
    return {"tokens": strs, "results": results}


def _unit_decoder(sae):
    W = sae.W_dec.detach().float()
    return W / W.norm(dim=-1, keepdim=True).clamp_min(1e-12)


def cossim(
    source_spec: SourceSpec,
    index: int,
    *,
    saes: dict,
    target_spec: SourceSpec | None = None,
    k: int = 10,
) -> list[dict]:
    """Decoder-direction cosine similarity of latent ``index`` against every latent of its own SAE
    (itself left out) or of ``target_spec``; the top ``k``. ``saes`` holds both."""
    import torch

    sae = saes[source_spec]
    if not 0 <= index < sae.cfg.d_sae:
        raise InferenceInputError(
            f"Index {index} is out of range for {source_spec.name} (d_sae {sae.cfg.d_sae})."
        )
    target = saes[target_spec] if target_spec else sae
    if target.cfg.d_in != sae.cfg.d_in:
        raise InferenceInputError(
            f"{target_spec.name} has d_in {target.cfg.d_in}, {source_spec.name} has {sae.cfg.d_in}: not comparable."
        )
    with torch.no_grad():
        query = _unit_decoder(sae)[index]
        sims = _unit_decoder(target) @ query.to(target.W_dec.device)
        if target_spec is None or target_spec == source_spec:
            sims[index] = float("-inf")
        top = torch.topk(sims, min(k, sims.shape[0] - (1 if target is sae else 0)))
    name = (target_spec or source_spec).name
    return [
        {"source": name, "index": int(i), "cosSim": float(v)}
        for v, i in zip(top.values.tolist(), top.indices.tolist(), strict=True)
    ]


def neighbours_all(*, saes: dict, k: int = 10, chunk: int = 4096):
    """For every latent of the (one) SAE, its ``k`` nearest other latents by decoder cosine
    similarity: ``(indices [d_sae][k], values [d_sae][k])``, in chunks to bound memory."""
    import torch

    ((_, sae),) = saes.items()
    unit = _unit_decoder(sae)
    d_sae = unit.shape[0]
    k = min(k, d_sae - 1)
    indices, values = [], []
    with torch.no_grad():
        for start in range(0, d_sae, chunk):
            sims = unit[start : start + chunk] @ unit.T
            rows = torch.arange(sims.shape[0], device=sims.device)
            sims[rows, rows + start] = float("-inf")
            top = torch.topk(sims, k, dim=1)
            indices.extend(top.indices.tolist())
            values.extend(top.values.tolist())
    return indices, values
