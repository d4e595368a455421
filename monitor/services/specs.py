"""Steering specs saved on a conversation (issue 15, item 5: "several specs at once, each toggled
on/off"), and the conversation side of the linter and steer APIs (``conversationId``).

A spec is validated the way ``/api/monitor/steer`` validates it (``steer.clamp_terms``: visible
sources, existing features, a quantile to strengthen to) before it is stored; prompt ranges are
checked against the prompt's tokens when the spec is used (the conversation changes meanwhile).
"""

from __future__ import annotations

from django.db import transaction

from monitor.models import Conversation, SteeringSpec
from monitor.services import steer
from neuronsite.errors import Conflict, ValidationFailed

MAX_SAVED_SPECS = 32


def spec_json(spec: SteeringSpec) -> dict:
    return {
        "id": spec.pk,
        "conversationId": spec.conversation_id,
        "description": spec.description,
        "exclude": list(spec.exclude or []),
        "mode": spec.mode,
        "strength": spec.strength,
        "features": spec.features,
        "positions": spec.positions,
        "enabled": spec.enabled,
    }


def _normalised(data: dict) -> dict:
    positions = dict(data.get("positions") or {})
    positions.setdefault("prompt", [])
    positions.setdefault("generated", True)
    return {
        "description": data.get("description", ""),
        "exclude": [str(p).strip() for p in (data.get("exclude") or []) if str(p).strip()],
        "mode": data.get("mode", SteeringSpec.Mode.STRENGTHEN),
        "strength": float(data.get("strength", steer.STRENGTH_DEFAULT)),
        "features": [{"source": f["source"], "index": int(f["index"])} for f in data["features"]],
        "positions": positions,
        "enabled": bool(data.get("enabled", True)),
    }


def _check(*, user, conversation: Conversation, spec: dict, field: str) -> None:
    """Resolve the spec as the steer API would (raises ValidationFailed naming ``field``, or
    NotFound for an unknown source)."""
    from neuronsite.errors import NotFound

    try:
        steer.clamp_terms(user=user, model=conversation.model, specs=[{**spec, "enabled": True}])
    except (ValidationFailed, NotFound) as e:
        inner = e.field or ""
        detail = e.detail.get(inner, e.detail) if isinstance(e.detail, dict) else e.detail
        name = inner.replace("specs[0]", field, 1) if inner.startswith("specs[0]") else field
        raise type(e)(detail, field=name) from None


def specs_list(*, conversation: Conversation) -> list[SteeringSpec]:
    return list(conversation.steering_specs.order_by("created_at", "id"))


@transaction.atomic
def spec_create(*, user, conversation: Conversation, data: dict) -> SteeringSpec:
    spec = _normalised(data)
    _check(user=user, conversation=conversation, spec=spec, field="spec")
    conv = Conversation.objects.select_for_update().get(pk=conversation.pk)
    if conv.steering_specs.count() >= MAX_SAVED_SPECS:
        raise ValidationFailed(f"at most {MAX_SAVED_SPECS} steering specs per conversation", field="spec")
    return SteeringSpec.objects.create(conversation=conv, **spec)


def spec_get(*, conversation: Conversation, spec_id: int) -> SteeringSpec:
    from neuronsite.errors import NotFound

    spec = conversation.steering_specs.filter(pk=spec_id).first()
    if spec is None:
        raise NotFound(f"Steering spec {spec_id} not found in conversation {conversation.pk}.")
    return spec


@transaction.atomic
def spec_update(*, user, conversation: Conversation, spec: SteeringSpec, data: dict) -> SteeringSpec:
    """Change some of a spec's fields (``enabled`` to toggle it); all checked before anything is saved."""
    merged = {**spec_json(spec), **data}
    new = _normalised(merged)
    _check(user=user, conversation=conversation, spec=new, field="spec")
    for k, v in new.items():
        setattr(spec, k, v)
    spec.save()
    return spec


def spec_delete(*, spec: SteeringSpec) -> None:
    spec.delete()


def conversation_steer_input(*, conversation: Conversation, model_id: str | None, specs: list | None):
    """``(messages, prompt, specs)`` for steering a conversation's last answer: its messages up to the
    last user turn (chat mode) or their text (completion mode); the request's specs, else the
    conversation's enabled saved specs."""
    if model_id and model_id != conversation.model.name:
        raise Conflict(
            f"conversation {conversation.pk} is with model '{conversation.model.name}', not '{model_id}'",
            field="conversationId",
        )
    msgs = [{"role": m["role"], "content": m["content"]} for m in conversation.messages]
    while msgs and msgs[-1]["role"] == "assistant":
        msgs.pop()
    if not msgs:
        raise ValidationFailed(
            f"conversation {conversation.pk} has no message to answer", field="conversationId"
        )
    if specs is None:
        specs = [
            {k: v for k, v in spec_json(s).items() if k not in ("id", "conversationId")}
            for s in specs_list(conversation=conversation)
            if s.enabled
        ]
        if not specs:
            raise ValidationFailed("give specs, or save and enable one on the conversation", field="specs")
    if conversation.mode == Conversation.Mode.COMPLETION:
        return None, "".join(m["content"] for m in msgs), specs
    return msgs, None, specs
