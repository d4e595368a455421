"""Websocket routes. Each app that streams adds its consumers here."""

websocket_urlpatterns: list = []
