"""The chat monitor's REST API (documented with the websocket protocol in ``monitor.consumers``)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.decorators import api_view
from rest_framework.response import Response

from monitor import selectors
from monitor.api import openapi_bodies as b
from monitor.api import serializers as s
from monitor.services import chat, concepts
from neuronsite.api import validated
from neuronsite.openapi import array, obj, ok


def anon_key(request) -> str | None:
    if request.user.is_authenticated:
        return None
    return request.COOKIES.get(chat.ANON_COOKIE) or None


def _conversation(request, conversation_id):
    return selectors.conversation_get(
        conversation_id=conversation_id, user=request.user, anon_key=anon_key(request)
    )


@extend_schema(
    request=s.ConversationNewInput,
    responses={201: OpenApiResponse(b.CONVERSATION, description="the new conversation")},
    summary="Start a monitor conversation with a model",
)
@api_view(["POST"])
def conversation_new(request):
    data = validated(s.ConversationNewInput, request)
    key = anon_key(request)
    new_key = None
    if not request.user.is_authenticated and not key:
        key = new_key = chat.new_anon_key()
    conv = chat.conversation_create(
        user=request.user,
        anon_key=key,
        model_name=data["modelId"],
        sources=data.get("sources"),
        mode=data.get("mode"),
    )
    response = Response(chat.conversation_json(conv), status=201)
    if new_key:
        set_anon_cookie(response, new_key)
    return response


def set_anon_cookie(response, key: str) -> None:
    response.set_cookie(chat.ANON_COOKIE, key, max_age=365 * 86400, httponly=True, samesite="Lax")


@extend_schema(
    summary="The caller's monitor conversations (newest first)",
    responses=ok(obj(("conversations",), conversations=array(b.CONVERSATION))),
)
@api_view(["GET"])
def conversation_list(request):
    rows = selectors.conversations_list(
        user=request.user, anon_key=anon_key(request), model_name=request.query_params.get("modelId")
    )
    return Response({"conversations": [chat.conversation_json(c) for c in rows]})


@extend_schema(methods=["GET"], summary="One monitor conversation", responses=ok(b.CONVERSATION))
@extend_schema(
    methods=["DELETE"],
    summary="Delete a monitor conversation with its steering specs",
    responses={204: OpenApiResponse(description="deleted")},
)
@api_view(["GET", "DELETE"])
def conversation_get(request, conversation_id: int):
    conv = _conversation(request, conversation_id)
    if request.method == "DELETE":
        chat.conversation_delete(conversation=conv)
        return Response(status=204)
    return Response(chat.conversation_json(conv))


@extend_schema(
    request=s.SourcesInput, responses=ok(b.CONVERSATION), summary="Choose the sources a conversation watches"
)
@api_view(["POST"])
def conversation_sources(request, conversation_id: int):
    data = validated(s.SourcesInput, request)
    conv = chat.conversation_sources_set(
        conversation=_conversation(request, conversation_id), user=request.user, sources=data["sources"]
    )
    return Response(chat.conversation_json(conv))


@extend_schema(summary="Clear a conversation's messages", request=None, responses=ok(b.CONVERSATION))
@api_view(["POST"])
def conversation_clear(request, conversation_id: int):
    return Response(
        chat.conversation_json(chat.conversation_clear(conversation=_conversation(request, conversation_id)))
    )


@extend_schema(
    request=s.SendInput,
    responses=ok(b.CHAT_RESULT),
    summary="Send a message; answers when the reply is generated (stream it over /ws/monitor/)",
)
@api_view(["POST"])
def conversation_send(request, conversation_id: int):
    data = validated(s.SendInput, request)
    plan = chat.chat_prepare(
        conversation=_conversation(request, conversation_id),
        user=request.user,
        content=data["content"],
        **s.chat_kwargs(data),
    )
    return Response(chat.chat_run(plan))


@extend_schema(request=s.RegenerateInput, responses=ok(b.CHAT_RESULT), summary="Regenerate the last answer")
@api_view(["POST"])
def conversation_regenerate(request, conversation_id: int):
    data = validated(s.RegenerateInput, request)
    plan = chat.chat_prepare(
        conversation=_conversation(request, conversation_id),
        user=request.user,
        regenerate=True,
        **s.chat_kwargs(data),
    )
    return Response(chat.chat_run(plan))


@extend_schema(
    request=s.ConceptsInput,
    responses=ok(b.CONCEPTS),
    summary="Active concepts per token of the whole conversation",
)
@api_view(["GET", "POST"])
def conversation_concepts(request, conversation_id: int):
    data = validated(s.ConceptsInput, request) if request.method == "POST" else {}
    conv = _conversation(request, conversation_id)
    return Response(concepts.concepts_get(conversation=conv, user=request.user, sources=data.get("sources")))


@extend_schema(
    request=s.AttributionInput,
    responses=ok(b.ATTRIBUTION),
    summary="Top latents by |activation × gradient| for an answer token",
)
@api_view(["POST"])
def conversation_attribution(request, conversation_id: int):
    data = validated(s.AttributionInput, request)
    conv = _conversation(request, conversation_id)
    return Response(
        concepts.attribution_get(
            conversation=conv,
            user=request.user,
            position=data["position"],
            top_k=data["topK"],
            sources=data.get("sources"),
        )
    )
