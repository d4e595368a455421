"""Neuronpedia's upload APIs: feature and activation batches, steering vectors."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.decorators import api_view, permission_classes
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from features.api import openapi_bodies as body
from features.importers import uploads
from features.models import ExplainerModel, ExplanationType, Feature
from models_app.models import Model, Source
from neuronsite.fields_api import (
    BoundedIntegerField,
    FeatureIndexField,
    FiniteFloatField,
    FloatListField,
    SafeCharField,
    column_max_length,
    validated_data,
)
from neuronsite.openapi import MESSAGE, STR, array, obj, ok

TOKEN_MAX = 1000  # one token's text
SNIPPET_MAX_TOKENS = 4096
MODEL_ID = column_max_length(Model, "name")
SOURCE_ID = column_max_length(Source, "name")


def _token() -> SafeCharField:
    return SafeCharField(max_length=TOKEN_MAX, allow_blank=True, trim_whitespace=False)


class LogitIn(serializers.Serializer):
    token = _token()
    value = FiniteFloatField()


class SnippetIn(serializers.Serializer):
    tokens = serializers.ListField(child=_token(), min_length=1, max_length=SNIPPET_MAX_TOKENS)
    values = FloatListField(
        min_length=1,
        max_length=SNIPPET_MAX_TOKENS,
        help_text="one activation per token: exactly as many entries as tokens",
    )

    def validate(self, attrs):
        if len(attrs["tokens"]) != len(attrs["values"]):
            raise serializers.ValidationError(
                {"values": f"has {len(attrs['values'])} values for {len(attrs['tokens'])} tokens"}
            )
        return attrs


class UploadSnippetIn(SnippetIn):
    quantileMax = FiniteFloatField(required=False, allow_null=True)
    quantileMin = FiniteFloatField(required=False, allow_null=True)
    quantileFraction = FiniteFloatField(required=False, allow_null=True)


class ExplanationIn(serializers.Serializer):
    text = SafeCharField(max_length=10_000)
    methodName = SafeCharField(
        max_length=column_max_length(ExplanationType, "name"),
        required=False,
        allow_blank=True,
        allow_null=True,
    )
    modelName = SafeCharField(
        max_length=column_max_length(ExplainerModel, "name"),
        required=False,
        allow_blank=True,
        allow_null=True,
    )


class FeatureIn(serializers.Serializer):
    index = FeatureIndexField()
    density = FiniteFloatField(required=False, allow_null=True, min_value=0, max_value=1)
    activations = serializers.ListField(
        child=UploadSnippetIn(), required=False, max_length=uploads.MAX_ACTIVATIONS_PER_UPLOAD
    )
    explanations = serializers.ListField(child=ExplanationIn(), required=False, max_length=100)
    topLogits = serializers.ListField(child=LogitIn(), required=False, max_length=1000)
    bottomLogits = serializers.ListField(child=LogitIn(), required=False, max_length=1000)


class FeatureUploadInput(serializers.Serializer):
    modelId = SafeCharField(max_length=MODEL_ID)
    source = SafeCharField(max_length=SOURCE_ID, help_text='source id, e.g. "0-my-saes"')
    features = serializers.ListField(
        child=FeatureIn(), min_length=1, max_length=uploads.MAX_FEATURES_PER_UPLOAD
    )


class ActivationUploadInput(serializers.Serializer):
    modelId = SafeCharField(max_length=MODEL_ID)
    source = SafeCharField(max_length=SOURCE_ID)
    index = FeatureIndexField()
    activations = serializers.ListField(
        child=SnippetIn(), min_length=1, max_length=uploads.MAX_ACTIVATIONS_PER_UPLOAD
    )


class VectorNewInput(serializers.Serializer):
    modelId = SafeCharField(max_length=MODEL_ID)
    layerNumber = BoundedIntegerField(min_value=0, max_value=10_000)
    hookType = serializers.ChoiceField(choices=sorted(uploads.VECTOR_HOOK_TYPES))
    vector = FloatListField(min_length=1, max_length=65_536)
    vectorLabel = SafeCharField(max_length=column_max_length(Feature, "vector_label"))
    vectorDefaultSteerStrength = FiniteFloatField(
        required=False, allow_null=True, min_value=-1_000_000, max_value=1_000_000
    )


class VectorRefInput(serializers.Serializer):
    modelId = SafeCharField(max_length=MODEL_ID)
    source = SafeCharField(max_length=SOURCE_ID)
    index = FeatureIndexField()


def _valid(serializer_class, request) -> dict:
    """The body checked field by field (400 naming the path, e.g. ``features[1].activations[0].values``);
    nested payloads come back as plain dicts and lists for the upload services."""
    return _plain(validated_data(serializer_class, request.data))


def _plain(value):
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


@extend_schema(
    request=FeatureUploadInput,
    responses=ok(body.FEATURE_UPLOAD),
    summary="Upload up to 128 features into a source set you own",
)
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
    request=ActivationUploadInput,
    responses=ok(body.ACTIVATION_UPLOAD),
    summary="Upload activation snippets to a feature or vector you own",
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


@extend_schema(
    request=VectorNewInput,
    responses=ok(obj(("message", "vector"), message=STR, vector=body.VECTOR, url=STR)),
    summary="Create a steering vector",
)
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


@extend_schema(
    request=VectorRefInput, responses=ok(obj(("vector",), vector=body.VECTOR)), summary="One steering vector"
)
@api_view(["POST"])
def vector_get(request):
    v = _valid(VectorRefInput, request)
    feature = uploads.vector_get(
        user=request.user, model_id=v["modelId"], source_name=v["source"], index=v["index"]
    )
    return Response({"vector": uploads.vector_json(feature)})


@extend_schema(
    request=None, responses=ok(obj(("vectors",), vectors=array(body.VECTOR))), summary="Your steering vectors"
)
@api_view(["POST"])
@permission_classes([IsAuthenticated])
def vector_list_owned(request):
    return Response({"vectors": [uploads.vector_json(f) for f in uploads.vectors_owned(user=request.user)]})


@extend_schema(request=VectorRefInput, responses=ok(MESSAGE), summary="Delete one of your steering vectors")
@api_view(["POST"])
@permission_classes([IsAuthenticated])
def vector_delete(request):
    v = _valid(VectorRefInput, request)
    uploads.vector_delete(user=request.user, model_id=v["modelId"], source_name=v["source"], index=v["index"])
    return Response({"message": "Vector deleted."})
