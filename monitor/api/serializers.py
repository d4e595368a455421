"""Input serializers of the chat monitor's API (plain ``Serializer``s; bounds in the schema)."""

from __future__ import annotations

from django.conf import settings
from rest_framework import serializers

from monitor.models import Conversation
from monitor.services.chat import MAX_CONTENT_CHARS
from monitor.services.concepts import MAX_TOP_K
from neuronsite.fields_api import BoundedIntegerField, FiniteFloatField, SafeCharField

SOURCE_ID = SafeCharField(max_length=160)


def _sources(**kw):
    return serializers.ListField(child=SafeCharField(max_length=160), max_length=64, **kw)


class ConversationNewInput(serializers.Serializer):
    modelId = SafeCharField(max_length=128)  # noqa: N815 - Neuronpedia-style camelCase
    sources = _sources(required=False)
    mode = serializers.ChoiceField(choices=Conversation.Mode.values, required=False)


class SourcesInput(serializers.Serializer):
    sources = _sources()


class SendInput(serializers.Serializer):
    content = SafeCharField(max_length=MAX_CONTENT_CHARS)
    nTokens = BoundedIntegerField(min_value=1, max_value=settings.INFERENCE_MAX_NEW_TOKENS, default=32)  # noqa: N815
    temperature = FiniteFloatField(min_value=0.0, max_value=10.0, default=0.5)
    seed = BoundedIntegerField(min_value=0, max_value=2**31 - 1, default=16)


class RegenerateInput(serializers.Serializer):
    nTokens = BoundedIntegerField(min_value=1, max_value=settings.INFERENCE_MAX_NEW_TOKENS, default=32)  # noqa: N815
    temperature = FiniteFloatField(min_value=0.0, max_value=10.0, default=0.5)
    seed = BoundedIntegerField(min_value=0, max_value=2**31 - 1, default=16)


class ConceptsInput(serializers.Serializer):
    sources = _sources(required=False)


class AttributionInput(serializers.Serializer):
    position = BoundedIntegerField(min_value=0, max_value=1_000_000)
    topK = BoundedIntegerField(min_value=1, max_value=MAX_TOP_K, default=20)  # noqa: N815
    sources = _sources(required=False)


def chat_kwargs(data: dict) -> dict:
    return {"n_tokens": data["nTokens"], "temperature": data["temperature"], "seed": data["seed"]}
