from django.urls import path

from inference.api import client_views

urlpatterns = [
    path("activation/source", client_views.activation_source, name="api-activation-source"),
]
