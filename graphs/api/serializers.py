"""Input serializers and output builders for the graph API (Neuronpedia's shapes)."""

from __future__ import annotations

from django.urls import reverse
from rest_framework import serializers

from graphs.models import GraphMetadata
from graphs.services import GENERATE_RANGES, SLUG_RE, max_upload_bytes
from neuronsite.fields_api import BoundedIntegerField, FiniteFloatField, SafeCharField
from neuronsite.openapi import schema_extra

# The slug rule is checked by the service (Neuronpedia's "Invalid scan or slug" answer).
SLUG_SCHEMA = SLUG_RE.pattern


def _range(name: str, field_class):
    low, high, _default = GENERATE_RANGES[name]
    return field_class(required=False, allow_null=True, min_value=low, max_value=high)


class MessageInput(serializers.Serializer):
    role = serializers.ChoiceField(choices=["system", "user", "assistant"])
    content = SafeCharField(allow_blank=True, max_length=10_000)


@schema_extra(
    anyOf=[{"required": ["prompt"]}, {"required": ["messages"]}],
    # Longer prompts reach the service, which answers Neuronpedia's "Prompt Too Long".
    properties={"prompt": {"maxLength": 10_000}, "messages": {"minItems": 1}},
)
class GenerateInput(serializers.Serializer):
    modelId = SafeCharField(max_length=128)
    prompt = SafeCharField(max_length=1_000_000, required=False, allow_blank=False, trim_whitespace=False)
    messages = MessageInput(many=True, required=False, allow_empty=False, max_length=1000)
    sourceSetName = SafeCharField(required=False, allow_blank=True, allow_null=True, max_length=128)
    slug = SafeCharField(
        required=False, allow_blank=True, allow_null=True, max_length=200, schema_pattern=SLUG_SCHEMA
    )
    maxNLogits = _range("maxNLogits", BoundedIntegerField)
    desiredLogitProb = _range("desiredLogitProb", FiniteFloatField)
    nodeThreshold = _range("nodeThreshold", FiniteFloatField)
    edgeThreshold = _range("edgeThreshold", FiniteFloatField)
    maxFeatureNodes = _range("maxFeatureNodes", BoundedIntegerField)

    class Meta:
        ref_name = "GraphGenerateInput"  # autointerp has a GenerateInput too

    def validate(self, attrs):
        if not attrs.get("prompt") and not attrs.get("messages"):
            raise serializers.ValidationError({"prompt": "prompt or messages is required"})
        return attrs


class ModelSlugInput(serializers.Serializer):
    modelId = SafeCharField(max_length=128)
    slug = SafeCharField(max_length=200)


# Over the upload cap: 413 from the service; the schema states the cap.
@schema_extra(properties={"contentLength": {"maximum": max_upload_bytes()}})
class SignedPutInput(serializers.Serializer):
    filename = SafeCharField(max_length=300)
    contentLength = BoundedIntegerField(min_value=1)
    contentType = SafeCharField(required=False, allow_blank=True, max_length=100)


class SubgraphIdInput(serializers.Serializer):
    subgraphId = BoundedIntegerField(min_value=1, max_value=2**63 - 1, help_text="the subgraph's id")


class SaveToDbInput(serializers.Serializer):
    putRequestId = SafeCharField(max_length=2000)


class SubgraphInput(serializers.Serializer):
    modelId = SafeCharField(max_length=128)
    slug = SafeCharField(max_length=200)
    subgraphId = BoundedIntegerField(required=False, allow_null=True, min_value=1, max_value=2**63 - 1)
    displayName = SafeCharField(required=False, allow_blank=True, max_length=300)
    pinnedIds = serializers.ListField(child=SafeCharField(max_length=100), max_length=5000)
    supernodes = serializers.ListField(
        child=serializers.ListField(child=SafeCharField(max_length=10_000)), required=False, max_length=1000
    )
    clerps = serializers.ListField(
        child=serializers.ListField(child=SafeCharField(max_length=10_000)), required=False, max_length=1000
    )
    pruningThreshold = FiniteFloatField(required=False, allow_null=True, min_value=0, max_value=1)
    densityThreshold = FiniteFloatField(required=False, allow_null=True, min_value=0, max_value=1)
    featured = serializers.BooleanField(required=False, default=False)


