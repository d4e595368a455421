"""Graph API: generate, get, list-owned, delete, the upload flow (signed-put → PUT → save-to-db),
the stored gzip file, schema validation and subgraphs."""

from __future__ import annotations

import io

from django.http import FileResponse, HttpResponseNotModified, JsonResponse
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.decorators import api_view, permission_classes
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from graphs import selectors, services, storage
from graphs.api import openapi_bodies as b
from graphs.api.serializers import (
    GenerateInput,
    ModelSlugInput,
    SaveToDbInput,
    SignedPutInput,
    SteerLogitsInput,
    SubgraphIdInput,
    SubgraphInput,
    graph_metadata_json,
    subgraph_json,
)
from graphs.schema import graph_schema_errors
from graphs.services import jobs as graph_jobs
from neuronsite.api import application_error_response, validated
from neuronsite.errors import ApplicationError, PermissionDenied, ValidationFailed
from neuronsite.jobs.events import job_payload
from neuronsite.openapi import JOB_BODY, MESSAGE, array, obj, ok


def _graph_url(request, graph) -> str:
    return request.build_absolute_uri(f"/{graph.model.name}/graph?slug={graph.slug}")


def _generate_fields(v: dict) -> dict:
    return {
        "model_name": v["modelId"],
        "prompt": v.get("prompt"),
        "messages": [dict(m) for m in v.get("messages") or []] or None,
        "source_set_name": v.get("sourceSetName") or None,
        "slug": v.get("slug") or None,
        "params": {name: v.get(name) for name in services.GENERATE_RANGES},
    }


def _busy_response(exc: graph_jobs.GpusBusy) -> Response:
    response = application_error_response(exc)
    response["Retry-After"] = str(exc.retry_after)
    return response


@extend_schema(
    request=GenerateInput,
    responses={
        200: OpenApiResponse(b.GENERATED, description="the graph, generated and saved"),
        202: OpenApiResponse(b.GENERATE_PENDING, description="still running: follow jobUrl"),
    },
    summary="Generate an attribution graph (circuit-tracer)",
)
@api_view(["POST"])
def graph_generate(request):
    """Neuronpedia's synchronous answer; the work is a job on the GPU queue, run inline when no
    worker is alive, else waited for (``graphs.services.jobs``). 202 with ``jobId`` when the job
    outlives ``GRAPH_GENERATE_WAIT_SECONDS``; 503 "GPUs Busy" with Retry-After when the queue is full."""
    v = validated(GenerateInput, request)
    try:
        answer = graph_jobs.graph_generate_answer(user=request.user, **_generate_fields(v))
    except graph_jobs.GpusBusy as exc:
        return _busy_response(exc)
    if not answer.done:
        return Response(
            {
                "message": "Graph generation is still running; the graph appears at url when the job ends.",
                "jobId": answer.job.pk,
                "jobUrl": request.build_absolute_uri(_job_url(request, answer.job)),
                "url": request.build_absolute_uri(_pending_url(answer.job)),
            },
            status=202,
        )
    result = answer.result
    return Response(
        {
            "message": "Graph generated and saved",
            "s3url": request.build_absolute_uri(
                reverse("api-graph-file", args=[result["model"], result["slug"]])
            ),
            "url": request.build_absolute_uri(result["url"]),
            "numNodes": result["numNodes"],
            "numLinks": result["numLinks"],
            "jobId": answer.job.pk,
        }
    )


def _job_url(request, job) -> str:
    """Where the caller follows its job: the jobs API for a signed-in owner; for an anonymous
    caller a graph-job URL carrying a token that only this answer hands out."""
    if request.user.is_authenticated:
        return reverse("api-job", args=[job.pk])
    token = graph_jobs.graph_job_token(job)
    return f"{reverse('api-graph-job', args=[job.pk])}?token={token}"


@extend_schema(
    summary="A graph generation job (by the token from jobUrl, or one's own)",
    parameters=[
        OpenApiParameter(
            "token",
            {"type": "string", "maxLength": 100, "pattern": "^[A-Za-z0-9_-]*$"},
            description="the token from jobUrl (anonymous callers); a wrong one finds no job (404)",
        )
    ],
    responses=ok(JOB_BODY),
)
@api_view(["GET"])
def graph_job(request, job_id: int):
    job = graph_jobs.graph_job_get(job_id=job_id, user=request.user, token=request.query_params.get("token"))
    return Response({"job": job_payload(job)})


