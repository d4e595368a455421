"""Engine operation behind ``POST /api/activation/source``: every latent of one source on each
text, sparse (Neuronpedia's inference shape: per text ``tokens`` and ``activeFeatures``, a map
from latent index to ``[[token position, value], ...]`` holding only non-zero values)."""

from __future__ import annotations

from collections.abc import Sequence

from inference.engine import ModelSpec, SourceSpec, get_engine
from inference.engine.ops import _encode_sources, raw_token_strings, to_tokens


def source_activations(model_spec: ModelSpec, source_spec: SourceSpec, texts: Sequence[str]) -> list[dict]:
    """Per text: ``tokens`` (raw tokenizer strings, BOS first) and ``activeFeatures``. The BOS
    position is left out of ``activeFeatures``, as Neuronpedia's activation endpoints do."""
    import torch

    model = get_engine().model(model_spec)
    token_batches = [to_tokens(model, text) for text in texts]
    results = []
    with torch.no_grad():
        for tokens in token_batches:
            acts = _encode_sources(model, [source_spec], tokens)[source_spec.name]
            acts[0] = 0.0
            positions, latents = torch.nonzero(acts > 0, as_tuple=True)
            values = acts[positions, latents].tolist()
            active: dict[str, list[list[float]]] = {}
            for pos, latent, value in zip(positions.tolist(), latents.tolist(), values, strict=True):
                active.setdefault(str(latent), []).append([pos, value])
            ids = tokens[0].tolist()
            results.append({"tokens": raw_token_strings(model, ids), "activeFeatures": active})
    return results
