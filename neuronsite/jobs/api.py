"""``/api/jobs``: list, detail, cancel, retry (JSON; errors as ``{"error": ...}``)."""

from __future__ import annotations

from rest_framework.response import Response
from rest_framework.views import APIView

from neuronsite.errors import NotAuthenticated
from neuronsite.jobs import selectors, services
from neuronsite.jobs.events import job_payload


class JobListApi(APIView):
    def get(self, request):
        mine = request.query_params.get("mine") in ("1", "true")
        return Response(
            {"jobs": [job_payload(j) for j in selectors.jobs_list(user=request.user, mine_only=mine)]}
        )


class JobDetailApi(APIView):
    def get(self, request, job_id: int):
        return Response({"job": job_payload(selectors.job_get(job_id=job_id, user=request.user))})


class JobCancelApi(APIView):
    def post(self, request, job_id: int):
        if not request.user.is_authenticated:
            raise NotAuthenticated()
        selectors.job_get(job_id=job_id, user=request.user)  # 404 for jobs one cannot see
        return Response({"job": job_payload(services.job_cancel(job_id=job_id, user=request.user))})


class JobRetryApi(APIView):
    def post(self, request, job_id: int):
        if not request.user.is_authenticated:
            raise NotAuthenticated()
        selectors.job_get(job_id=job_id, user=request.user)
        return Response({"job": job_payload(services.job_retry(job_id=job_id, user=request.user))})
