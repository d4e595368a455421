from django.urls import path

from neuronsite.jobs import api

urlpatterns = [
    path("jobs", api.JobListApi.as_view(), name="api-jobs"),
    path("jobs/<int:job_id>", api.JobDetailApi.as_view(), name="api-job"),
    path("jobs/<int:job_id>/cancel", api.JobCancelApi.as_view(), name="api-job-cancel"),
    path("jobs/<int:job_id>/retry", api.JobRetryApi.as_view(), name="api-job-retry"),
]
