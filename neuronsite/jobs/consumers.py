"""``/ws/jobs/``: live job events. Anyone receives public jobs (the demo on the home page);
a signed-in user their own; staff every job. Frames: ``{"type": "job", "job": {...}}``.

The socket only sends. Whatever a client sends (a JSON frame, a binary frame, text that is not JSON
or is nested too deep to parse) is answered with an error frame
``{"type": "error", "error": "...", "message": "..."}`` and the socket stays open; each frame counts
against the sender's write budget (issue 10)."""

from __future__ import annotations

import json

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from neuronsite.errors import RateLimited
from neuronsite.jobs.events import GROUP_PUBLIC, GROUP_STAFF, group_for_user, layer_is_shared
from neuronsite.ratelimit import rate_limited_frame, ws_rate_limit_hit


class JobConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        user = self.scope.get("user")
        if user is not None and user.is_authenticated and user.is_staff:
            self.groups_joined = [GROUP_STAFF]
        elif user is not None and user.is_authenticated:
            self.groups_joined = [GROUP_PUBLIC, group_for_user(user.pk)]
        else:
            self.groups_joined = [GROUP_PUBLIC]
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        if not layer_is_shared():
            from neuronsite.jobs.bridge import ensure_listening

            await ensure_listening()
        await self.accept()
        await self.send_json({"type": "ready"})

    async def disconnect(self, code):
        for group in getattr(self, "groups_joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None, **kwargs):
        # AsyncJsonWebsocketConsumer would raise on a binary frame or bad JSON (a 1011 close and a
        # traceback); every frame is answered here instead.
        try:  # a flood of frames costs the sender's write budget (issue 10)
            await database_sync_to_async(ws_rate_limit_hit)(self.scope, kind="write")
        except RateLimited as exc:
            await self.send_json({**rate_limited_frame(exc), "message": exc.message})
            return
        if text_data is None:
            await self._error("Binary frames are not accepted: this socket only sends job events.")
            return
        try:
            json.loads(text_data)
        except (ValueError, RecursionError):
            await self._error("Frame is not valid JSON; this socket only sends job events.")
            return
        await self._error("this socket only sends job events")

    async def _error(self, message: str) -> None:
        await self.send_json({"type": "error", "error": message, "message": message})

    async def job_update(self, event):
        await self.send_json({"type": "job", "job": event["job"]})
