from drf_spectacular.utils import extend_schema
from rest_framework.decorators import api_view
from rest_framework.response import Response

from features.api import openapi_bodies as body
from models_app import selectors
from models_app.api.serializers import ModelGetInput, model_with_sets_json, source_set_json
from neuronsite.openapi import NAME_PATTERN, array, ok, path_params


@extend_schema(
    request=None,
    responses=ok(array(body.MODEL_WITH_SETS)),
    summary="List models you can see, with their source sets",
)
@api_view(["POST", "GET"])
def model_list(request):
    models = selectors.models_with_source_sets(user=request.user)
    return Response([model_with_sets_json(m) for m in models])


@extend_schema(
    request=ModelGetInput, responses=ok(body.MODEL_WITH_SETS), summary="One model with its source sets"
)
@api_view(["POST"])
def model_get(request):
    data = ModelGetInput(data=request.data)
    data.is_valid(raise_exception=True)
    model = selectors.model_get(name=data.validated_data["modelId"], user=request.user, with_source_sets=True)
    return Response(model_with_sets_json(model))


@extend_schema(
    parameters=path_params(model_id=NAME_PATTERN, name=NAME_PATTERN),
    responses=ok(body.SOURCE_SET),
    summary="One source set (SAE set) with its sources",
)
@api_view(["GET"])
def source_set_get(request, model_id: str, name: str):
    source_set = selectors.source_set_get(model_name=model_id, name=name, user=request.user)
    return Response(source_set_json(source_set, sources=list(source_set.sources.all())))
