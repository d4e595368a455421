"""Neuronpedia's explanation search APIs with semantic ranking: ``/api/explanation/search``,
``search-model``, ``search-release``, ``search-all``. ``mode`` is ``semantic`` (default: cosine
over the HNSW index, visibility filtered in SQL before the limit) or ``keyword`` (every word
must appear; features' plain-text search). ``onePerFeature`` keeps the best hit per feature."""

from __future__ import annotations

import functools
import json

from django.core.validators import MaxLengthValidator, MinLengthValidator
from django.http import HttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.decorators import api_view
from rest_framework.fields import (
    ProhibitNullCharactersValidator,
    ProhibitSurrogateCharactersValidator,
    empty,
)
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from autointerp import selectors
from features import selectors as feature_selectors
from features.api.openapi_bodies import SEARCH
from features.api.serializers import activation_json, explanation_json, search_neuron_json
from features.api.social import SEARCH_PAGE_SIZE, SearchInput
from neuronsite.api import validated
from neuronsite.fields_api import BoundedIntegerField, SafeCharField, SchemaPattern
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


def semantic_response(request, v: dict, **scope) -> HttpResponse:
    """A semantic search's response: the page's JSON text as PostgreSQL wrote it
    (``search_hydrate``), spliced into the body unparsed, with the request echoed and the paging
    fields: the same JSON as ``page_json`` renders, without parsing and rendering the page again."""
    page, has_more = selectors.explanations_search_semantic(
        query=v["query"],
        user=request.user,
        offset=v["offset"],
        limit=SEARCH_PAGE_SIZE,
        one_per_feature=v.get("onePerFeature", False),
        hydrate="json",
        **scope,
    )
    next_offset = v["offset"] + page.count
    head = _RENDERER.render({"request": dict(request.data), "mode": "semantic"})
    tail = json.dumps(
        {
            "resultsCount": next_offset + (1 if has_more else 0),
            "hasMore": has_more,
            "nextOffset": next_offset,
        },
        separators=(",", ":"),
    )
    body = b"".join((head[:-1], b',"results":', page.text.encode(), b",", tail[1:].encode()))
    return HttpResponse(body, content_type="application/json")


_RENDERER = JSONRenderer()


def _response(request, v: dict, **scope):
    if v.get("mode", "semantic") == "keyword":
        return Response({"request": dict(request.data), **page_json(user=request.user, v=v, **scope)})
    return semantic_response(request, v, **scope)


def _text(value, field: SafeCharField):
    """``value`` as ``field`` would return it when that is certain, else None."""
    if type(value) is not str:
        return None
    text = value.strip() if field.trim_whitespace else value
    if not text or len(text) > field.max_length or "\x00" in text:
        return None
    if field.min_length is not None and len(text) < field.min_length:
        return None
    if not text.isascii():
        try:
            text.encode("utf-8")  # a lone surrogate: DRF refuses it
        except UnicodeEncodeError:
            return None
    return text


_DRF_TEXT_CHECKS = (
    MaxLengthValidator,
    MinLengthValidator,
    ProhibitNullCharactersValidator,
    ProhibitSurrogateCharactersValidator,
    SchemaPattern,  # says in the schema what the field checks itself
)


@functools.cache
def _fast_path_fits(serializer_class) -> bool:
    """Whether ``fast_validated`` checks everything ``serializer_class`` checks: no ``validate`` or
    ``validate_<field>`` of its own, and its text fields validate only length, NUL and lone
    surrogates (DRF's own checks)."""
    for klass in serializer_class.__mro__:
        if klass in (serializers.Serializer, serializers.BaseSerializer, serializers.Field, object):
            continue
        if any(name == "validate" or name.startswith("validate_") for name in vars(klass)):
            return False
    for field in serializer_class._declared_fields.values():
        field = getattr(field, "child", field)
        if isinstance(field, SafeCharField) and not all(
            type(x) in _DRF_TEXT_CHECKS for x in field.validators
        ):
            return False
    return True


def fast_validated(serializer_class, data) -> dict | None:
    """The validated input of a search call for a plain JSON body that is certainly valid: the
    same dict as ``serializer_class`` gives, or None when anything is unusual (then the serializer
    runs and reports the error in its words). The serializer costs more than the statement's
    round trip (copying its fields per call, validators); a search body is a few strings and
    numbers. Only the field kinds below are read; any other makes it fall back."""
    if type(data) is not dict or not _fast_path_fits(serializer_class):
        return None
    out = {}
    for name, field in serializer_class._declared_fields.items():
        if name not in data:
            if field.required:
                return None
            if field.default is not empty:
                out[name] = field.default
            continue
        value = data[name]
        if isinstance(field, SafeCharField):
            value = _text(value, field)
        elif isinstance(field, BoundedIntegerField):
            low, high = field.min_value, field.max_value
            if type(value) is not int or low is None or high is None or not low <= value <= high:
                return None
        elif isinstance(field, serializers.ChoiceField):
            if type(value) is not str or value not in field.choice_strings_to_values:
                return None
            value = field.choice_strings_to_values[value]
        elif isinstance(field, serializers.BooleanField):
            if type(value) is not bool:
                return None
        elif isinstance(field, serializers.ListField) and isinstance(field.child, SafeCharField):
            low, high = field.min_length, field.max_length
            if type(value) is not list or low is None or high is None or not low <= len(value) <= high:
                return None
            value = [_text(x, field.child) for x in value]
            if None in value:
                return None
        else:
            return None
        if value is None:
            return None
        out[name] = value
    return out


def _validated(serializer_class, request) -> dict:
    fast = fast_validated(serializer_class, request.data)
    return fast if fast is not None else validated(serializer_class, request)


@extend_schema(
    request=SemanticSearchLayersInput,
    summary="Search explanations in some sources of a model",
    responses=ok(SEARCH_BODY),
)
@api_view(["POST"])
def explanation_search(request):
    v = _validated(SemanticSearchLayersInput, request)
    return _response(request, v, model_name=v["modelId"], source_names=v["layers"])


@extend_schema(request=SemanticSearchInput, summary="Search all explanations", responses=ok(SEARCH_BODY))
@api_view(["POST"])
def explanation_search_all(request):
    return _response(request, _validated(SemanticSearchInput, request))


@extend_schema(
    request=SemanticSearchModelInput, summary="Search explanations of one model", responses=ok(SEARCH_BODY)
)
@api_view(["POST"])
def explanation_search_model(request):
    v = _validated(SemanticSearchModelInput, request)
    return _response(request, v, model_name=v["modelId"])


@extend_schema(
    request=SemanticSearchReleaseInput,
    summary="Search explanations of one release",
    responses=ok(SEARCH_BODY),
)
@api_view(["POST"])
def explanation_search_release(request):
    v = _validated(SemanticSearchReleaseInput, request)
    return _response(request, v, release_name=v["releaseName"])
