"""Websockets that stream inference: ``/ws/activation/`` and ``/ws/steer/``.

Both speak JSON frames. Every client frame may carry a ``requestId`` (any string/number, echoed in
every server frame about that request). A connection runs at most
``INFERENCE_MAX_IN_FLIGHT_PER_CONNECTION`` requests at a time; more get an error frame. A bad frame
gets ``{"type": "error", "requestId": ..., "error": "<what is wrong>"}`` and the socket stays open.
Closing the socket cancels its generations (they stop being scheduled on the engine).

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
             "token": "<raw token string>", "text": "<cumulative text of that kind>"}
            (completion: prompt + completion so far; chat: the assistant's reply so far)
    server, at the end: {"type": "done", "requestId": "a", <what POST /api/steer(-chat) returns:
             STEERED, DEFAULT, id, defaultId, modelId, features, settings, cached>}
            A request served from the cache answers with "done" only.
    server, after a cancel: {"type": "cancelled", "requestId": "a"}
"""

from __future__ import annotations

import asyncio
from functools import partial

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from rest_framework.exceptions import APIException

from inference.engine import get_engine
from inference.engine.steer import advance
from neuronsite.errors import ApplicationError, ValidationFailed, flatten_message


def _error_text(exc: Exception) -> str:
    if isinstance(exc, ApplicationError):
        return exc.message
    if isinstance(exc, APIException):  # an input serializer's is_valid(raise_exception=True)
        return flatten_message(exc.detail)
    return f"{type(exc).__name__}: {exc}"


class _InferenceConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        self.tasks: dict[object, asyncio.Task] = {}
        await self.accept()

    async def disconnect(self, code):
        for task in list(self.tasks.values()):
            task.cancel()

    async def decode_json(self, text_data):
        import json

        try:
            return json.loads(text_data)
        except ValueError:
            return {"__invalid__": "Frame is not valid JSON."}

    async def receive_json(self, content, **kwargs):
        if not isinstance(content, dict) or "__invalid__" in content:
            error = (
                content.get("__invalid__") if isinstance(content, dict) else "Frame must be a JSON object."
            )
            await self.send_json({"type": "error", "requestId": None, "error": error})
            return
        request_id = content.get("requestId")
        if content.get("type") == "cancel":
            task = self.tasks.get(request_id)
            if task:
                task.cancel()
            return
        if request_id in self.tasks:
            await self.send_json(
                {"type": "error", "requestId": request_id, "error": "requestId already in flight."}
            )
            return
        limit = settings.INFERENCE_MAX_IN_FLIGHT_PER_CONNECTION
        if len(self.tasks) >= limit:
            await self.send_json(
                {
                    "type": "error",
                    "requestId": request_id,
                    "error": f"Too many requests in flight on this connection (limit {limit}).",
                }
            )
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
            await self.send_json({"type": "error", "requestId": request_id, "error": _error_text(exc)})

    async def handle(self, request_id, content):  # pragma: no cover - abstract
        raise NotImplementedError


class ActivationConsumer(_InferenceConsumer):
    async def handle(self, request_id, content):
        from inference.api.serializers import ActivationNewInput
        from inference.services import activation_new

        data = ActivationNewInput(data=content)
        data.is_valid(raise_exception=True)
        data = data.validated_data
        texts = data["customText"]
        user = self.scope.get("user")
        results = await database_sync_to_async(activation_new)(
            user=user,
            model_id=data["feature"]["modelId"],
            source_name=data["feature"]["source"],
            index=data["feature"]["index"],
            texts=[texts] if isinstance(texts, str) else texts,
        )
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

        kind = content.get("type", "steer")
        if kind not in ("steer", "steer-chat"):
            raise ValidationFailed(f"Unknown frame type {kind!r} (steer, steer-chat, cancel).")
        chat = kind == "steer-chat"
        data = (s.SteerChatInput if chat else s.SteerCompletionInput)(data=content)
        data.is_valid(raise_exception=True)
        data = data.validated_data
        user = self.scope.get("user")
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
            user=user, **extra, **s.steer_kwargs(data)
        )
        if not plan.missing:
            rows = plan.cached
            response = await database_sync_to_async(steering.steer_response)(rows, cached=True)
            await self.send_json({"type": "done", "requestId": request_id, **response})
            return
        engine = get_engine()
        gens = await engine.run(steering.steer_generations, plan)
        with_text = partial(steering.cumulative, plan)
        slice_s = settings.INFERENCE_STEP_SLICE_MS / 1000
        while not all(g.done for g in gens.values()):
            events = await engine.run(advance, gens, slice_s=slice_s, with_text=with_text)
            for kind, _tok, raw, text in events:
                await self.send_json(
                    {"type": "token", "requestId": request_id, "kind": kind, "token": raw, "text": text}
                )
        outputs = {}
        for kind, gen in gens.items():
            outputs[kind] = await engine.run(steering.generation_output, plan, kind, gen)
        rows = await database_sync_to_async(steering.steer_outputs_save)(plan=plan, outputs=outputs)
        response = await database_sync_to_async(steering.steer_response)(rows)
        await self.send_json({"type": "done", "requestId": request_id, **response})
