"""Monitor API: conversations, chat, active concepts, attribution (issue 15 items 1, 2, 4, 6)."""

from django.urls import path

from monitor.api import views

C = "monitor/conversation/<int:conversation_id>"

urlpatterns = [
    path("monitor/conversation/new", views.conversation_new, name="api-monitor-conversation-new"),
    path("monitor/conversations", views.conversation_list, name="api-monitor-conversations"),
    path(C, views.conversation_get, name="api-monitor-conversation"),
    path(f"{C}/sources", views.conversation_sources, name="api-monitor-sources"),
    path(f"{C}/clear", views.conversation_clear, name="api-monitor-clear"),
    path(f"{C}/send", views.conversation_send, name="api-monitor-send"),
    path(f"{C}/regenerate", views.conversation_regenerate, name="api-monitor-regenerate"),
    path(f"{C}/concepts", views.conversation_concepts, name="api-monitor-concepts"),
    path(f"{C}/attribution", views.conversation_attribution, name="api-monitor-attribution"),
]
