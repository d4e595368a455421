"""Inference API: Neuronpedia's request/response shapes, computed by the in-process engine."""

from __future__ import annotations

import json
import logging

from django.http import StreamingHttpResponse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.decorators import api_view
from rest_framework.response import Response

from inference import selectors, services
from inference.api import serializers as s
from neuronsite.api import validated
from neuronsite.errors import ApplicationError
from neuronsite.openapi import BOOL, INT, NUM, NUM_N, STR, STR_N, array, obj, ok

logger = logging.getLogger(__name__)

# Response bodies (issue 10: every operation documents its body); inference/tests/
# test_response_schemas.py checks real answers of the tiny model against the served schema.
ACTIVATION_BODY = obj(
    ("tokens", "values", "maxValue", "maxValueTokenIndex", "minValue", "modelId", "layer", "index"),
    tokens=array(STR),
    values=array(NUM),
    maxValue=NUM,
    maxValueTokenIndex=INT,
    minValue=NUM,
    modelId=STR,
    layer=STR,
    index=STR,
)
_TOPK_ONE = obj(
    ("modelId", "source", "tokens", "results"),
    modelId=STR,
    source=STR,
    tokens=array(STR),
    results=array(
        obj(
            ("position", "token", "topFeatures"),
            position=INT,
            token=STR,
            topFeatures=array(
                obj(("featureIndex", "activationValue"), featureIndex=INT, activationValue=NUM)
            ),
        )
    ),
)
TOPK_BY_TOKEN_BODY = {
    "oneOf": [_TOPK_ONE, obj(("results",), results=array(_TOPK_ONE))],
    "description": "one body for a text; {results: [one body per text]} for a list of texts",
}
TOKENIZE_BODY = obj(
    ("modelId", "tokens", "tokenStrings", "prependedBos", "tokenLimit"),
    modelId=STR,
    tokens=array(INT),
    tokenStrings=array(STR),
    prependedBos=BOOL,
    tokenLimit=INT,
)

_SEARCH_ALL_ONE = obj(
    ("modelId", "sourceSet", "tokens", "result", "counts", "id", "cached"),
    modelId=STR,
    sourceSet=STR,
    selectedSources=array(STR),
    sortIndexes=array(INT),
    ignoreBos=BOOL,
    densityThreshold=NUM_N,
    numResults=INT,
    tokens=array(STR),
    result=array(obj(("source", "index"), source=STR, index=INT, modelId=STR, values=array(NUM))),
    counts=array(array(NUM)),
    id={**STR, "description": "the saved result's share id (GET /api/search-all/{id})"},
    cached=BOOL,
)
SEARCH_ALL_BODY = {
    "oneOf": [_SEARCH_ALL_ONE, obj(("results",), results=array(_SEARCH_ALL_ONE))],
    "description": "one body for a text; {results: [one body per text]} for a list of texts",
}
COSSIM_BODY = obj(
    ("modelId", "source", "index", "results"),
    modelId=STR,
    source=STR,
    index=STR,
    results=array(obj(("modelId",), modelId=STR)),
)
_OUTPUT = {
    "oneOf": [STR, obj(("chatTemplate", "raw"), chatTemplate=array(obj()), raw=STR)],
    "description": "the completion text; for a chat: {chatTemplate: the messages, raw: the text}",
}
STEER_BODY = obj(
    ("STEERED", "DEFAULT", "id", "defaultId", "modelId", "settings", "cached"),
    STEERED=_OUTPUT,
    DEFAULT=_OUTPUT,
    id={**STR, "description": "the STEERED output's share id (GET /api/steer/{id})"},
    defaultId=STR,
    modelId=STR,
    features={"type": "array", "items": {}, "nullable": True},
    prompt=STR_N,
    chat={"type": "array", "items": {}, "nullable": True},
    settings=obj(),
    logprobs=obj(),
    cached=BOOL,
)


