from django.urls import path

from graphs import views

urlpatterns = [
    path("<str:model_id>/graph", views.graph_page, name="graph-page"),
]
