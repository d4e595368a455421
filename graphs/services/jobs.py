"""Graph generation as a job (Procrastinate task ``graphs.generate`` on the GPU queue).

Every generation is a ``Job`` row (kind ``graph``) with live progress in ‰ of the work and an ETA:
circuit-tracer's phases (model load, precompute, forward pass, logit rows, feature-attribution
batches, prune, graph files) are reported as they happen (``inference.graphs.progress``).

- The viewer's Generate form calls ``graph_job_create`` and follows the job over ``/ws/jobs/``.
- ``POST /api/graph/generate`` keeps Neuronpedia's synchronous answer (``graph_generate_answer``):
  it queues the job too, then
    * when a worker is alive (a Procrastinate worker heartbeat within ``JOBS_STALLED_SECONDS``),
      waits for the job, at most ``GRAPH_GENERATE_WAIT_SECONDS``; a job still running then is
      answered 202 with its id and a ``jobUrl`` the caller can read (anonymous callers: a signed
      token in it, ``graph_job_token``); a job that no worker took within
      ``GRAPH_GENERATE_PICKUP_SECONDS`` (default: the wait) is withdrawn and answered 503
      "GPUs Busy";
    * when no worker is alive (a single ``manage.py runserver``/daphne, the tests), the request
      takes the task back from the queue (Procrastinate's cancel of a ``todo`` task is atomic, so
      a worker that took it first wins) and runs it inline, still through the Job row.
  ``GRAPH_GENERATE_MODE`` = ``auto`` (the above), ``job`` (always wait for a worker) or
  ``inline`` (always run in the web process).
- Busy: with ``GRAPH_GPU_QUEUE_LIMIT`` or more tasks queued or running on the GPU queue, both
  entry points answer 503 ``{"error": "GPUs Busy"}`` with ``Retry-After`` (Neuronpedia's answer
  when its GPUs are taken) and queue nothing.
- A failing generation ends its job ``failed`` with the reason and writes no graph row or file.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.db import connection
from django.db.models import Avg, DurationField, ExpressionWrapper, F
from django.utils.crypto import constant_time_compare

from graphs.services.common import _owner
from graphs.services.generate import GenerateRequest, graph_generate_prepare, graph_generate_run
from neuronsite.compiled_query import compiled, sentinel_int
from neuronsite.errors import ApplicationError, Conflict, NotFound, ServiceUnavailable
from neuronsite.jobs import services as jobs
from neuronsite.jobs.models import ACTIVE_STATES, Job, JobState
from neuronsite.jobs.runner import Reporter

TASK_NAME = "graphs.generate"
JOB_KIND = "graph"
TOKEN_SALT = "graphs.job"
SCALE = 1000  # progress is counted in ‰ of the whole generation
PROGRESS_EVERY = 0.5  # seconds between progress writes (the stages in between ride with the next)


class GpusBusy(ServiceUnavailable):
    """503 with ``Retry-After``: the GPU queue is full."""

    def __init__(self, *, depth: int, retry_after: int):
        super().__init__(
            "GPUs Busy",
            extra={"message": f"{depth} GPU tasks are queued or running; try again in {retry_after} s."},
        )
        self.retry_after = retry_after


class GraphJobFailed(ApplicationError):
    """The generation job failed: 400 for a reason the caller can fix, else 500."""

    def __init__(self, job: Job):
        internal = _looks_internal(job.error)
        self.status = 500 if internal else 400
        message = f"Graph generation failed: {job.error}" if internal else job.error
        super().__init__(message or "Graph generation failed.", extra={"jobId": job.pk})


def _looks_internal(error: str) -> bool:
    head = (error or "").split(":", 1)[0]
    return head.isidentifier() and (head.endswith("Error") or head.endswith("Exception"))


@dataclass
class GenerateAnswer:
    """What ``POST /api/graph/generate`` answers: the graph (``done``) or the running job."""

    done: bool
    job: Job
    result: dict


# ---- settings and queue state -------------------------------------------------------------------
def generation_mode() -> str:
    mode = str(getattr(settings, "GRAPH_GENERATE_MODE", "auto")).lower()
    return mode if mode in ("auto", "job", "inline") else "auto"


def workers_alive() -> int:
    """Procrastinate workers whose heartbeat is recent (any machine reaching this database)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM procrastinate_workers WHERE last_heartbeat > now() - make_interval(secs => %s)",
            [float(settings.JOBS_STALLED_SECONDS)],
        )
        return int(cursor.fetchone()[0])


def gpu_queue_depth() -> int:
    """Tasks waiting or running on the GPU queue: graph jobs (queued, running, or run inline by a
    web process) plus any other GPU task (dashboards, the demo)."""
    states = [str(s) for s in ACTIVE_STATES]
    with connection.cursor() as cursor:  # one round trip (it is on every enqueue's path)
        cursor.execute(
            "SELECT (SELECT count(*) FROM procrastinate_jobs WHERE queue_name = %s "
            "AND status IN ('todo', 'doing') AND task_name <> %s) "
            f"+ (SELECT count(*) FROM {connection.ops.quote_name(Job._meta.db_table)} "
            "WHERE kind = %s AND state = ANY(%s))",
            [settings.JOBS_GPU_QUEUE, TASK_NAME, JOB_KIND, states],
        )
        return int(cursor.fetchone()[0])


