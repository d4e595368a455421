"""POST /api/model/new and /api/source-set/new (Neuronpedia's request shapes)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.decorators import api_view, permission_classes
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from features.api import openapi_bodies as body
from features.api.serializers import model_json
from models_app import services
from models_app.api.serializers import source_set_json
from models_app.models import Model, SourceSet
from neuronsite.fields_api import BoundedIntegerField, SafeCharField, column_max_length, url_field
from neuronsite.openapi import ok


class ModelNewInput(serializers.Serializer):
    id = SafeCharField(
        max_length=column_max_length(Model, "name"),
        pattern=services.MODEL_ID_RE.pattern,
        pattern_message="use letters, digits, '.', '_' or '-' (starting with a letter or digit)",
    )
    layers = BoundedIntegerField(min_value=0, max_value=10_000)
    displayName = SafeCharField(
        max_length=column_max_length(Model, "display_name"), required=False, allow_null=True, allow_blank=True
    )
    url = url_field(
        max_length=column_max_length(Model, "website"), required=False, allow_null=True, allow_blank=True
    )
    dimension = BoundedIntegerField(required=False, allow_null=True, min_value=1, max_value=1_000_000)


class SourceSetNewInput(serializers.Serializer):
    name = SafeCharField(
        max_length=column_max_length(SourceSet, "name"),
        pattern=services.SET_NAME_RE.pattern,
        pattern_message="use letters, digits, '.', '_' or '-' (starting with a letter or digit)",
    )
    modelId = SafeCharField(max_length=column_max_length(Model, "name"))
    description = SafeCharField(max_length=10_000, required=False, allow_null=True, allow_blank=True)
    url = url_field(max_length=2000, required=False, allow_null=True, allow_blank=True)


@extend_schema(request=ModelNewInput, responses=ok(body.MODEL), summary="Create a model (unlisted)")
@api_view(["POST"])
@permission_classes([IsAuthenticated])
def model_new(request):
    data = ModelNewInput(data=request.data)
    data.is_valid(raise_exception=True)
    v = data.validated_data
    model = services.model_create(
        name=v["id"],
        layers=v["layers"],
        owner=request.user,
        display_name=v.get("displayName") or "",
        website=v.get("url") or "",
        d_model=v.get("dimension"),
    )
    return Response(model_json(model))


@extend_schema(
    request=SourceSetNewInput,
    responses=ok(body.SOURCE_SET),
    summary="Create a source set (one source per layer of its model)",
)
@api_view(["POST"])
@permission_classes([IsAuthenticated])
def source_set_new(request):
    data = SourceSetNewInput(data=request.data)
    data.is_valid(raise_exception=True)
    v = data.validated_data
    source_set = services.source_set_create_by_user(
        user=request.user,
        model_id=v["modelId"],
        name=v["name"],
        description=v.get("description") or "",
        urls=[v["url"]] if v.get("url") else [],
    )
    return Response(source_set_json(source_set, sources=list(source_set.sources.order_by("layer"))))
