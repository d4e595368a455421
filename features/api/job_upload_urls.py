from django.urls import path

from features.api.job_upload import SaeDashboardUploadApi

urlpatterns = [
    path("jobs/upload-saedashboard", SaeDashboardUploadApi.as_view(), name="api-jobs-upload-saedashboard")
]
