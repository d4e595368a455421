from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.decorators import api_view, permission_classes
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from features import selectors, services
from features.api import openapi_bodies as body
from features.api.conditional import conditional_json
from features.api.serializers import comment_json
from features.api.social import FeatureRef
from neuronsite.fields_api import INT64_MAX, BoundedIntegerField, SafeCharField
from neuronsite.openapi import INDEX_PATTERN, MESSAGE, NAME_PATTERN, ok, path_params


@extend_schema(
    parameters=path_params(model_id=NAME_PATTERN, source=NAME_PATTERN, index=INDEX_PATTERN),
    responses=ok(body.FEATURE),
    summary="A feature with its statistics, top activations, explanations, lists and comments",
)
@api_view(["GET"])
def feature_get(request, model_id: str, source: str, index: str):
    from features.selectors_fast import feature_api_body

    body = feature_api_body(model_name=model_id, source_name=source, index=index, user=request.user)
    return conditional_json(request, body)


class CommentNewInput(FeatureRef):
    text = SafeCharField(max_length=10_000, error_messages={"blank": "must not be empty"})


class CommentDeleteInput(serializers.Serializer):
    commentId = BoundedIntegerField(min_value=1, max_value=INT64_MAX)


@extend_schema(request=CommentNewInput, responses=ok(body.COMMENT), summary="Comment on a feature")
@api_view(["POST"])
@permission_classes([IsAuthenticated])
def comment_new(request):
    data = CommentNewInput(data=request.data)
    data.is_valid(raise_exception=True)
    v = data.validated_data
    feature = selectors.feature_ref_get(
        model_name=v["modelId"], source_name=v["layer"], index=v["index"], user=request.user
    )
    comment = services.comment_create(user=request.user, feature=feature, text=v["text"])
    comment.user = request.user
    return Response(comment_json(comment, feature))


@extend_schema(request=CommentDeleteInput, responses=ok(MESSAGE), summary="Delete one of your comments")
@api_view(["POST"])
@permission_classes([IsAuthenticated])
def comment_delete(request):
    data = CommentDeleteInput(data=request.data)
    data.is_valid(raise_exception=True)
    services.comment_delete(user=request.user, comment_id=data.validated_data["commentId"])
    return Response({"message": "Comment deleted."})
