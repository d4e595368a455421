"""The chat monitor's API and websocket protocol (issue 15).

Conversations belong to the signed-in user, or, for an anonymous visitor, to the key in the
``neuronsite_monitor`` cookie (set by the monitor page or by ``conversation/new``); anyone else's
conversation answers 404. Every error is ``{"error": "<what is wrong, naming the field>"}`` with a
4xx status (a websocket error frame below), and leaves the conversation unchanged.

REST (JSON; ``{id}`` = conversation id)
    POST /api/monitor/conversation/new      {modelId, sources?: ["3-res-demo", ...], mode?: "chat"|"completion"}
         → 201 <conversation>. Default sources: the model's default source set; default mode: chat
           for instruct models, else completion (chat on a non-instruct model is a 400 naming mode).
    GET  /api/monitor/conversations?modelId=  → {conversations: [<conversation>, ...]}
    GET  /api/monitor/conversation/{id}       → <conversation>
    DELETE /api/monitor/conversation/{id}     → 204 (with its saved steering specs)
    GET|POST /api/monitor/conversation/{id}/specs, GET|PATCH|DELETE .../specs/{specId}: steering
         specs saved on the conversation; ``conversationId`` on /api/monitor/steer and
         /api/monitor/linter (see ``monitor.api.steer_views``).
    POST /api/monitor/steer/search {modelId, description, topK?, sources?, exclude?: ["phrase", ...]}
         Negative descriptions: a feature with any visible explanation containing an exclude
         phrase (case-insensitive, at most 16 phrases) is left out of the preview, and the topK
         nearest explanations are taken among the other features'. A spec keeps its ``exclude``
         phrases (saved specs too); they do not change which features it steers.
    POST /api/monitor/conversation/{id}/sources {sources: [...]}  → <conversation> (unknown → 404)
    POST /api/monitor/conversation/{id}/clear                     → <conversation> with no messages
    POST /api/monitor/conversation/{id}/send  {content, nTokens? (32), temperature? (0.5), seed? (16)}
         → {conversation, concepts} once the answer is generated and saved
    POST /api/monitor/conversation/{id}/regenerate {nTokens?, temperature?, seed?}
         → the same, the last answer replaced
    GET|POST /api/monitor/conversation/{id}/concepts {sources?}   → <concepts>
    POST /api/monitor/conversation/{id}/attribution {position, topK? (20, ≤ 100), sources?}
         → {conversationId, position, token, logprob, attributions: [<row> + gradient, attribution]}
           (position must be a token of an assistant message)

    <conversation> = {id, modelId, instruct, mode, title, sources, messages: [{role, content}],
                      createdAt, updatedAt}
    <concepts> = {conversationId, modelId, sources, quantile: 0.99999, truncated,
                  tokens: [{position, token (raw), text, message (index, -1 = BOS), role, special}],
                  concepts: [<row>, ...] sorted by normalised, best first]}
    <row> = {source, layer, index, position, token, activation, normalised (= activation / the
             latent's 0.99999 quantile), url (feature page), explanation, explanationScore (0..1|null)}

    Token positions are the positions /api/monitor/steer takes for a spec's prompt ranges: chat
    mode renders the messages through the chat template; completion mode tokenises the messages'
    texts JOINED ("".join(contents), BOS first) with the steering plan's own tokeniser, so a token
    may span two messages (it belongs to the one holding its first character). The steer panel
    sends a completion-mode conversation as that joined text (or conversationId: the same).

Websocket /ws/monitor/ (JSON text frames; ``requestId`` echoed, as on /ws/steer/)
    client: {"type": "send", "requestId": 1, "conversationId": 7, "content": "...", nTokens?, temperature?, seed?}
            {"type": "regenerate", "requestId": 2, "conversationId": 7, nTokens?, temperature?, seed?}
            {"type": "concepts", "requestId": 3, "conversationId": 7, sources?}
            {"type": "attribution", "requestId": 4, "conversationId": 7, "position": 12, topK?, sources?}
            {"type": "cancel", "requestId": 1}   (stops a generation; nothing is saved)
    server: {"type": "token", "requestId": 1, "token": "<raw token>", "text": "<the answer so far>"}
            {"type": "done", "requestId": 1, "conversation": <conversation>}      (saved)
            {"type": "concepts", "requestId": 1|3, <concepts>}                  (after every answer too)
            {"type": "attribution", "requestId": 4, <attribution>}
            {"type": "cancelled", "requestId": 1}
            {"type": "error", "requestId": ..., "error": "..."}                 (socket stays open)
"""

from __future__ import annotations

from channels.db import database_sync_to_async

from inference.consumers import _InferenceConsumer
from neuronsite.errors import ValidationFailed

FRAME_TYPES = ("send", "regenerate", "concepts", "attribution", "cancel")


class MonitorConsumer(_InferenceConsumer):
    def _anon_key(self) -> str | None:
        from monitor.services.chat import ANON_COOKIE

        user = self.scope.get("user")
        if user is not None and user.is_authenticated:
            return None
        return (self.scope.get("cookies") or {}).get(ANON_COOKIE) or None

    async def handle(self, request_id, content):
        from monitor import selectors
        from monitor.api import serializers as s
        from monitor.services import chat, concepts

        kind = content.get("type")
        if kind not in FRAME_TYPES:
            raise ValidationFailed(f"must be one of {', '.join(FRAME_TYPES)}, got {kind!r}.", field="type")
        user = self.scope.get("user")
        conv = await database_sync_to_async(selectors.conversation_get)(
            conversation_id=content.get("conversationId"), user=user, anon_key=self._anon_key()
        )
        if kind in ("send", "regenerate"):
            serializer = s.SendInput if kind == "send" else s.RegenerateInput
            data = serializer(data=content)
            data.is_valid(raise_exception=True)
            data = data.validated_data
            plan = await database_sync_to_async(chat.chat_prepare)(
                conversation=conv,
                user=user,
                content=data.get("content"),
                regenerate=kind == "regenerate",
                **s.chat_kwargs(data),
            )
            async for event in chat.chat_events(plan):
                await self.send_json({**event, "requestId": request_id})
        elif kind == "concepts":
            data = s.ConceptsInput(data=content)
            data.is_valid(raise_exception=True)
            result = await concepts.concepts_async(
                conversation=conv, user=user, sources=data.validated_data.get("sources")
            )
            await self.send_json({"type": "concepts", "requestId": request_id, **result})
        else:
            data = s.AttributionInput(data=content)
            data.is_valid(raise_exception=True)
            d = data.validated_data
            result = await concepts.attribution_async(
                conversation=conv,
                user=user,
                position=d["position"],
                top_k=d["topK"],
                sources=d.get("sources"),
            )
            await self.send_json({"type": "attribution", "requestId": request_id, **result})
