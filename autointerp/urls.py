from django.urls import path

from autointerp import views

urlpatterns = [
    path("search", views.search_page, name="search"),  # semantic/keyword; replaces features' page
    path("account/llm-key/", views.llm_key_page, name="autointerp-llm-key"),
    path(
        "autointerp/generate/<str:model_id>/<str:source>/<str:index>",
        views.generate_from_page,
        name="autointerp-generate",
    ),
    path(
        "autointerp/batch/<str:model_id>/<str:source>/<str:kind>",
        views.batch_job_page,
        name="autointerp-batch",
    ),
    path(
        "autointerp/score/<str:model_id>/<str:source>/<str:index>/<int:explanation_id>",
        views.score_from_page,
        name="autointerp-score",
    ),
]
