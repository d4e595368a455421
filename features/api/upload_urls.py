from django.urls import path

from features.api import upload

urlpatterns = [
    path("feature/upload-batch", upload.feature_upload_batch, name="api-feature-upload-batch"),
    path("activation/upload-batch", upload.activation_upload_batch, name="api-activation-upload-batch"),
    path("vector/new", upload.vector_new, name="api-vector-new"),
    path("vector/get", upload.vector_get, name="api-vector-get"),
    path("vector/list-owned", upload.vector_list_owned, name="api-vector-list-owned"),
    path("vector/delete", upload.vector_delete, name="api-vector-delete"),
]
