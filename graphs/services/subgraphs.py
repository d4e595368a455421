"""Subgraphs (saved pins, supernodes, labels) and graph steering."""

from __future__ import annotations

from django.db import transaction

from graphs import selectors
from graphs.models import GraphMetadata, Subgraph
from graphs.services.common import max_prompt_tokens
from neuronsite.errors import (
    NotFound,
    PermissionDenied,
    ValidationFailed,
)


@transaction.atomic
def subgraph_save(*, user, graph: GraphMetadata, fields: dict, subgraph_id: int | None = None) -> Subgraph:
    if subgraph_id is not None:
        sub = Subgraph.objects.select_for_update().filter(pk=subgraph_id, graph=graph).first()
        if sub is None:
            raise NotFound(f"Subgraph {subgraph_id} not found.", field="subgraphId")
        if sub.owner_id != user.pk and not user.is_staff:
            raise PermissionDenied("Only the subgraph's owner can change it.")
    else:
        sub = Subgraph(graph=graph, owner=user)
    for key, value in fields.items():
        setattr(sub, key, value)
    sub.save()
    return sub


@transaction.atomic
def subgraph_delete(*, user, subgraph_id: int) -> None:
    sub = Subgraph.objects.select_for_update().filter(pk=subgraph_id).first()
    if sub is None:
        raise NotFound(f"Subgraph {subgraph_id} not found.", field="subgraphId")
    if sub.owner_id != user.pk and not user.is_staff:
        raise PermissionDenied("Only the subgraph's owner can delete it.")
    sub.delete()


# ---- graph steering -----------------------------------------------------------------------------
def graph_steer_logits(
    *,
    user,
    model_name: str,
    prompt: str,
    features: list[dict],
    source_set_name: str | None = None,
    n_tokens: int = 10,
    top_k: int = 5,
    freeze_attention: bool = True,
    temperature: float = 0.0,
    freq_penalty: float = 0.0,
    seed: int = 16,
) -> dict:
    """Default vs steered generations (circuit-tracer interventions, set-point semantics)."""
    from inference.engine import ModelSpec, get_engine
    from inference.graphs.engine import GraphEngineError, PromptTooLong, TranscoderSpec
    from inference.graphs.steer import SteerFeature, steer_for

    model = selectors.model_for_graphs(model_name=model_name, user=user)
    source_set = selectors.transcoder_set_for(model=model, set_name=source_set_name, user=user)
    spec = TranscoderSpec(
        model_name=model.name, set_name=source_set.name, ref=selectors.transcoder_ref(source_set=source_set)
    )
    try:
        return get_engine().call(
            steer_for,
            ModelSpec.of(model),
            spec,
            prompt=prompt,
            features=[SteerFeature(**f) for f in features],
            max_tokens=max_prompt_tokens(model.name),
            n_tokens=n_tokens,
            top_k=top_k,
            freeze_attention=freeze_attention,
            temperature=temperature,
            freq_penalty=freq_penalty,
            seed=seed,
        )
    except PromptTooLong as exc:
        raise ValidationFailed("Prompt Too Long", extra={"message": str(exc)}) from exc
    except GraphEngineError as exc:
        raise ValidationFailed(str(exc)) from exc
