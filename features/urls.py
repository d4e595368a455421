from django.urls import path, re_path

from features import views

F = "<str:model_id>/<str:source>/<str:index>"

urlpatterns = [
    path("", views.home, name="home"),
    path("jump", views.jump, name="jump"),
    path("favicon.ico", views.favicon, name="favicon"),
    path("release/<str:name>", views.release_page, name="release"),
    path("model/new", views.model_new, name="model-new"),
    path("sae/new", views.sae_new, name="sae-new"),
    path("random", views.random_feature, name="random-feature"),
    path("search", views.search_page, name="search"),
    path("search-inference", views.search_inference_page, name="search-inference"),
    path("steer", views.steer_page, name="steer"),
    path("lists/", views.lists_page, name="lists"),
    path("list/<int:list_id>/", views.list_page, name="list"),
    path("list/<int:list_id>/edit", views.list_edit, name="list-edit"),
    path("list/<int:list_id>/delete", views.list_delete, name="list-delete"),
    path("list/<int:list_id>/items/<int:item_id>/note", views.list_item_note, name="list-item-note"),
    path("list/<int:list_id>/items/<int:item_id>/remove", views.list_item_remove, name="list-item-remove"),
    path("list/<int:list_id>/comment", views.list_comment_post, name="list-comment"),
    path(
        "list/<int:list_id>/comment/<int:comment_id>/delete",
        views.list_comment_delete,
        name="list-comment-delete",
    ),
    path(f"{F}/activations", views.activations_more, name="feature-activations"),
    path(f"{F}/comment", views.comment_post, name="feature-comment"),
    path(f"{F}/comment/<int:comment_id>/delete", views.comment_delete, name="feature-comment-delete"),
    path(f"{F}/bookmark", views.bookmark_toggle, name="feature-bookmark"),
    path(f"{F}/list", views.feature_list_add, name="feature-list-add"),
    # researcher pass (issue 16)
    path(f"{F}/list/remove", views.feature_list_remove, name="feature-list-remove"),
    path(f"{F}/vector", views.feature_vector_download, name="feature-vector"),
    path("<str:model_id>/<str:source>/umap", views.umap_page, name="umap"),
    path("<str:model_id>/<str:source>/umap.json", views.umap_data, name="umap-data"),
    path("<str:model_id>/<str:source>/evals/upload", views.eval_upload, name="eval-upload"),
    # researcher pass (issue 16, item 14)
    path(
        "<str:model_id>/<str:source>/dashboards/generate",
        views.dashboards_generate_page,
        name="dashboards-generate",
    ),
    re_path(
        r"^(?P<model_id>[^/]+)/(?P<source>[^/]+)/(?P<index>[^/]+)/explanation/(?P<explanation_id>\d+)/"
        r"(?P<action>vote|unvote|delete)$",
        views.explanation_vote,
        name="feature-explanation-action",
    ),
    path(F, views.feature_page, name="feature"),
    path("<str:model_id>/evals", views.model_evals_page, name="model-evals"),
    path("<str:model_id>/<str:name>", views.model_child_page, name="model-child"),
    path("<str:model_id>", views.model_page, name="model"),
]
