"""Websockets that stream inference: ``/ws/activation/`` and ``/ws/steer/``.

Both speak JSON text frames. Every client frame may carry a ``requestId`` (a string or a number,
echoed in every server frame about that request). Frames on one socket are handled concurrently (each
request is its own task), and a connection runs at most ``INFERENCE_MAX_IN_FLIGHT_PER_CONNECTION``
requests at a time; more get an error frame. Each request frame counts against the same rate limit
as the HTTP inference routes (``RATE_LIMITS``: per user, or per address when anonymous); over it,
``{"type": "error", "requestId": ..., "error": "Too many requests ...", "retryAfter": <s>}``. A bad frame (not JSON, binary, not an object, a
``requestId`` that is a list or object, bad fields) gets ``{"type": "error", "requestId": ...,
"error": "<what is wrong>"}`` and the socket stays open. Error frames carry the project's clean
messages; an unexpected failure is logged with its traceback here and answered with a generic
message. Closing the socket cancels its generations (they stop being scheduled on the engine).

Database work runs in ``database_sync_to_async`` and engine work through the engine's own bridge
(``engine.run_kernel``), never one inside the other, so no forward pass holds asgiref's shared sync
thread.

/ws/activation/ — live activations for typed text
    client: {"requestId": 1, "feature": {"modelId": "gpt2-small", "source": "6-res-jb", "index": 42},
             "customText": "text" | ["text", ...]}
            (the body of POST /api/activation/new)
    server: {"type": "activation", "requestId": 1, "result": <what /api/activation/new returns:
             {tokens, values, maxValue, maxValueTokenIndex, minValue, modelId, layer, index} or a list>}

/ws/steer/ — DEFAULT and STEERED side by side as they are generated
    client: {"type": "steer", "requestId": "a", <body of POST /api/steer>}
         or {"type": "steer-chat", "requestId": "a", <body of POST /api/steer-chat>}
         or {"type": "cancel", "requestId": "a"}
    server, per generated token (DEFAULT and STEERED alternate):
            {"type": "token", "requestId": "a", "kind": "DEFAULT" | "STEERED",
             "token": "<raw token string>", "text": "<cumulative text of that kind>",
             "logprob": <the token's log-prob>,
             "topLogprobs": [{"token": "<raw>", "id": 123, "logprob": -0.5}, ...5, best first]}
            (completion: prompt + completion so far; chat: the assistant's reply so far)
    server, at the end: {"type": "done", "requestId": "a", <what POST /api/steer(-chat) returns:
             STEERED, DEFAULT, id, defaultId, modelId, features, settings, cached>}
            A request served from the cache answers with "done" only.
    server, after a cancel: {"type": "cancelled", "requestId": "a"}
"""

from __future__ import annotations

import asyncio
import json
import logging
import math

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from rest_framework.exceptions import APIException

from neuronsite.errors import ApplicationError, RateLimited, ValidationFailed, flatten_message
from neuronsite.ratelimit import rate_limited_frame, ws_rate_limit_hit

logger = logging.getLogger(__name__)

INTERNAL_ERROR = "Internal error while running this request; it has been logged."


def _error_text(exc: Exception) -> str:
    if isinstance(exc, ApplicationError):
        return exc.message
    if isinstance(exc, APIException):  # an input serializer's is_valid(raise_exception=True)
        return flatten_message(exc.detail)
    logger.error("websocket request failed", exc_info=exc)
    return INTERNAL_ERROR