def graph_json_url(request, graph: GraphMetadata) -> str:
    return request.build_absolute_uri(reverse("api-graph-file", args=[graph.model.name, graph.slug]))


def graph_metadata_json(request, graph: GraphMetadata) -> dict:
    return {
        "id": str(graph.pk),
        "modelId": graph.model.name,
        "slug": graph.slug,
        "promptTokens": list(graph.prompt_tokens),
        "prompt": graph.prompt,
        "titlePrefix": graph.title,
        "url": graph_json_url(request, graph),
        "sourceSetName": graph.source_set_name,
        "isFeatured": graph.is_featured,
        "visibility": graph.visibility,
        "userId": str(graph.owner_id) if graph.owner_id else None,
        "generationSettings": graph.generation_settings,
        "pruningSettings": graph.pruning_settings,
        "createdAt": graph.created_at.isoformat() if graph.created_at else None,
    }


def subgraph_json(sub) -> dict:
    return {
        "id": sub.pk,
        "displayName": sub.display_name,
        "pinnedIds": list(sub.pinned_ids),
        "supernodes": sub.supernodes,
        "clerps": sub.clerps,
        "pruningThreshold": sub.prune_threshold,
        "densityThreshold": sub.density_threshold,
        "featured": sub.pinned,
        "userId": str(sub.owner_id) if sub.owner_id else None,
        "updatedAt": sub.updated_at.isoformat() if sub.updated_at else None,
    }


@schema_extra(
    oneOf=[
        {
            "properties": {"ablate": {"enum": [True]}, "delta": {"nullable": True, "enum": [None]}},
            "required": ["ablate"],
        },
        {"properties": {"ablate": {"enum": [False]}, "delta": {"type": "number"}}, "required": ["delta"]},
    ]
)
class SteerFeatureInput(serializers.Serializer):
    layer = BoundedIntegerField(min_value=0)
    index = BoundedIntegerField(min_value=0)
    token_active_position = BoundedIntegerField(min_value=0)
    steer_position = BoundedIntegerField(min_value=0, required=False, allow_null=True, default=None)
    steer_generated_tokens = serializers.BooleanField(required=False, default=False)
    delta = FiniteFloatField(required=False, allow_null=True, default=None)
    ablate = serializers.BooleanField(required=False, default=False)

    def validate(self, attrs):
        if attrs["ablate"] and attrs["delta"] is not None:
            raise serializers.ValidationError({"delta": "When ablate is True, delta must be None"})
        if not attrs["ablate"] and attrs["delta"] is None:
            raise serializers.ValidationError({"delta": "When ablate is False, delta must be provided"})
        return attrs


@schema_extra(properties={"features": {"minItems": 1}})
class SteerLogitsInput(serializers.Serializer):
    modelId = SafeCharField(max_length=128)
    sourceSetName = SafeCharField(required=False, allow_blank=True, allow_null=True, max_length=128)
    prompt = SafeCharField(max_length=10_000, trim_whitespace=False)
    features = SteerFeatureInput(many=True, allow_empty=False)
    nTokens = BoundedIntegerField(min_value=1, max_value=256, required=False, default=10)
    topK = BoundedIntegerField(min_value=0, max_value=10, required=False, default=5)
    freezeAttention = serializers.BooleanField(required=False, default=True)
    temperature = FiniteFloatField(min_value=0, max_value=2, required=False, default=0)
    freqPenalty = FiniteFloatField(min_value=-2, max_value=2, required=False, default=0)
    seed = BoundedIntegerField(required=False, default=16)
