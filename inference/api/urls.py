from django.urls import path

from inference.api import views

urlpatterns = [
    path("activation/new", views.activation_new, name="api-activation-new"),
    path("search-all", views.search_all, name="api-search-all"),
    path("search-all/<str:share_id>", views.search_all_get, name="api-search-all-get"),
    path("search-topk-by-token", views.search_topk_by_token, name="api-search-topk-by-token"),
    path("cossim", views.cossim, name="api-cossim"),
    path("tokenize", views.tokenize, name="api-tokenize"),
    path("steer", views.steer, name="api-steer"),
    path("steer/<str:share_id>", views.steer_get, name="api-steer-get"),
    path("steer-chat", views.steer_chat, name="api-steer-chat"),
]
