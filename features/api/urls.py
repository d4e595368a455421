from django.urls import path

from features.api import views

urlpatterns = [
    path("feature/<str:model_id>/<str:source>/<str:index>", views.feature_get, name="api-feature-get"),
    path("comment/new", views.comment_new, name="api-comment-new"),
    path("comment/delete", views.comment_delete, name="api-comment-delete"),
]
