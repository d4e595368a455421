from django.urls import path

from monitor.api import steer_views

urlpatterns = [
    path("monitor/linter", steer_views.monitor_linter, name="api-monitor-linter"),
    path("monitor/steer/search", steer_views.monitor_steer_search, name="api-monitor-steer-search"),
    path("monitor/steer", steer_views.monitor_steer, name="api-monitor-steer"),
    path(
        "monitor/conversation/<int:conversation_id>/specs",
        steer_views.conversation_specs,
        name="api-monitor-specs",
    ),
    path(
        "monitor/conversation/<int:conversation_id>/specs/<int:spec_id>",
        steer_views.conversation_spec,
        name="api-monitor-spec",
    ),
]
