"""Neuronpedia's upload APIs: feature and activation batches, steering vectors."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.decorators import api_view, permission_classes
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from features.importers import uploads


class FeatureUploadInput(serializers.Serializer):
    modelId = serializers.CharField(max_length=128)
    source = serializers.CharField(max_length=160, help_text='source id, e.g. "0-my-saes"')
    features = serializers.JSONField(
        help_text="up to 128 of {index, density, activations: [{tokens, values, quantileMax, quantileMin, "
        "quantileFraction}], explanations: [{text, methodName, modelName}], topLogits, bottomLogits}"
    )


class ActivationUploadInput(serializers.Serializer):
    modelId = serializers.CharField(max_length=128)
    source = serializers.CharField(max_length=160)
    index = serializers.JSONField()
    activations = serializers.JSONField(help_text="[{tokens, values}]")


class VectorNewInput(serializers.Serializer):
    modelId = serializers.CharField(max_length=128)
    layerNumber = serializers.JSONField()
    hookType = serializers.CharField(max_length=40)
    vector = serializers.JSONField()
    vectorLabel = serializers.CharField(max_length=300, allow_blank=True)
    vectorDefaultSteerStrength = serializers.JSONField(required=False, allow_null=True)


class VectorRefInput(serializers.Serializer):
    modelId = serializers.CharField(max_length=128)
    source = serializers.CharField(max_length=160)
    index = serializers.JSONField()


_RAW_FIELDS = ("features", "activations", "vector", "vectorDefaultSteerStrength", "index", "layerNumber")


def _valid(serializer_class, request) -> dict:
    """Check the request shape; the payload fields are then taken as sent (DRF's strict JSONField
    would answer "must be valid JSON" to an infinity, where the writer names feature and field)."""
    fields = serializer_class().fields
    data = serializer_class(
        data={k: v for k, v in request.data.items() if k not in _RAW_FIELDS or k not in fields}
    )
    for name in _RAW_FIELDS:
        if name in fields and fields[name].required and name not in request.data:
            raise ValidationError({name: "This field is required."})
    for name in _RAW_FIELDS:
        if name in fields:
            data.fields[name].required = False
    data.is_valid(raise_exception=True)
    out = dict(data.validated_data)
    for name in _RAW_FIELDS:
        if name in fields and name in request.data:
            out[name] = request.data[name]
    return out


@extend_schema(request=FeatureUploadInput, summary="Upload up to 128 features into a source set you own")
@api_view(["POST"])
@permission_classes([IsAuthenticated])
def feature_upload_batch(request):
    v = _valid(FeatureUploadInput, request)
    result = uploads.features_upload(
        user=request.user, model_id=v["modelId"], source_name=v["source"], features=v["features"]
    )
    return Response(
        {
            "message": "Already uploaded: nothing changed." if result.skipped else "Features uploaded.",
            "features": result.features,
            "activations": result.activations,
            "skipped": result.skipped,
        }
    )


@extend_schema(
    request=ActivationUploadInput, summary="Upload activation snippets to a feature or vector you own"
)
@api_view(["POST"])
@permission_classes([IsAuthenticated])
def activation_upload_batch(request):
    v = _valid(ActivationUploadInput, request)
    count = uploads.activations_upload(
        user=request.user,
        model_id=v["modelId"],
        source_name=v["source"],
        index=v["index"],
        activations=v["activations"],
    )
    return Response({"message": "Activations uploaded.", "activations": count})


@extend_schema(request=VectorNewInput, summary="Create a steering vector")
@api_view(["POST"])
@permission_classes([IsAuthenticated])
def vector_new(request):
    v = _valid(VectorNewInput, request)
    feature = uploads.vector_create(
        user=request.user,
        model_id=v["modelId"],
        layer_number=v["layerNumber"],
        hook_type=v["hookType"],
        vector=v["vector"],
        label=v["vectorLabel"],
        default_steer_strength=v.get("vectorDefaultSteerStrength"),
    )
    body = uploads.vector_json(feature)
    url = request.build_absolute_uri(f"/{body['modelId']}/{body['source']}/{body['index']}")
    return Response({"message": "Vector created.", "vector": body, "url": url})


@extend_schema(request=VectorRefInput, summary="One steering vector")
@api_view(["POST"])
def vector_get(request):
    v = _valid(VectorRefInput, request)
    feature = uploads.vector_get(
        user=request.user, model_id=v["modelId"], source_name=v["source"], index=v["index"]
    )
    return Response({"vector": uploads.vector_json(feature)})


@extend_schema(summary="Your steering vectors")
@api_view(["POST"])
@permission_classes([IsAuthenticated])
def vector_list_owned(request):
    return Response({"vectors": [uploads.vector_json(f) for f in uploads.vectors_owned(user=request.user)]})


@extend_schema(request=VectorRefInput, summary="Delete one of your steering vectors")
@api_view(["POST"])
@permission_classes([IsAuthenticated])
def vector_delete(request):
    v = _valid(VectorRefInput, request)
    uploads.vector_delete(user=request.user, model_id=v["modelId"], source_name=v["source"], index=v["index"])
    return Response({"message": "Vector deleted."})
