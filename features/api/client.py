"""Endpoints of Neuronpedia's documented API that the feature API lacked (issue 11):
``POST /api/features`` (batch get), ``/api/activation/get``, ``GET /api/explanation/{id}``,
``/api/explanation/export`` (JSONL stream), ``POST /api/list/comment/new`` and
``/api/user/bookmarks``. Shapes follow Neuronpedia's; extra fields are additive."""

from __future__ import annotations

import json
from itertools import islice

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.decorators import api_view, permission_classes
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from features import client_selectors, selectors, services
from features.api.openapi_bodies import ACTIVATION, BOOKMARK, EXPLANATION, FEATURE
from features.api.serializers import _iso, activation_json, explanation_json, feature_json
from neuronsite.api import validated
from neuronsite.errors import ValidationFailed
from neuronsite.fields_api import NOT_BLANK, BoundedIntegerField, SafeCharField, SchemaPattern
from neuronsite.openapi import ID_PATTERN, INT_N, STR, STR_N, array, obj, ok, path_params, schema_extra

MAX_INDEX = 2**31 - 1


class BatchFeatureRef(serializers.Serializer):
    modelId = SafeCharField(max_length=128)
    layer = SafeCharField(max_length=160, help_text='source id, e.g. "6-res-jb"')
    index = BoundedIntegerField(min_value=0, max_value=MAX_INDEX, help_text="feature index")
    maxActsToReturn = BoundedIntegerField(required=False, min_value=0, max_value=10_000)


class FeaturesBatchInput(serializers.Serializer):
    features = BatchFeatureRef(many=True, max_length=client_selectors.MAX_BATCH_FEATURES)


@extend_schema(
    request={
        "application/json": {
            "type": "array",
            "minItems": 1,
            "maxItems": client_selectors.MAX_BATCH_FEATURES,
            "items": {
                "type": "object",
                "required": ["modelId", "layer", "index"],
                "properties": {
                    "modelId": {
                        "type": "string",
                        "minLength": 1,
                        "maxLength": 128,
                        "pattern": NOT_BLANK,
                    },
                    "layer": {
                        "type": "string",
                        "minLength": 1,
                        "maxLength": 160,
                        "pattern": NOT_BLANK,
                    },
                    "index": {"type": "integer", "minimum": 0, "maximum": MAX_INDEX},
                    "maxActsToReturn": {"type": "integer", "minimum": 0, "maximum": 10_000},
                },
            },
        }
    },
    responses=ok(array(FEATURE), "the features found (as GET /api/feature/... answers each)"),
    summary="Several features at once (a JSON array of {modelId, layer, index}); unknown ones are left out",
)
@api_view(["POST"])
def features_batch(request):
    body = request.data
    # Neuronpedia's body is a bare array; an object {"features": [...]} is accepted too.
    if isinstance(body, list):
        body = {"features": body}
    elif not isinstance(body, dict):
        raise ValidationFailed({"features": "the body must be a JSON array of {modelId, layer, index}"})
    data = FeaturesBatchInput(data=body)
    data.is_valid(raise_exception=True)
    items = data.validated_data["features"]
    max_acts = next((f["maxActsToReturn"] for f in items if "maxActsToReturn" in f), None)
    features = client_selectors.features_batch_get(
        refs=[(f["modelId"], f["layer"], f["index"]) for f in items],
        user=request.user,
        max_activations=max_acts,
    )
    return Response([feature_json(f) for f in features])


# Neuronpedia sends this body as a bare JSON array (the JSON parser accepts arrays only where a view
# says so).
features_batch.cls.json_array_body = True


@schema_extra(anyOf=[{"required": ["source"]}, {"required": ["layer"]}])
class ActivationGetInput(serializers.Serializer):
    modelId = SafeCharField(max_length=128)
    source = SafeCharField(max_length=160, required=False)
    layer = SafeCharField(max_length=160, required=False)
    index = BoundedIntegerField(min_value=0, max_value=MAX_INDEX, help_text="feature index")

    def validate(self, attrs):
        attrs["source"] = attrs.get("source") or attrs.get("layer")
        if not attrs["source"]:
            raise serializers.ValidationError({"source": "give the source id in 'source' (or 'layer')"})
        return attrs


@extend_schema(
    methods=["GET"],
    parameters=[
        OpenApiParameter(
            "modelId", {"type": "string", "maxLength": 128, "pattern": NOT_BLANK}, required=True
        ),
        OpenApiParameter(
            "source",
            {"type": "string", "maxLength": 160, "pattern": NOT_BLANK},
            required=True,
            description='source id, e.g. "6-res-jb" (or send it as "layer")',
        ),
        OpenApiParameter("index", {"type": "integer", "minimum": 0, "maximum": MAX_INDEX}, required=True),
    ],
    responses=ok(array(ACTIVATION)),
    summary="A feature's stored top activations, strongest first",
)
@extend_schema(
    methods=["POST"],
    request=ActivationGetInput,
    responses=ok(array(ACTIVATION)),
    summary="A feature's stored top activations, strongest first (give source or layer)",
)
@api_view(["GET", "POST"])
def activation_get(request):
    source = request.query_params if request.method == "GET" else request.data
    data = ActivationGetInput(data=source)
    data.is_valid(raise_exception=True)
    v = data.validated_data
    feature, activations = client_selectors.feature_activations_get(
        model_name=v["modelId"], source_name=v["source"], index=v["index"], user=request.user
    )
    return Response([activation_json(a, feature) for a in activations])


