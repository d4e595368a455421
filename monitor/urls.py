from django.urls import path

from monitor import views

urlpatterns = [
    path("monitor", views.monitor_index, name="monitor-index"),
    path("<str:model_id>/monitor", views.monitor_page, name="monitor"),
]
