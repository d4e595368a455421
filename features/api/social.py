"""Neuronpedia's list, vote, bookmark and explanation-search APIs.

Request and response shapes follow Neuronpedia's webapp (``/api/list/*``,
``/api/explanation/{id}/vote|unvote|delete``, ``/api/bookmark/add|delete``,
``/api/explanation/search*``) so its clients, including the ``neuronpedia`` package, work as-is.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.decorators import api_view, permission_classes
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from features import selectors, services
from features.api import openapi_bodies as body
from features.api.serializers import _iso, explanation_json, list_json, search_neuron_json
from features.models import List
from models_app.models import Model, Source, SourceRelease
from neuronsite.api import validated
from neuronsite.errors import NotFound
from neuronsite.fields import Visibility
from neuronsite.fields_api import (
    INT64_MAX,
    WHITESPACE,
    BoundedIntegerField,
    FeatureIndexField,
    SafeCharField,
    ascii_index,
    column_max_length,
)
from neuronsite.openapi import ID_PATTERN, MESSAGE, array, ok, path_params

SEARCH_PAGE_SIZE = 20


MODEL_ID = column_max_length(Model, "name")
SOURCE_ID = column_max_length(Source, "name")
TEXT_MAX = 10_000
MAX_SEARCH_OFFSET = 100_000
VISIBILITY_CHOICES = [*Visibility.values, *(v.lower() for v in Visibility.values)]


class FeatureKey(serializers.Serializer):
    """A feature named by (modelId, layer = source id, index)."""

    modelId = SafeCharField(max_length=MODEL_ID)
    layer = SafeCharField(max_length=SOURCE_ID, help_text='source id, e.g. "6-res-jb"')
    index = FeatureIndexField()


FeatureRef = FeatureKey  # the name the views use


class FeatureToAdd(FeatureRef):
    description = SafeCharField(max_length=TEXT_MAX, required=False, allow_blank=True, default="")


class ListNewInput(serializers.Serializer):
    name = SafeCharField(
        max_length=column_max_length(List, "name"), error_messages={"blank": "must not be empty"}
    )
    description = SafeCharField(max_length=TEXT_MAX, required=False, allow_blank=True, default="")
    testText = SafeCharField(
        max_length=TEXT_MAX, required=False, allow_blank=True, allow_null=True, default=""
    )
    visibility = serializers.ChoiceField(
        choices=VISIBILITY_CHOICES, required=False, allow_null=True, default=None
    )


class ListNewWithFeaturesInput(ListNewInput):
    features = serializers.ListField(child=FeatureToAdd(), required=False, default=list, max_length=1000)


class ListIdInput(serializers.Serializer):
    listId = BoundedIntegerField(min_value=1, max_value=INT64_MAX)


class ListAddInput(ListIdInput):
    featuresToAdd = serializers.ListField(child=FeatureToAdd(), min_length=1, max_length=1000)


class ListRemoveInput(ListIdInput, FeatureRef):
    pass


class ListUpdateInput(ListIdInput):
    name = SafeCharField(
        max_length=column_max_length(List, "name"),
        required=False,
        error_messages={"blank": "must not be empty"},
    )
    description = SafeCharField(max_length=TEXT_MAX, required=False, allow_blank=True)
    testText = SafeCharField(max_length=TEXT_MAX, required=False, allow_blank=True, allow_null=True)
    visibility = serializers.ChoiceField(choices=VISIBILITY_CHOICES, required=False)


def _item_json(item, lst_id) -> dict:
    feature = item.feature
    return {
        "modelId": feature.source.model.name,
        "layer": feature.source.name,
        "index": str(feature.index),
        "description": item.note,
        "listId": str(lst_id),
        "addedAt": _iso(item.added_at),
    }


def _list_with_items_json(lst) -> dict:
    body = list_json(lst)
    body["neurons"] = [
        {**_item_json(item, lst.pk), "topExplanation": getattr(item, "top_explanation", None)}
        for item in lst.items.all()
    ]
    body["comments"] = [
        {
            "id": str(c.pk),
            "text": c.text,
            "userId": c.user_id,
            "user": {"name": c.user.username},
            "createdAt": _iso(c.created_at),
        }
        for c in lst.comments.all()
    ]
    return body


def _features_to_add(items, user) -> list:
    features = selectors.features_resolve(
        refs=[(f["modelId"], f["layer"], f["index"]) for f in items], user=user
    )
    return [(feature, f.get("description", "")) for feature, f in zip(features, items, strict=True)]


@extend_schema(request=ListNewInput, responses=ok(body.LIST), summary="Create a list")
@api_view(["POST"])
@permission_classes([IsAuthenticated])
def list_new(request):
    v = validated(ListNewInput, request)
    lst = services.list_create(
        user=request.user,
        name=v["name"],
        description=v["description"],
        test_text=v["testText"] or "",
        visibility=v["visibility"],
    )
    return Response(list_json(lst))


@extend_schema(
    request=ListNewWithFeaturesInput, responses=ok(body.LIST_FULL), summary="Create a list with features"
)
@api_view(["POST"])
@permission_classes([IsAuthenticated])
def list_new_with_features(request):
    from django.db import transaction

    v = validated(ListNewWithFeaturesInput, request)
    to_add = _features_to_add(v["features"], request.user)  # 404 before anything is written
    with transaction.atomic():
        lst = services.list_create(
            user=request.user,
            name=v["name"],
            description=v["description"],
            test_text=v["testText"] or "",
            visibility=v["visibility"],
        )
        if to_add:
            services.list_features_add(user=request.user, list_id=lst.pk, features=to_add)
    return Response(_list_with_items_json(selectors.list_get(list_id=lst.pk, user=request.user)))


@extend_schema(
    request=ListAddInput, responses=ok(array(body.LIST_ITEM)), summary="Add features to one of your lists"
)
@api_view(["POST"])
@permission_classes([IsAuthenticated])
def list_add_features(request):
    v = validated(ListAddInput, request)
    to_add = _features_to_add(v["featuresToAdd"], request.user)
    items = services.list_features_add(user=request.user, list_id=v["listId"], features=to_add)
    return Response([_item_json(item, v["listId"]) for item in items])


@extend_schema(
    request=ListRemoveInput, responses=ok(MESSAGE), summary="Remove a feature from one of your lists"
)
@api_view(["POST"])
@permission_classes([IsAuthenticated])
def list_remove(request):
    v = validated(ListRemoveInput, request)
    feature = selectors.feature_ref_get(
        model_name=v["modelId"], source_name=v["layer"], index=v["index"], user=request.user
    )
    services.list_feature_remove(user=request.user, list_id=v["listId"], feature=feature)
    return Response({"message": "Removed from the list."})


@extend_schema(
    methods=["GET"],
    parameters=[
        OpenApiParameter("listId", {"type": "integer", "minimum": 1, "maximum": INT64_MAX}, required=True)
    ],
    responses=ok(body.LIST_FULL),
    summary="A list with its features and comments",
)
@extend_schema(
    methods=["POST"],
    request=ListIdInput,
    responses=ok(body.LIST_FULL),
    summary="A list with its features and comments",
)
@api_view(["GET", "POST"])
def list_get(request):
    raw = request.data if request.method == "POST" else request.query_params
    if request.method == "GET" and raw.get("listId") and not ascii_index(raw.get("listId")):
        # A list id is a number from 1: no list has this one (a share link's id copied wrong;
        # `make fuzz` sent ``listId=00`` and counted the 400 a refused valid request).
        raise NotFound(f"List '{raw.get('listId')[:40]}' not found.", field="listId")
    data = ListIdInput(data={"listId": raw.get("listId")})
    data.is_valid(raise_exception=True)
    lst = selectors.list_get(list_id=data.validated_data["listId"], user=request.user)
    return Response(_list_with_items_json(lst))


@extend_schema(request=None, responses=ok(array(body.LIST)), summary="Your lists")
@api_view(["GET", "POST"])
@permission_classes([IsAuthenticated])
def list_list(request):
    return Response(
        [{**list_json(lst), "count": lst.n_items} for lst in selectors.lists_owned(user=request.user)]
    )


@extend_schema(request=ListUpdateInput, responses=ok(body.LIST), summary="Rename or edit one of your lists")
@api_view(["POST"])
@permission_classes([IsAuthenticated])
def list_update(request):
    v = validated(ListUpdateInput, request)
    lst = services.list_update(
        user=request.user,
        list_id=v["listId"],
        name=v.get("name"),
        description=v.get("description"),
        test_text=v.get("testText"),
        visibility=v.get("visibility"),
    )
    return Response(list_json(lst))


@extend_schema(request=ListIdInput, responses=ok(MESSAGE), summary="Delete one of your lists")
@api_view(["POST"])
@permission_classes([IsAuthenticated])
def list_delete(request):
    v = validated(ListIdInput, request)
    services.list_delete(user=request.user, list_id=v["listId"])
    return Response({"message": "List deleted."})


# --- explanations: votes, delete --------------------------------------------------------------


@extend_schema(
    request=None,
    parameters=path_params(explanation_id=ID_PATTERN),
    responses=ok(body.VOTE),
    summary="Vote for an explanation",
)
@api_view(["POST"])
@permission_classes([IsAuthenticated])
def explanation_vote(request, explanation_id: str):
    votes = services.explanation_vote(user=request.user, explanation_id=explanation_id)
    return Response({"id": str(explanation_id), "voted": True, "votes": votes})


@extend_schema(
    request=None,
    parameters=path_params(explanation_id=ID_PATTERN),
    responses=ok(body.VOTE),
    summary="Remove your vote from an explanation",
)
@api_view(["POST"])
@permission_classes([IsAuthenticated])
def explanation_unvote(request, explanation_id: str):
    votes = services.explanation_unvote(user=request.user, explanation_id=explanation_id)
    return Response({"id": str(explanation_id), "voted": False, "votes": votes})


@extend_schema(
    request=None,
    parameters=path_params(explanation_id=ID_PATTERN),
    responses=ok(MESSAGE),
    summary="Delete your explanation",
)
@api_view(["POST"])
@permission_classes([IsAuthenticated])
def explanation_delete(request, explanation_id: str):
    services.explanation_delete(user=request.user, explanation_id=explanation_id)
    return Response({"message": "Explanation deleted."})


# --- bookmarks --------------------------------------------------------------------------------


@extend_schema(request=FeatureRef, responses=ok(body.BOOKMARK), summary="Bookmark a feature")
@api_view(["POST"])
@permission_classes([IsAuthenticated])
def bookmark_add(request):
    v = validated(FeatureRef, request)
    feature = selectors.feature_ref_get(
        model_name=v["modelId"], source_name=v["layer"], index=v["index"], user=request.user
    )
    bookmark = services.bookmark_add(user=request.user, feature=feature)
    return Response(
        {
            "modelId": feature.source.model.name,
            "layer": feature.source.name,
            "index": str(feature.index),
            "userId": request.user.pk,
            "createdAt": _iso(bookmark.created_at),
        }
    )


@extend_schema(request=FeatureRef, responses=ok(MESSAGE), summary="Remove a bookmark")
@api_view(["POST"])
@permission_classes([IsAuthenticated])
def bookmark_delete(request):
    v = validated(FeatureRef, request)
    feature = selectors.feature_ref_get(
        model_name=v["modelId"], source_name=v["layer"], index=v["index"], user=request.user
    )
    services.bookmark_delete(user=request.user, feature=feature)
    return Response({"message": "Bookmark deleted."})


# --- explanation search (plain text) ----------------------------------------------------------


_CHAR = f"[^{WHITESPACE}\\x00]"  # one character str.strip() keeps


class SearchInput(serializers.Serializer):
    query = SafeCharField(
        max_length=1000,
        schema_pattern=f"^[^\\x00]*{_CHAR}[^\\x00]*{_CHAR}[^\\x00]*{_CHAR}[^\\x00]*$",
        help_text="at least 3 characters besides surrounding whitespace",
    )
    offset = BoundedIntegerField(min_value=0, max_value=MAX_SEARCH_OFFSET, required=False, default=0)


class SearchModelInput(SearchInput):
    modelId = SafeCharField(max_length=MODEL_ID)


class SearchLayersInput(SearchModelInput):
    layers = serializers.ListField(child=SafeCharField(max_length=SOURCE_ID), min_length=1, max_length=1000)


class SearchReleaseInput(SearchInput):
    releaseName = SafeCharField(max_length=column_max_length(SourceRelease, "name"))


def _search_response(request, v: dict, **scope) -> Response:
    page, total = selectors.explanations_search_text(
        query=v["query"], user=request.user, offset=v["offset"], limit=SEARCH_PAGE_SIZE, **scope
    )
    results = []
    for exp in page:
        feature = exp.feature
        body = explanation_json(exp, feature)
        body["neuron"] = search_neuron_json(feature)
        results.append(body)
    next_offset = v["offset"] + len(page)
    return Response(
        {
            "request": dict(request.data),
            "results": results,
            "resultsCount": total,
            "hasMore": next_offset < total,
            "nextOffset": next_offset,
        }
    )


@extend_schema(
    request=SearchLayersInput,
    responses=ok(body.SEARCH),
    summary="Search explanations in some sources of a model",
)
@api_view(["POST"])
def explanation_search(request):
    v = validated(SearchLayersInput, request)
    return _search_response(request, v, model_name=v["modelId"], source_names=v["layers"])


@extend_schema(request=SearchInput, responses=ok(body.SEARCH), summary="Search all explanations")
@api_view(["POST"])
def explanation_search_all(request):
    return _search_response(request, validated(SearchInput, request))


@extend_schema(
    request=SearchModelInput, responses=ok(body.SEARCH), summary="Search explanations of one model"
)
@api_view(["POST"])
def explanation_search_model(request):
    v = validated(SearchModelInput, request)
    return _search_response(request, v, model_name=v["modelId"])


@extend_schema(
    request=SearchReleaseInput, responses=ok(body.SEARCH), summary="Search explanations of one release"
)
@api_view(["POST"])
def explanation_search_release(request):
    v = validated(SearchReleaseInput, request)
    return _search_response(request, v, release_name=v["releaseName"])
