from django.urls import path

from models_app.api import views

urlpatterns = [
    path("model/list", views.model_list, name="api-model-list"),
    path("model/get", views.model_get, name="api-model-get"),
    path("source-set/<str:model_id>/<str:name>", views.source_set_get, name="api-source-set-get"),
]
