"""Input serializers and output builders for the graph API (Neuronpedia's shapes)."""

from __future__ import annotations

from django.urls import reverse
from rest_framework import serializers

from graphs.models import GraphMetadata


class MessageInput(serializers.Serializer):
    role = serializers.ChoiceField(choices=["system", "user", "assistant"])
    content = serializers.CharField(allow_blank=True, max_length=10_000)


class GenerateInput(serializers.Serializer):
    modelId = serializers.CharField(max_length=128)
    prompt = serializers.CharField(required=False, allow_blank=False, trim_whitespace=False)
    messages = MessageInput(many=True, required=False)
    sourceSetName = serializers.CharField(required=False, allow_blank=True, allow_null=True, max_length=128)
    slug = serializers.CharField(required=False, allow_blank=True, allow_null=True, max_length=200)
    maxNLogits = serializers.IntegerField(required=False, allow_null=True)
    desiredLogitProb = serializers.FloatField(required=False, allow_null=True)
    nodeThreshold = serializers.FloatField(required=False, allow_null=True)
    edgeThreshold = serializers.FloatField(required=False, allow_null=True)
    maxFeatureNodes = serializers.IntegerField(required=False, allow_null=True)

    def validate(self, attrs):
        if not attrs.get("prompt") and not attrs.get("messages"):
            raise serializers.ValidationError({"prompt": "prompt or messages is required"})
        return attrs


class ModelSlugInput(serializers.Serializer):
    modelId = serializers.CharField(max_length=128)
    slug = serializers.CharField(max_length=200)


class SignedPutInput(serializers.Serializer):
    filename = serializers.CharField(max_length=300)
    contentLength = serializers.IntegerField(min_value=1)
    contentType = serializers.CharField(required=False, allow_blank=True, max_length=100)


class SaveToDbInput(serializers.Serializer):
    putRequestId = serializers.CharField(max_length=2000)


class SubgraphInput(serializers.Serializer):
    modelId = serializers.CharField(max_length=128)
    slug = serializers.CharField(max_length=200)
    subgraphId = serializers.IntegerField(required=False, allow_null=True)
    displayName = serializers.CharField(required=False, allow_blank=True, max_length=300)
    pinnedIds = serializers.ListField(child=serializers.CharField(max_length=100), max_length=5000)
    supernodes = serializers.ListField(
        child=serializers.ListField(child=serializers.CharField()), required=False
    )
    clerps = serializers.ListField(child=serializers.ListField(child=serializers.CharField()), required=False)
    pruningThreshold = serializers.FloatField(required=False, allow_null=True, min_value=0, max_value=1)
    densityThreshold = serializers.FloatField(required=False, allow_null=True, min_value=0, max_value=1)
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


class SteerFeatureInput(serializers.Serializer):
    layer = serializers.IntegerField(min_value=0)
    index = serializers.IntegerField(min_value=0)
    token_active_position = serializers.IntegerField(min_value=0)
    steer_position = serializers.IntegerField(min_value=0, required=False, allow_null=True, default=None)
    steer_generated_tokens = serializers.BooleanField(required=False, default=False)
    delta = serializers.FloatField(required=False, allow_null=True, default=None)
    ablate = serializers.BooleanField(required=False, default=False)


class SteerLogitsInput(serializers.Serializer):
    modelId = serializers.CharField(max_length=128)
    sourceSetName = serializers.CharField(required=False, allow_blank=True, allow_null=True, max_length=128)
    prompt = serializers.CharField(max_length=10_000, trim_whitespace=False)
    features = SteerFeatureInput(many=True, allow_empty=False)
    nTokens = serializers.IntegerField(min_value=1, max_value=256, required=False, default=10)
    topK = serializers.IntegerField(min_value=0, max_value=10, required=False, default=5)
    freezeAttention = serializers.BooleanField(required=False, default=True)
    temperature = serializers.FloatField(min_value=0, max_value=2, required=False, default=0)
    freqPenalty = serializers.FloatField(min_value=-2, max_value=2, required=False, default=0)
    seed = serializers.IntegerField(required=False, default=16)
