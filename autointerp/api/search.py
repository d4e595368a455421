"""Neuronpedia's explanation search APIs with semantic ranking: ``/api/explanation/search``,
``search-model``, ``search-release``, ``search-all``. ``mode`` is ``semantic`` (default: cosine
over the HNSW index, visibility filtered in SQL before the limit) or ``keyword`` (every word
must appear; features' plain-text search). ``onePerFeature`` keeps the best hit per feature."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.decorators import api_view
from rest_framework.response import Response

from autointerp import selectors
from features import selectors as feature_selectors
from features.api.openapi_bodies import SEARCH
from features.api.serializers import activation_json, explanation_json, search_neuron_json
from features.api.social import SEARCH_PAGE_SIZE, SearchInput
from neuronsite.api import validated
from neuronsite.fields_api import SafeCharField
from neuronsite.openapi import STR, ok

# The response body (issue 10): ``page_json`` with the request echoed.
SEARCH_BODY = {**SEARCH, "properties": {**SEARCH["properties"], "mode": STR}}


class SemanticSearchInput(SearchInput):
    mode = serializers.ChoiceField(choices=["semantic", "keyword"], required=False, default="semantic")
    onePerFeature = serializers.BooleanField(required=False, default=False)


class SemanticSearchModelInput(SemanticSearchInput):
    modelId = SafeCharField(max_length=128)


class SemanticSearchLayersInput(SemanticSearchModelInput):
    layers = serializers.ListField(child=SafeCharField(max_length=160), min_length=1, max_length=1000)


class SemanticSearchReleaseInput(SemanticSearchInput):
    releaseName = SafeCharField(max_length=200)


def search(*, user, v: dict, hydrate: str = "api", **scope) -> tuple[list, int | None, bool]:
    """``(page, total or None, has_more)`` in the requested mode (shared with the search page,
    which asks for ``hydrate="page"``: no scores or activations). A semantic page with
    ``hydrate="api"`` is already the hits' JSON (dicts); otherwise it is ``Explanation`` objects
    (``hit_json`` makes the API's hit of one)."""
    if v.get("mode", "semantic") == "keyword":
        page, total = feature_selectors.explanations_search_text(
            query=v["query"], user=user, offset=v["offset"], limit=SEARCH_PAGE_SIZE, **scope
        )
        selectors.attach_top_activations(page)
        return page, total, v["offset"] + len(page) < total
    page, has_more = selectors.explanations_search_semantic(
        query=v["query"],
        user=user,
        offset=v["offset"],
        limit=SEARCH_PAGE_SIZE,
        one_per_feature=v.get("onePerFeature", False),
        hydrate=hydrate,
        **scope,
    )
    return page, None, has_more


def hit_json(exp) -> dict:
    """One hit from an ``Explanation`` with its scores, ``vote_count`` and ``top_activations``
    loaded (keyword mode, and the ORM reference of ``autointerp.search_hydrate.api_hits``)."""
    feature = exp.feature
    body = explanation_json(exp, feature)
    if hasattr(exp, "similarity"):
        body["cosine_similarity"] = exp.similarity
    body["neuron"] = {
        **search_neuron_json(feature),
        "activations": [activation_json(a, feature) for a in getattr(exp, "top_activations", [])],
    }
    return body


def page_json(*, user, v: dict, **scope) -> dict:
    """The response body of a search API call (``v``: its validated input, less ``request``)."""
    page, total, has_more = search(user=user, v=v, **scope)
    if total is not None:  # keyword mode: model objects
        page = [hit_json(exp) for exp in page]
    next_offset = v["offset"] + len(page)
    return {
        "mode": v.get("mode", "semantic"),
        "results": page,
        "resultsCount": total if total is not None else next_offset + (1 if has_more else 0),
        "hasMore": has_more,
        "nextOffset": next_offset,
    }


def _response(request, v: dict, **scope) -> Response:
    return Response({"request": dict(request.data), **page_json(user=request.user, v=v, **scope)})


@extend_schema(
    request=SemanticSearchLayersInput,
    summary="Search explanations in some sources of a model",
    responses=ok(SEARCH_BODY),
)
@api_view(["POST"])
def explanation_search(request):
    v = validated(SemanticSearchLayersInput, request)
    return _response(request, v, model_name=v["modelId"], source_names=v["layers"])


@extend_schema(request=SemanticSearchInput, summary="Search all explanations", responses=ok(SEARCH_BODY))
@api_view(["POST"])
def explanation_search_all(request):
    return _response(request, validated(SemanticSearchInput, request))


@extend_schema(
    request=SemanticSearchModelInput, summary="Search explanations of one model", responses=ok(SEARCH_BODY)
)
@api_view(["POST"])
def explanation_search_model(request):
    v = validated(SemanticSearchModelInput, request)
    return _response(request, v, model_name=v["modelId"])


@extend_schema(
    request=SemanticSearchReleaseInput,
    summary="Search explanations of one release",
    responses=ok(SEARCH_BODY),
)
@api_view(["POST"])
def explanation_search_release(request):
    v = validated(SemanticSearchReleaseInput, request)
    return _response(request, v, release_name=v["releaseName"])
