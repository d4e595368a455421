from django.urls import path

from features.api.job_upload import NeuronpediaArchiveUploadApi, SaeDashboardUploadApi

urlpatterns = [
    path("jobs/upload-saedashboard", SaeDashboardUploadApi.as_view(), name="api-jobs-upload-saedashboard"),
    path(
        "jobs/upload-neuronpedia", NeuronpediaArchiveUploadApi.as_view(), name="api-jobs-upload-neuronpedia"
    ),
]
