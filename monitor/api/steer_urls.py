from django.urls import path

from monitor.api import steer_views

urlpatterns = [
    path("monitor/linter", steer_views.monitor_linter, name="api-monitor-linter"),
    path("monitor/steer/search", steer_views.monitor_steer_search, name="api-monitor-steer-search"),
    path("monitor/steer", steer_views.monitor_steer, name="api-monitor-steer"),
]
