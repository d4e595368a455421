import functools

from django.utils.cache import patch_vary_headers
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
from neuronsite.errors import ApplicationError
from neuronsite.fields_api import INT64_MAX, BoundedIntegerField, SafeCharField
from neuronsite.openapi import INDEX_PATTERN, MESSAGE, NAME_PATTERN, ok, path_params


@extend_schema(
    parameters=path_params(model_id=NAME_PATTERN, source=NAME_PATTERN, index=INDEX_PATTERN),
    responses=ok(body.FEATURE),
    summary="A feature with its statistics, top activations, explanations, lists and comments",
)
@api_view(["GET"])
def feature_get_drf(request, model_id: str, source: str, index: str):
    from features.selectors_fast import feature_api_body

    body = feature_api_body(model_name=model_id, source_name=source, index=index, user=request.user)
    return conditional_json(request, body)


# The feature API's common request (a GET with no API key, JSON or anything accepted, a found
# feature) served without DRF's request wrapping, negotiation, authentication, permission and
# throttle passes (~0.24 ms of the view's ~1.5 ms of CPU; this endpoint is half the load
# benchmark's requests). Everything else (HEAD, OPTIONS, other methods, an x-api-key header,
# an Accept or ?format= that negotiation could answer otherwise, every error) goes to the DRF view
# above, so its answers are DRF's by construction; on this path the answer is the same bytes and
# headers (features/tests/test_feature_api_fast.py compares the two). The URL's callback carries
# the DRF view's ``cls`` and ``initkwargs``, so the OpenAPI schema is the DRF view's.
_FAST_ACCEPT = frozenset({"", "*/*", "application/json"})
_drf_headers: list = []


def _drf_response_headers(request) -> dict:
    """The headers DRF's ``finalize_response`` adds to this view's responses (``Allow``; ``Vary:
    Accept`` with more than one renderer)."""
    if not _drf_headers:
        view = feature_get_drf.cls(**feature_get_drf.initkwargs)
        view.setup(request)
        _drf_headers.append(view.default_response_headers)
    return _drf_headers[0]


@functools.wraps(feature_get_drf)
def feature_get(request, model_id: str, source: str, index: str):
    meta = request.META
    if (
        request.method != "GET"
        or "HTTP_X_API_KEY" in meta
        or meta.get("HTTP_ACCEPT", "").strip() not in _FAST_ACCEPT
        or "format" in request.GET
    ):
        return feature_get_drf(request, model_id, source, index)
    user = request.user  # SessionAuthentication's user: the session's, if active
    if user.is_authenticated and not user.is_active:
        return feature_get_drf(request, model_id, source, index)
    from features.selectors_fast import feature_api_body

    try:
        body = feature_api_body(model_name=model_id, source_name=source, index=index, user=user)
    except ApplicationError:  # DRF's view answers it (the same lookup, then its error JSON)
        return feature_get_drf(request, model_id, source, index)
    response = conditional_json(request, body)
    headers = dict(_drf_response_headers(request))
    vary = headers.pop("Vary", None)
    if vary is not None:
        patch_vary_headers(response, [v.strip() for v in vary.split(",")])
    for key, value in headers.items():
        response[key] = value
    return response


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