@extend_schema(
    summary="One explanation by id, with its scores",
    parameters=path_params(explanation_id=ID_PATTERN),
    responses=ok(EXPLANATION),
)
@api_view(["GET"])
def explanation_get(request, explanation_id: str):
    explanation = client_selectors.explanation_get(explanation_id=explanation_id, user=request.user)
    return Response(explanation_json(explanation, explanation.feature))


def export_line(explanation) -> str:
    body = explanation_json(explanation, explanation.feature)
    body.pop("voted", None)
    body.pop("votes", None)
    return json.dumps(body, separators=(",", ":")) + "\n"


async def _async_chunks(lines, size: int = client_selectors.EXPORT_CHUNK // 4):
    take = sync_to_async(lambda: "".join(islice(lines, size)), thread_sensitive=True)
    while chunk := await take():
        yield chunk


class ExportInput(serializers.Serializer):
    modelId = SafeCharField(max_length=128)
    source = SafeCharField(max_length=160, required=False, allow_blank=True, default="")
    layer = SafeCharField(max_length=160, required=False, allow_blank=True, default="")


@extend_schema(
    request=ExportInput,
    parameters=[
        OpenApiParameter(
            "modelId",
            {"type": "string", "minLength": 1, "maxLength": 128, "pattern": NOT_BLANK},
            required=True,
        ),
        OpenApiParameter(
            "source",
            {"type": "string", "maxLength": 160, "pattern": "^[^\\x00]*$"},
            required=False,
            description="one source; all if left out",
        ),
    ],
    responses={(200, "application/x-ndjson"): OpenApiTypes.STR},
    summary="Stream every explanation of a model (or one source) with its scores as JSON lines",
)
@api_view(["GET", "POST"])
def explanation_export(request):
    data = ExportInput(data=request.query_params if request.method == "GET" else request.data)
    data.is_valid(raise_exception=True)
    v = data.validated_data
    model, source = client_selectors.explanations_export_scope(
        model_name=v["modelId"], source_name=v["source"] or v["layer"] or None, user=request.user
    )
    rows = client_selectors.explanations_export_iter(model=model, source=source, user=request.user)
    lines = (export_line(e) for e in rows)
    # Under ASGI Django would read a sync iterator to the end before sending a byte: hand it an
    # async one that pulls a chunk of rows at a time on the sync thread (the database's thread).
    content = _async_chunks(lines) if isinstance(request._request, ASGIRequest) else lines
    response = StreamingHttpResponse(content, content_type="application/x-ndjson")
    name = f"{model.name}-{source.name}" if source else model.name
    response["Content-Disposition"] = f'attachment; filename="explanations-{name}.jsonl"'
    return response


class ListCommentInput(serializers.Serializer):
    listId = serializers.CharField(max_length=32, validators=[SchemaPattern(r"^[0-9]{1,18}$")])
    text = SafeCharField(max_length=10_000)


@extend_schema(
    request=ListCommentInput,
    responses=ok(
        obj(("id", "listId", "text", "userId"), id=STR, listId=STR, text=STR, userId=INT_N, createdAt=STR_N)
    ),
    summary="Comment on a list",
)
@api_view(["POST"])
@permission_classes([IsAuthenticated])
def list_comment_new(request):
    v = validated(ListCommentInput, request)
    lst = selectors.list_get(list_id=v["listId"], user=request.user)
    comment = services.list_comment_create(user=request.user, lst=lst, text=v["text"])
    return Response(
        {
            "id": str(comment.pk),
            "listId": str(lst.pk),
            "text": comment.text,
            "userId": request.user.pk,
            "user": {"name": request.user.username},
            "createdAt": _iso(comment.created_at),
        }
    )


@extend_schema(summary="Your bookmarked features, newest first", request=None, responses=ok(array(BOOKMARK)))
@api_view(["GET", "POST"])
@permission_classes([IsAuthenticated])
def user_bookmarks(request):
    return Response(
        [
            {
                "modelId": b.feature.source.model.name,
                "layer": b.feature.source.name,
                "index": str(b.feature.index),
                "userId": b.user_id,
                "createdAt": _iso(b.created_at),
                "topExplanation": b.top_explanation,
            }
            for b in client_selectors.bookmarks_of_user(user=request.user)
        ]
    )


__all__ = [
    "activation_get",
    "explanation_export",
    "explanation_get",
    "features_batch",
    "list_comment_new",
    "user_bookmarks",
]