class _InferenceConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        self.tasks: dict[object, asyncio.Task] = {}
        await self.accept()

    async def disconnect(self, code):
        for task in list(self.tasks.values()):
            task.cancel()

    async def _error(self, request_id, message: str) -> None:
        await self.send_json({"type": "error", "requestId": request_id, "error": message})

    async def receive(self, text_data=None, bytes_data=None, **kwargs):
        if text_data is None:
            await self._error(None, "Binary frames are not accepted: send JSON text frames.")
            return
        try:
            content = json.loads(text_data)
        except (ValueError, RecursionError):
            await self._error(None, "Frame is not valid JSON.")
            return
        await self.receive_json(content, **kwargs)

    async def receive_json(self, content, **kwargs):
        if not isinstance(content, dict):
            await self._error(None, "Frame must be a JSON object.")
            return
        request_id = content.get("requestId")
        if isinstance(request_id, bool) or not (
            request_id is None
            or isinstance(request_id, (str, int))
            or (isinstance(request_id, float) and math.isfinite(request_id))
        ):
            await self._error(None, "requestId must be a string or a number.")
            return
        if content.get("type") == "cancel":
            task = self.tasks.get(request_id)
            if task:
                task.cancel()
            return
        if request_id in self.tasks:
            await self._error(request_id, "requestId already in flight.")
            return
        try:  # the HTTP inference routes' budget, per user / per address (issue 10)
            await database_sync_to_async(ws_rate_limit_hit)(self.scope, kind="inference")
        except RateLimited as exc:
            await self.send_json(rate_limited_frame(exc, request_id))
            return
        limit = settings.INFERENCE_MAX_IN_FLIGHT_PER_CONNECTION
        if len(self.tasks) >= limit:
            await self._error(request_id, f"Too many requests in flight on this connection (limit {limit}).")
            return
        task = asyncio.ensure_future(self._guarded(request_id, content))
        self.tasks[request_id] = task
        task.add_done_callback(lambda _t, rid=request_id: self.tasks.pop(rid, None))

    async def _guarded(self, request_id, content):
        try:
            await self.handle(request_id, content)
        except asyncio.CancelledError:
            try:
                await self.send_json({"type": "cancelled", "requestId": request_id})
            except Exception:  # noqa: BLE001 - socket already gone
                pass
            raise
        except Exception as exc:  # noqa: BLE001 - every failure becomes an error frame
            await self._error(request_id, _error_text(exc))

    async def handle(self, request_id, content):  # pragma: no cover - abstract
        raise NotImplementedError


class ActivationConsumer(_InferenceConsumer):
    async def handle(self, request_id, content):
        from inference.api.serializers import ActivationNewInput
        from inference.services.activations import activation_prepare

        data = ActivationNewInput(data=content)
        data.is_valid(raise_exception=True)
        data = data.validated_data
        texts = data["customText"]
        plan = await database_sync_to_async(activation_prepare)(
            user=self.scope.get("user"),
            model_id=data["feature"]["modelId"],
            source_name=data["feature"]["source"],
            index=data["feature"]["index"],
            texts=[texts] if isinstance(texts, str) else texts,
        )
        results = await plan.compute_async()
        await self.send_json(
            {
                "type": "activation",
                "requestId": request_id,
                "result": results[0] if isinstance(texts, str) else results,
            }
        )


class SteerConsumer(_InferenceConsumer):
    async def handle(self, request_id, content):
        from inference.api import serializers as s
        from inference.services import steering
        from inference.services.steer_loop import steer_events

        kind = content.get("type", "steer")
        if kind not in ("steer", "steer-chat"):
            raise ValidationFailed(f"Unknown frame type {kind!r} (steer, steer-chat, cancel).", field="type")
        chat = kind == "steer-chat"
        data = (s.SteerChatInput if chat else s.SteerCompletionInput)(data=content)
        data.is_valid(raise_exception=True)
        data = data.validated_data
        extra = (
            {
                "default_chat": data["defaultChatMessages"],
                "steered_chat": data["steeredChatMessages"],
                "steer_special_tokens": data["steer_special_tokens"],
            }
            if chat
            else {"prompt": data["prompt"]}
        )
        plan = await database_sync_to_async(steering.steer_prepare)(
            user=self.scope.get("user"), **extra, **s.steer_kwargs(data)
        )
        async for event in steer_events(plan):
            await self.send_json({**event, "requestId": request_id})
