from django.urls import path

from autointerp.api import views

urlpatterns = [
    path("explanation/generate", views.explanation_generate, name="api-explanation-generate"),
    path("explanation/new", views.explanation_new, name="api-explanation-new"),
    path("explanation/score", views.explanation_score, name="api-explanation-score"),
]
