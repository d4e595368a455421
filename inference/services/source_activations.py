"""All activations of one source for custom text (``POST /api/activation/source``); nothing stored."""

from __future__ import annotations

from collections.abc import Sequence

from inference import selectors
from inference.engine import ModelSpec, SourceSpec, get_engine
from inference.errors import InferenceDisabled


def source_activations(*, user, model_id: str, source_name: str, texts: Sequence[str]) -> dict:
    from inference.engine.source_ops import source_activations_entry

    model = selectors.model_for_inference(name=model_id, user=user)
    source = selectors.source_for_inference(model=model, name=source_name, user=user)
    if not (source.local_path or (source.sae_release and source.sae_id)):
        raise InferenceDisabled(f"Source '{model.name}/{source.name}' has no SAE to run.", field="source")
    results = get_engine().call(
        source_activations_entry, ModelSpec.of(model), SourceSpec.of(source), list(texts)
    )
    return {"modelId": model.name, "source": source.name, "results": results}
