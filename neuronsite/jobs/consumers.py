"""``/ws/jobs/``: live job events. Anyone receives public jobs (the demo on the home page);
a signed-in user their own; staff every job. Frames: ``{"type": "job", "job": {...}}``."""

from __future__ import annotations

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

    async def receive_json(self, content, **kwargs):
        try:  # a flood of frames costs the sender's write budget (issue 10)
            await database_sync_to_async(ws_rate_limit_hit)(self.scope, kind="write")
        except RateLimited as exc:
            await self.send_json({**rate_limited_frame(exc), "message": exc.message})
            return
        await self.send_json({"type": "error", "message": "this socket only sends job events"})

    async def job_update(self, event):
        await self.send_json({"type": "job", "job": event["job"]})
