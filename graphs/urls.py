from django.urls import path

from graphs import views

urlpatterns = [
    path("graph/validate", views.graph_validator_page, name="graph-validate"),
    path("<str:model_id>/graph", views.graph_page, name="graph-page"),
]
