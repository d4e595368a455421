"""Websocket routes. Each app that streams adds its consumers here."""

from django.urls import path

from inference.consumers import ActivationConsumer, SteerConsumer
from monitor.consumers import MonitorConsumer
from neuronsite.jobs.consumers import JobConsumer

websocket_urlpatterns: list = [
    path("ws/activation/", ActivationConsumer.as_asgi()),
    path("ws/steer/", SteerConsumer.as_asgi()),
    path("ws/jobs/", JobConsumer.as_asgi()),  # jobs (issue 12)
    path("ws/monitor/", MonitorConsumer.as_asgi()),  # monitor chat (issue 15)
]
