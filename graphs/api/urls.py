from django.urls import path

from graphs.api import views

urlpatterns = [
    path("graph/generate", views.graph_generate, name="api-graph-generate"),
    path("graph/generate-job", views.graph_generate_job, name="api-graph-generate-job"),
    path("graph/job/<int:job_id>", views.graph_job, name="api-graph-job"),
    path("steer-logits", views.steer_logits, name="api-steer-logits"),
    path("graph/list-owned", views.graph_list_owned, name="api-graph-list-owned"),
    path("graph/delete", views.graph_delete, name="api-graph-delete"),
    path("graph/signed-put", views.graph_signed_put, name="api-graph-signed-put"),
    path("graph/save-to-db", views.graph_save_to_db, name="api-graph-save-to-db"),
    path("graph/validate", views.graph_validate, name="api-graph-validate"),
    path("graph/subgraph/save", views.subgraph_save, name="api-subgraph-save"),
    path("graph/subgraph/list", views.subgraph_list, name="api-subgraph-list"),
    path("graph/subgraph/delete", views.subgraph_delete, name="api-subgraph-delete"),
    path("graph/subgraph/<int:subgraph_id>", views.subgraph_get, name="api-subgraph-get"),
    path("graph-upload/<str:token>", views.graph_upload, name="api-graph-upload"),
    path("graph/<str:model_id>/<str:slug>/json", views.graph_file, name="api-graph-file"),
    path("graph/<str:model_id>/<str:slug>", views.graph_get, name="api-graph-get"),
]