def retry_after_seconds(depth: int) -> int:
    """The queue's likely wait: the mean duration of recent graph jobs × tasks ahead, per worker."""
    recent = (
        Job.objects.filter(kind=JOB_KIND, state=JobState.SUCCEEDED, started_at__isnull=False)
        .order_by("-finished_at")[:20]
        .values_list("pk", flat=True)
    )
    mean = (
        Job.objects.filter(pk__in=list(recent))
        .annotate(took=ExpressionWrapper(F("finished_at") - F("started_at"), output_field=DurationField()))
        .aggregate(mean=Avg("took"))["mean"]
    )
    per_job = mean.total_seconds() if mean else 30.0
    return int(min(600, max(5, per_job * depth / max(1, workers_alive()))))


def gpus_free_check() -> None:
    limit = int(getattr(settings, "GRAPH_GPU_QUEUE_LIMIT", 4))
    depth = gpu_queue_depth()
    if depth >= limit:
        raise GpusBusy(depth=depth, retry_after=retry_after_seconds(depth))


# ---- the job ------------------------------------------------------------------------------------
def graph_job_create(
    *,
    user,
    model_name: str,
    prompt: str | None = None,
    messages: list[dict] | None = None,
    source_set_name: str | None = None,
    slug: str | None = None,
    params: dict | None = None,
) -> Job:
    """Check the request, refuse when the GPUs are busy, then queue the generation as a job."""
    request = graph_generate_prepare(
        user=user,
        model_name=model_name,
        prompt=prompt,
        messages=messages,
        source_set_name=source_set_name,
        slug=slug,
        params=params,
    )
    gpus_free_check()
    owner = _owner(user)
    text = request.prompt if request.prompt else (request.messages or [{}])[-1].get("content", "")
    return jobs.job_create(
        kind=JOB_KIND,
        title=f"Graph {request.model_name}/{request.slug}: {text[:80]}",
        owner=owner,
        unit="‰",
        parts=[
            {
                "task": TASK_NAME,
                "queue": settings.JOBS_GPU_QUEUE,
                "kwargs": {"user_id": owner.pk if owner else None, "request": request.as_kwargs()},
                "total": SCALE,
            }
        ],
    )


class _ProgressToJob:
    """circuit-tracer's progress events → the job's progress and log, at most one write every
    ``PROGRESS_EVERY`` seconds. The last event (100 %) is not written on its own: its lines
    (``pending``) ride with the job's closing write, in the graph row's transaction.

    Each write is a locked read, an update, a NOTIFY and a commit on the worker's main thread,
    which shares the CPUs with the engine's torch threads (bench/graphs): the stages that come in
    between two writes are not written one by one; their log lines (one per stage, in order,
    each stamped) ride with the next write. Each write also reads the cancel flag (raises when
    the job was cancelled), so a cancel stops the work within ``PROGRESS_EVERY`` seconds plus a
    batch."""

    def __init__(self, reporter: Reporter, *, every: float = PROGRESS_EVERY):
        self.reporter = reporter
        self.every = every
        self.stage = ""
        self.pending: list[str] = []
        self.last = time.monotonic()  # the part's start was just written

    def __call__(self, stage: str, fraction: float, detail: str = "") -> None:
        if stage != self.stage:
            self.stage = stage
            self.pending.append(f"{stage}: {detail}" if detail else stage)
        if fraction >= 1.0:
            return  # written by the part's closing write (graph_job_work)
        now = time.monotonic()
        if now - self.last >= self.every:
            self.last = now
            lines, self.pending = self.pending, []
            done = int(round(min(1.0, fraction) * SCALE))
            self.reporter.progress(done, SCALE, log=lines or None)  # raises if cancelled


def _job_user():
    """The job owner's row, compiled once (``neuronsite.compiled_query``): on every signed-in
    user's generation in the worker."""

    def build():
        from django.contrib.auth import get_user_model

        sentinels = {"user": sentinel_int(1)}
        return get_user_model().objects.filter(pk=sentinels["user"]).order_by("pk")[:1], sentinels

    return compiled("graphs.job_user", build)


def graph_job_work(reporter: Reporter, *, user_id: int | None, request: dict) -> list[dict]:
    """The task body: generate and store, reporting progress; returns the job's result links."""
    from django.contrib.auth.models import AnonymousUser

    user = _job_user().first(user=int(user_id)) if user_id else AnonymousUser()
    if user is None:
        raise NotFound(f"User {user_id} no longer exists.")
    req = GenerateRequest(**request)
    progress = _ProgressToJob(reporter)

    def links(graph) -> list[dict]:
        return [
            {
                "label": f"{req.model_name}/{req.slug}",
                "url": f"/{req.model_name}/graph?slug={req.slug}",
                "model": req.model_name,
                "slug": req.slug,
                "numNodes": graph.num_nodes,
                "numLinks": graph.num_links,
            }
        ]

    def finish(graph) -> None:
        # The part ends succeeded (100 %, the last stages' log lines) in the graph row's
        # transaction: one commit, and whoever hears "succeeded" can read the graph.
        reporter.finish(results=links(graph), done=SCALE, log=progress.pending)
        progress.pending = []

    graph = graph_generate_run(user=user, request=req, progress=progress, on_stored=finish)
    return links(graph)