def _pending_url(job) -> str:
    req = job.parts[0]["kwargs"]["request"]
    return f"/{req['model_name']}/graph?slug={req['slug']}"


@extend_schema(
    request=GenerateInput,
    responses={202: OpenApiResponse(b.GENERATE_JOB, description="the job, queued")},
    summary="Queue an attribution graph generation (a job)",
)
@api_view(["POST"])
@permission_classes([IsAuthenticated])
def graph_generate_job(request):
    """The viewer's Generate form: queue the job and answer at once (202 with the job); its
    progress arrives over ``/ws/jobs/`` and ``GET /api/jobs/{id}``."""
    v = validated(GenerateInput, request)
    try:
        job = graph_jobs.graph_job_create(user=request.user, **_generate_fields(v))
    except graph_jobs.GpusBusy as exc:
        return _busy_response(exc)
    return Response(
        {"job": job_payload(job), "url": request.build_absolute_uri(_pending_url(job))}, status=202
    )


@extend_schema(summary="A graph's metadata row", responses=ok(b.GRAPH))
@api_view(["GET"])
def graph_get(request, model_id: str, slug: str):
    graph = selectors.graph_get(model_name=model_id, slug=slug, user=request.user)
    return Response(graph_metadata_json(request, graph))


def graph_file(request, model_id: str, slug: str):
    """The stored graph JSON, sent gzip-encoded as stored (never inflated here); with
    ``?pruningThreshold=0.2..0.99`` a pruned view (fewer nodes and links), gzip too. Cached by
    ETag: ``If-None-Match`` with the current one answers 304 without reading the file."""
    raw_threshold = request.GET.get("pruningThreshold")
    try:
        threshold = None
        if raw_threshold is not None:
            try:
                threshold = float(raw_threshold)
            except ValueError:
                threshold = -1.0
            if not 0.2 <= threshold <= 0.99:
                raise ValidationFailed("must be a number between 0.2 and 0.99", field="pruningThreshold")
        graph = selectors.graph_get(model_name=model_id, slug=slug, user=request.user)
        # The stored file's name changes whenever the graph is replaced; a pruned view is its own entity.
        view = "" if threshold is None else f"-p{threshold:g}"
        etag = f'"{graph.pk}-{graph.file.name.rsplit("/", 1)[-1]}{view}"'
        cache = "public, max-age=3600" if graph.visibility == "PUBLIC" else "private, max-age=3600"
        if etag in [t.strip() for t in request.headers.get("If-None-Match", "").split(",")]:
            response = HttpResponseNotModified()
            response["ETag"], response["Cache-Control"] = etag, cache
            return response
        if threshold is not None:
            data = storage.inflate_json(storage.graph_file_bytes(graph.file.name), max_bytes=2**34)
            handle = io.BytesIO(storage.graph_dumps(storage.pruned_view(data, threshold=threshold)))
        else:
            handle = storage.graph_storage().open(graph.file.name, "rb")
    except ApplicationError as exc:
        return JsonResponse(exc.as_dict(), status=exc.status)
    except FileNotFoundError:
        return JsonResponse({"error": "The graph file is missing from storage."}, status=404)
    response = FileResponse(handle, content_type="application/json")
    response["Content-Encoding"] = "gzip"
    response["Cache-Control"] = cache
    response["ETag"] = etag
    return response


@extend_schema(summary="Graphs owned by the caller", request=None, responses=ok(array(b.GRAPH)))
@api_view(["POST"])
@permission_classes([IsAuthenticated])
def graph_list_owned(request):
    return Response([graph_metadata_json(request, g) for g in selectors.graphs_owned(user=request.user)])


@extend_schema(request=ModelSlugInput, summary="Delete an owned graph", responses=ok(MESSAGE))
@api_view(["POST"])
@permission_classes([IsAuthenticated])
def graph_delete(request):
    v = validated(ModelSlugInput, request)
    services.graph_delete(user=request.user, model_name=v["modelId"], slug=v["slug"])
    return Response({"message": "Graph deleted"})


@extend_schema(
    request=SignedPutInput, summary="A signed URL to PUT a gzip graph file to", responses=ok(b.SIGNED_PUT)
)
@api_view(["POST"])
@permission_classes([IsAuthenticated])
def graph_signed_put(request):
    v = validated(SignedPutInput, request)
    token = services.graph_upload_begin(
        user=request.user, filename=v["filename"], content_length=v["contentLength"]
    )
    url = request.build_absolute_uri(reverse("api-graph-upload", args=[token]))
    return Response({"url": url, "putRequestId": token})