def steer_responses() -> dict:
    """JSON (``stream`` false) or server-sent events (``stream`` true) for the steering operations."""
    return {
        (200, "application/json"): OpenApiResponse(STEER_BODY, description="the stored result"),
        (200, "text/event-stream"): OpenApiResponse(
            {"type": "string"},
            description='stream=true: one `data: {"DEFAULT", "STEERED", "done": false, "token", ...}` frame per '
            'token, then the stored result with "done": true (or {"error", "done": true})',
        ),
    }


# A share id as new_share_id writes it (token_urlsafe, at most the column's 32 characters); any
# other string is simply not found (404).
SHARE_ID_PARAMETER = OpenApiParameter(
    "share_id",
    {"type": "string", "minLength": 1, "maxLength": 32, "pattern": "^[A-Za-z0-9_-]+$"},
    OpenApiParameter.PATH,
    required=True,
    description="the result's share id (128 random bits, URL-safe base64)",
)


@extend_schema(
    request=s.ActivationNewInput,
    responses=ok(
        {
            "oneOf": [ACTIVATION_BODY, array(ACTIVATION_BODY)],
            "description": "one body for a text; a list (one per text, in order) for a list of texts",
        }
    ),
    summary="Activations of one feature on custom text (not stored)",
)
@api_view(["POST"])
def activation_new(request):
    data = validated(s.ActivationNewInput, request)
    texts = data["customText"]
    results = services.activation_new(
        user=request.user,
        model_id=data["feature"]["modelId"],
        source_name=data["feature"]["source"],
        index=data["feature"]["index"],
        texts=[texts] if isinstance(texts, str) else texts,
    )
    return Response(results[0] if isinstance(texts, str) else results)


@extend_schema(
    request=s.SearchAllInput,
    responses=ok(SEARCH_ALL_BODY),
    summary="Top features across a source set for a text (search via inference)",
)
@api_view(["POST"])
def search_all(request):
    data = validated(s.SearchAllInput, request)

    def one(text: str) -> dict:
        return services.search_all(
            user=request.user,
            model_id=data["modelId"],
            source_set_name=data["sourceSet"],
            text=text,
            selected_sources=data["selectedLayers"],
            sort_indexes=data["sortIndexes"],
            ignore_bos=data["ignoreBos"],
            density_threshold=data["densityThreshold"],
            num_results=data["numResults"],
        )

    return Response(_one_or_many(data["text"], one))


def _one_or_many(text, one) -> dict:
    """``text`` as one string -> that text's body; as a list -> ``{"results": [body per text]}``
    in input order (Neuronpedia's batch shape, read by ``compute_top_features_for_texts`` and
    ``compute_top_features_by_token_for_texts``)."""
    if isinstance(text, str):
        return one(text)
    return {"results": [one(t) for t in text]}


@extend_schema(
    summary="A saved search-all result by its share id (unguessable)",
    parameters=[SHARE_ID_PARAMETER],
    responses=ok({**_SEARCH_ALL_ONE, "properties": {**_SEARCH_ALL_ONE["properties"], "text": STR}}),
)
@api_view(["GET"])
def search_all_get(request, share_id: str):
    saved = selectors.saved_search_get(share_id=share_id, user=request.user)
    return Response({**saved.result, "id": saved.share_id, "text": saved.text, "cached": True})


@extend_schema(
    request=s.TopkByTokenInput,
    responses=ok(TOPK_BY_TOKEN_BODY),
    summary="Top-k features of one source at each token",
)
@api_view(["POST"])
def search_topk_by_token(request):
    data = validated(s.TopkByTokenInput, request)

    def one(text: str) -> dict:
        return services.search_topk_by_token(
            user=request.user,
            model_id=data["modelId"],
            source_name=data["source"],
            text=text,
            num_results=data["numResults"],
            ignore_bos=data["ignoreBos"],
            density_threshold=data["densityThreshold"],
        )

    body = _one_or_many(data["text"], one)
    if not isinstance(data["text"], str):
        body = {"modelId": data["modelId"], "source": data["source"], **body}
    return Response(body)


