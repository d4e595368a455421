from django.urls import path

from autointerp.api import search, views

urlpatterns = [
    path("explanation/generate", views.explanation_generate, name="api-explanation-generate"),
    path("explanation/new", views.explanation_new, name="api-explanation-new"),
    path("explanation/score", views.explanation_score, name="api-explanation-score"),
    path("explanation/batch", views.explanation_batch, name="api-explanation-batch"),
    # Semantic search (keyword mode kept); these take precedence over features' plain-text views.
    path("explanation/search", search.explanation_search, name="api-explanation-search-semantic"),
    path("explanation/search-all", search.explanation_search_all, name="api-explanation-search-all-semantic"),
    path(
        "explanation/search-model",
        search.explanation_search_model,
        name="api-explanation-search-model-semantic",
    ),
    path(
        "explanation/search-release",
        search.explanation_search_release,
        name="api-explanation-search-release-semantic",
    ),
]