@csrf_exempt
def graph_upload(request, token: str):
    """The signed-put target: the signature in the URL is the authorisation."""
    if request.method != "PUT":
        return JsonResponse({"error": "Use PUT to upload the gzip file."}, status=405)
    try:
        length = request.META.get("CONTENT_LENGTH")
        services.graph_upload_receive(
            token=token, stream=request, content_length=int(length) if length else None
        )
    except ApplicationError as exc:
        return JsonResponse(exc.as_dict(), status=exc.status)
    return JsonResponse({"message": "Uploaded"})


@extend_schema(request=SaveToDbInput, summary="Validate an uploaded graph and save it", responses=ok(b.SAVED))
@api_view(["POST"])
@permission_classes([IsAuthenticated])
def graph_save_to_db(request):
    v = validated(SaveToDbInput, request)
    graph = services.graph_save_to_db(user=request.user, put_request_id=v["putRequestId"])
    return Response({"message": "Graph saved to database", "url": _graph_url(request, graph)})


@extend_schema(
    summary="Validate graph JSON against the schema (no save)",
    request={"application/json": {"type": "object", "description": "the graph JSON to check"}},
    responses=ok(b.VALIDATION),
)
@api_view(["POST"])
def graph_validate(request):
    errors = graph_schema_errors(request.data)
    return Response({"valid": not errors, "errors": errors})


@extend_schema(
    request=SubgraphInput,
    summary="Save (create or update) a subgraph",
    responses=ok(obj(("subgraph",), subgraph=b.SUBGRAPH)),
)
@api_view(["POST"])
@permission_classes([IsAuthenticated])
def subgraph_save(request):
    v = validated(SubgraphInput, request)
    graph = selectors.graph_get(model_name=v["modelId"], slug=v["slug"], user=request.user)
    if v.get("featured") and not request.user.is_staff and graph.owner_id != request.user.pk:
        raise PermissionDenied("Only the graph's owner can feature a subgraph.")
    sub = services.subgraph_save(
        user=request.user,
        graph=graph,
        subgraph_id=v.get("subgraphId"),
        fields={
            "display_name": v.get("displayName") or "",
            "pinned_ids": v["pinnedIds"],
            "supernodes": v.get("supernodes") or [],
            "clerps": v.get("clerps") or [],
            "prune_threshold": v.get("pruningThreshold"),
            "density_threshold": v.get("densityThreshold"),
            "pinned": bool(v.get("featured")),
        },
    )
    return Response({"subgraph": subgraph_json(sub)})


@extend_schema(
    request=ModelSlugInput, summary="Subgraphs of a graph (own and featured)", responses=ok(array(b.SUBGRAPH))
)
@api_view(["POST"])
def subgraph_list(request):
    v = validated(ModelSlugInput, request)
    graph = selectors.graph_get(model_name=v["modelId"], slug=v["slug"], user=request.user)
    return Response([subgraph_json(s) for s in selectors.subgraphs_for(graph=graph, user=request.user)])


@extend_schema(request=SubgraphIdInput, summary="Delete an owned subgraph", responses=ok(MESSAGE))
@api_view(["POST"])
@permission_classes([IsAuthenticated])
def subgraph_delete(request):
    v = validated(SubgraphIdInput, request)
    services.subgraph_delete(user=request.user, subgraph_id=v["subgraphId"])
    return Response({"message": "Subgraph deleted"})


@extend_schema(
    request=SteerLogitsInput,
    summary="Graph steering: default vs steered generations",
    responses=ok(b.STEER_LOGITS),
)
@api_view(["POST"])
def steer_logits(request):
    v = validated(SteerLogitsInput, request)
    return Response(
        services.graph_steer_logits(
            user=request.user,
            model_name=v["modelId"],
            source_set_name=v.get("sourceSetName") or None,
            prompt=v["prompt"],
            features=[dict(f) for f in v["features"]],
            n_tokens=v["nTokens"],
            top_k=v["topK"],
            freeze_attention=v["freezeAttention"],
            temperature=v["temperature"],
            freq_penalty=v["freqPenalty"],
            seed=v["seed"],
        )
    )


@extend_schema(summary="One subgraph by id (share links)", responses=ok(b.SUBGRAPH))
@api_view(["GET"])
def subgraph_get(request, subgraph_id: int):
    return Response(subgraph_json(selectors.subgraph_get(subgraph_id=subgraph_id, user=request.user)))
