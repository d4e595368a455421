"""``POST /api/jobs/upload-saedashboard`` (multipart: ``model``, ``sourceSet``, ``files``…) → an import job."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from features.importers.web_upload import neuronpedia_archive_job_create, saedashboard_upload_job_create
from neuronsite.errors import NotAuthenticated
from neuronsite.fields_api import NOT_BLANK, SafeCharField, validated_data
from neuronsite.jobs.events import job_payload
from neuronsite.openapi import JOB_BODY


class UploadNamesInput(serializers.Serializer):
    """The form's names, checked before anything is stored (no NUL, bounded)."""

    model = SafeCharField(max_length=128)
    sourceSet = SafeCharField(max_length=128)


_NAME = {"type": "string", "minLength": 1, "maxLength": 128, "pattern": NOT_BLANK}


class SaeDashboardUploadApi(APIView):
    parser_classes = [MultiPartParser]

    @extend_schema(
        request={
            "multipart/form-data": {
                "type": "object",
                "required": ["model", "sourceSet", "files"],
                "properties": {
                    "model": _NAME,
                    "sourceSet": _NAME,
                    "files": {
                        "type": "array",
                        "minItems": 1,
                        "items": {"type": "string", "format": "binary"},
                    },
                },
            }
        },
        responses={201: OpenApiResponse(JOB_BODY, description="the import job, queued")},
        summary="Import SAEDashboard batch-N.json files as a job (model and source set are created if new)",
    )
    def post(self, request):
        if not request.user.is_authenticated:
            raise NotAuthenticated()
        names = validated_data(
            UploadNamesInput, {"model": request.data.get("model"), "sourceSet": request.data.get("sourceSet")}
        )
        job = saedashboard_upload_job_create(
            user=request.user,
            model=names["model"],
            source_set=names["sourceSet"],
            files=request.FILES.getlist("files"),
        )
        return Response({"job": job_payload(job)}, status=201)


class NeuronpediaArchiveUploadApi(APIView):
    """``POST /api/jobs/upload-neuronpedia`` (multipart ``archive``: .zip / .tar.gz of an export;
    with ``model`` + ``sourceSet``: into that source set you own, else the whole export: staff)."""

    parser_classes = [MultiPartParser]

    @extend_schema(responses={201: OpenApiResponse(JOB_BODY, description="the import job, queued")})
    def post(self, request):
        if not request.user.is_authenticated:
            raise NotAuthenticated()
        job = neuronpedia_archive_job_create(
            user=request.user,
            archive=request.FILES.get("archive"),
            model=(request.data.get("model") or "").strip(),
            source_set=(request.data.get("sourceSet") or "").strip(),
        )
        return Response({"job": job_payload(job)}, status=201)