@extend_schema(
    request=s.CossimInput, responses=ok(COSSIM_BODY), summary="Nearest features by decoder cosine similarity"
)
@api_view(["POST"])
def cossim(request):
    data = validated(s.CossimInput, request)
    return Response(
        services.cossim(
            user=request.user,
            model_id=data["modelId"],
            source_name=data["source"],
            index=data["index"],
            target_source_name=data["targetSource"],
            num_results=data["numResults"],
        )
    )


@extend_schema(
    request=s.TokenizeInput, responses=ok(TOKENIZE_BODY), summary="Tokenize text with a model's tokenizer"
)
@api_view(["POST"])
def tokenize(request):
    data = validated(s.TokenizeInput, request)
    return Response(
        services.tokenize(
            user=request.user, model_id=data["modelId"], text=data["text"], prepend_bos=data["prependBos"]
        )
    )


async def _sse(plan):
    """Server-sent events from the steering loop, one per token as it is generated (an async
    iterator: under ASGI each frame leaves when it is yielded). Frames: ``{"DEFAULT": text so far,
    "STEERED": text so far, "done": false, "kind", "token", "logprob", "topLogprobs"}`` (the last
    four as in ``steer_events``' token events), then the stored result with ``"done": true``; a
    failure mid-stream ends with ``{"error": message, "done": true}``."""
    texts = {kind: row.output_text for kind, row in plan.cached.items()}
    try:
        async for event in services.steer_events(plan):
            if event["type"] == "token":
                texts[event["kind"]] = event["text"]
                frame = {
                    "DEFAULT": texts.get("DEFAULT", ""),
                    "STEERED": texts.get("STEERED", ""),
                    "done": False,
                    # additive: the token just generated, its kind and its top-5 log-probs
                    "kind": event["kind"],
                    "token": event["token"],
                    "logprob": event["logprob"],
                    "topLogprobs": event["topLogprobs"],
                }
            else:
                frame = {**{k: v for k, v in event.items() if k != "type"}, "done": True}
            yield f"data: {json.dumps(frame)}\n\n"
    except ApplicationError as exc:
        yield f"data: {json.dumps({'error': exc.message, 'done': True})}\n\n"
    except Exception:
        logger.exception("steering stream failed")
        yield f"data: {json.dumps({'error': 'Internal error while steering.', 'done': True})}\n\n"


def _steer(request, plan, stream: bool):
    if stream:
        response = StreamingHttpResponse(_sse(plan), content_type="text/event-stream")
        response["Cache-Control"] = "no-cache"
        response["X-Accel-Buffering"] = "no"
        return response
    return Response(services.steer_run(plan))


@extend_schema(
    request=s.SteerCompletionInput,
    responses=steer_responses(),
    summary="Steered and default completions (stream=true: SSE)",
)
@api_view(["POST"])
def steer(request):
    data = validated(s.SteerCompletionInput, request)
    plan = services.steer_prepare(user=request.user, prompt=data["prompt"], **s.steer_kwargs(data))
    return _steer(request, plan, data["stream"])


@extend_schema(
    request=s.SteerChatInput,
    responses=steer_responses(),
    summary="Steered and default chat replies (stream=true: SSE)",
)
@api_view(["POST"])
def steer_chat(request):
    data = validated(s.SteerChatInput, request)
    plan = services.steer_prepare(
        user=request.user,
        default_chat=data["defaultChatMessages"],
        steered_chat=data["steeredChatMessages"],
        steer_special_tokens=data["steer_special_tokens"],
        **s.steer_kwargs(data),
    )
    return _steer(request, plan, data["stream"])


@extend_schema(
    summary="A stored steering result by its share id (unguessable)",
    parameters=[SHARE_ID_PARAMETER],
    responses=ok(STEER_BODY),
)
@api_view(["GET"])
def steer_get(request, share_id: str):
    return Response(services.steer_output_pair(share_id=share_id, user=request.user))
