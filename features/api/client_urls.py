from django.urls import path

from features.api import client

urlpatterns = [
    path("features", client.features_batch, name="api-features-batch"),
    path("activation/get", client.activation_get, name="api-activation-get"),
    path("explanation/export", client.explanation_export, name="api-explanation-export"),
    path("explanation/<int:explanation_id>", client.explanation_get, name="api-explanation-get"),
    path("list/comment/new", client.list_comment_new, name="api-list-comment-new"),
    path("user/bookmarks", client.user_bookmarks, name="api-user-bookmarks"),
]