def _claim(job: Job) -> bool:
    """Take the job's task back from the queue (True) unless a worker already took it."""
    from procrastinate.contrib.django import app

    return bool(app.job_manager.cancel_job_by_id(job.parts[0]["task_id"]))


def _run_inline(job: Job) -> dict:
    """Run a claimed job in this process, through the same Job bookkeeping a worker uses."""
    kwargs = job.parts[0]["kwargs"]
    if not jobs.job_part_start(job_id=job.pk, part=0):
        raise Conflict(f"Job {job.pk} was cancelled.", extra={"jobId": job.pk})
    reporter = Reporter(job.pk, 0)
    try:
        results = graph_job_work(reporter, **kwargs)
    except jobs.JobCancelled as exc:
        jobs.job_part_finish(job_id=job.pk, part=0, state="cancelled")
        raise Conflict(f"Job {job.pk} was cancelled.", extra={"jobId": job.pk}) from exc
    except ApplicationError as exc:
        jobs.job_part_finish(job_id=job.pk, part=0, state="failed", error=exc.message)
        raise
    except Exception as exc:
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        jobs.job_part_finish(job_id=job.pk, part=0, state="failed", error=detail)
        raise
    if not reporter.finished:
        jobs.job_part_finish(job_id=job.pk, part=0, state="succeeded", results=results)
    return results[0]


def _wait(job: Job, *, timeout: float, pickup: float) -> GenerateAnswer:
    """Follow a queued job (reads its row) until it ends. A job still queued after ``pickup``
    seconds is withdrawn (503 "GPUs Busy"); a job a worker runs is waited for until ``timeout``
    seconds have passed since the request came, then answered as still running (202)."""
    start = time.monotonic()
    while True:
        job = Job.objects.get(pk=job.pk)
        if job.state == JobState.SUCCEEDED:
            return GenerateAnswer(done=True, job=job, result=job.results[0])
        if job.state == JobState.FAILED:
            raise GraphJobFailed(job)
        if job.state == JobState.CANCELLED:
            raise Conflict(f"Job {job.pk} was cancelled.", extra={"jobId": job.pk})
        waited = time.monotonic() - start
        if job.state == JobState.QUEUED and waited >= pickup:
            if _claim(job):
                # No worker took it in time: withdraw it rather than leave a request-less job queued.
                jobs.job_part_finish(
                    job_id=job.pk,
                    part=0,
                    state="cancelled",
                    error=f"no GPU worker took the job within {pickup:.0f} s",
                )
                depth = gpu_queue_depth()
                raise GpusBusy(depth=depth, retry_after=retry_after_seconds(max(1, depth)))
            # else a worker took it just now: it is marked running in a moment
        if job.state != JobState.QUEUED and waited >= timeout:
            return GenerateAnswer(done=False, job=job, result={})
        # Read again after a tenth of the time waited so far (10 ms at least, 200 ms at most): a
        # graph of half a second is answered within ~50 ms of its end, not up to 200 ms after it,
        # and a long one costs no more reads than a fixed 0.2 s poll.
        time.sleep(min(0.2, max(0.01, 0.1 * waited)))


def graph_job_token(job: Job) -> str:
    """A capability to read one job: what an anonymous caller gets in its ``jobUrl``."""
    return signing.Signer(salt=TOKEN_SALT).sign(str(job.pk)).split(":", 1)[1]


def graph_job_get(*, job_id: int, user, token: str | None = None) -> Job:
    """A graph job by id: one the user may see (``jobs_visible``) or, with the token handed out
    for it, any caller's (anonymous generations)."""
    from neuronsite.jobs.selectors import job_get

    if token:
        expected = graph_job_token(Job(pk=job_id))
        if constant_time_compare(token, expected):
            job = Job.objects.select_related("owner").filter(pk=job_id, kind=JOB_KIND).first()
            if job is not None:
                return job
    return job_get(job_id=job_id, user=user)


def graph_generate_answer(*, user, **request) -> GenerateAnswer:
    """``POST /api/graph/generate``: queue the job, then run it here or wait for a worker (see the
    module docstring)."""
    job = graph_job_create(user=user, **request)
    mode = generation_mode()
    if (mode == "inline" or (mode == "auto" and not workers_alive())) and _claim(job):
        result = _run_inline(job)
        return GenerateAnswer(done=True, job=Job.objects.get(pk=job.pk), result=result)
    wait = float(getattr(settings, "GRAPH_GENERATE_WAIT_SECONDS", 300))
    pickup = getattr(settings, "GRAPH_GENERATE_PICKUP_SECONDS", None)
    return _wait(job, timeout=wait, pickup=wait if pickup is None else float(pickup))
