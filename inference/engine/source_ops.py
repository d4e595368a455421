"""Engine kernel behind ``POST /api/activation/source``: every latent of one source on each
text, sparse (Neuronpedia's inference shape: per text ``tokens`` and ``activeFeatures``, a map
from latent index to ``[[token position, value], ...]`` holding only non-zero values)."""

from __future__ import annotations

from collections.abc import Sequence

from inference.engine import ModelSpec, SourceSpec, get_engine
from inference.engine.ops import _cache_hooks, raw_token_strings, to_tokens


def source_activations(texts: Sequence[str], *, model, saes: dict) -> list[dict]:
    """Per text: ``tokens`` (raw tokenizer strings, BOS first) and ``activeFeatures``. The BOS
    position is left out of ``activeFeatures``, as Neuronpedia's activation endpoints do. The
    kernel is handed its loaded model and ``{source spec: SAE}`` (one source)."""
    import torch

    ((spec, sae),) = saes.items()
    token_batches = [to_tokens(model, text) for text in texts]
    results = []
    with torch.no_grad():
        for tokens in token_batches:
            hidden = _cache_hooks(model, tokens, [spec.hook_name])[spec.hook_name][0]
            acts = sae.encode(hidden.to(sae.dtype)).float()
            acts[0] = 0.0
            positions, latents = torch.nonzero(acts > 0, as_tuple=True)
            values = acts[positions, latents].tolist()
            active: dict[str, list[list[float]]] = {}
            for pos, latent, value in zip(positions.tolist(), latents.tolist(), values, strict=True):
                active.setdefault(str(latent), []).append([pos, value])
            ids = tokens[0].tolist()
            results.append({"tokens": raw_token_strings(model, ids), "activeFeatures": active})
    return results


def source_activations_entry(
    model_spec: ModelSpec, source_spec: SourceSpec, texts: Sequence[str]
) -> list[dict]:
    """Engine-thread entry: resolve the model and the SAE once, then run the kernel."""
    engine = get_engine()
    return source_activations(
        texts, model=engine.model(model_spec), saes={source_spec: engine.sae(source_spec)}
    )
