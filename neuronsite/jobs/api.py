"""``/api/jobs``: list, detail, cancel, retry (JSON; errors as ``{"error": ...}``)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from neuronsite.errors import NotAuthenticated
from neuronsite.jobs import selectors, services
from neuronsite.jobs.events import job_payload
from neuronsite.openapi import JOB, JOB_BODY, array, obj, ok

# A job's id (a bigint key): its bounds in the schema; an id with no job answers 404.
JOB_ID = OpenApiParameter(
    "job_id", {"type": "integer", "minimum": 0, "maximum": 2**63 - 1}, OpenApiParameter.PATH, required=True
)


class JobListApi(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter(
                "mine",
                {"type": "string", "enum": ["1", "true", "0", "false"]},
                description='"1" or "true": only your own jobs',
            )
        ],
        responses=ok(obj(("jobs",), jobs=array(JOB)), "the jobs this user may see, newest first"),
    )
    def get(self, request):
        mine = request.query_params.get("mine") in ("1", "true")
        return Response(
            {"jobs": [job_payload(j) for j in selectors.jobs_list(user=request.user, mine_only=mine)]}
        )


class JobDetailApi(APIView):
    @extend_schema(parameters=[JOB_ID], responses=ok(JOB_BODY))
    def get(self, request, job_id: int):
        return Response({"job": job_payload(selectors.job_get(job_id=job_id, user=request.user))})


class JobCancelApi(APIView):
    @extend_schema(parameters=[JOB_ID], request=None, responses=ok(JOB_BODY))
    def post(self, request, job_id: int):
        if not request.user.is_authenticated:
            raise NotAuthenticated()
        selectors.job_get(job_id=job_id, user=request.user)  # 404 for jobs one cannot see
        return Response({"job": job_payload(services.job_cancel(job_id=job_id, user=request.user))})


class JobRetryApi(APIView):
    @extend_schema(parameters=[JOB_ID], request=None, responses=ok(JOB_BODY))
    def post(self, request, job_id: int):
        if not request.user.is_authenticated:
            raise NotAuthenticated()
        selectors.job_get(job_id=job_id, user=request.user)
        return Response({"job": job_payload(services.job_retry(job_id=job_id, user=request.user))})
