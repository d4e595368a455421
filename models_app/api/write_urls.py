from django.urls import path

from models_app.api import write

urlpatterns = [
    path("model/new", write.model_new, name="api-model-new"),
    path("source-set/new", write.source_set_new, name="api-source-set-new"),
]
