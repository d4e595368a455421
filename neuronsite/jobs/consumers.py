"""``/ws/jobs/``: live job events. Anyone receives public jobs (the demo on the home page);
a signed-in user their own; staff every job. Frames: ``{"type": "job", "job": {...}}``."""

from __future__ import annotations

from channels.generic.websocket import AsyncJsonWebsocketConsumer

from neuronsite.jobs.events import GROUP_PUBLIC, GROUP_STAFF, group_for_user, layer_is_shared


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
        await self.send_json({"type": "error", "message": "this socket only sends job events"})

    async def job_update(self, event):
        await self.send_json({"type": "job", "job": event["job"]})
