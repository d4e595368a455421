from django.urls import path

from features.api import social

urlpatterns = [
    path("list/new", social.list_new, name="api-list-new"),
    path("list/new-with-features", social.list_new_with_features, name="api-list-new-with-features"),
    path("list/add-features", social.list_add_features, name="api-list-add-features"),
    path("list/remove", social.list_remove, name="api-list-remove"),
    path("list/get", social.list_get, name="api-list-get"),
    path("list/list", social.list_list, name="api-list-list"),
    path("list/update", social.list_update, name="api-list-update"),
    path("list/delete", social.list_delete, name="api-list-delete"),
    path("explanation/search", social.explanation_search, name="api-explanation-search"),
    path("explanation/search-all", social.explanation_search_all, name="api-explanation-search-all"),
    path("explanation/search-model", social.explanation_search_model, name="api-explanation-search-model"),
    path(
        "explanation/search-release", social.explanation_search_release, name="api-explanation-search-release"
    ),
    path("explanation/<str:explanation_id>/vote", social.explanation_vote, name="api-explanation-vote"),
    path("explanation/<str:explanation_id>/unvote", social.explanation_unvote, name="api-explanation-unvote"),
    path("explanation/<str:explanation_id>/delete", social.explanation_delete, name="api-explanation-delete"),
    path("bookmark/add", social.bookmark_add, name="api-bookmark-add"),
    path("bookmark/delete", social.bookmark_delete, name="api-bookmark-delete"),
]
