"""Procrastinate tasks of the autointerp app (autodiscovered), queue ``cpu`` (LLM-bound work):
batch explain / score runs and embedding backfills as jobs with live progress, and the embedding
of new explanations after they are written.

Light at import: the batch code, delphi and the embedding model load inside the task bodies.
"""

from __future__ import annotations

from django.conf import settings
from procrastinate.contrib.django import app

from neuronsite.jobs.runner import run_part


def _user(user_id):
    if not user_id:
        return None
    from accounts.models import User

    return User.objects.filter(pk=user_id).first()


def _limit_left(job_id: int, limit: int | None) -> int | None:
    """A job's ``limit`` counts over all its runs: a retried job does only what is left of it."""
    if limit is None:
        return None
    from django.db.models import Sum

    from autointerp.models import AutointerpRun

    done = AutointerpRun.objects.filter(params__job=job_id).aggregate(n=Sum("done"))["n"] or 0
    return limit - done


def _batch_work(*, job_id: int, model: str, source: str, limit, run_batch, **kwargs):
    def work(reporter):
        from autointerp.batch import IndexRange
        from autointerp.management.commands._batch import summary

        left = _limit_left(job_id, limit)
        if left is not None and left <= 0:
            reporter.progress(limit, limit)
            reporter.log(f"the limit of {limit} is already reached")
            return [{"label": f"{model}/{source}", "url": f"/{model}/{source}"}]

        def progress(run):
            reporter.progress(run.done + run.skipped + run.failed, run.total)

        run = run_batch(
            model_id=model,
            source_id=source,
            features=IndexRange.parse(kwargs.pop("features")),
            user=_user(kwargs.pop("user_id")),
            limit=left,
            progress=progress,
            check=reporter.check,
            params={"job": job_id},
            **kwargs,
        )
        for line in summary(run).splitlines()[:12]:
            reporter.log(line)
        return [{"label": f"{model}/{source}", "url": f"/{model}/{source}"}]

    return work


@app.task(name="autointerp.explain_batch", queue=settings.JOBS_CPU_QUEUE)
def explain_batch_task(*, job_id: int, part: int, **kwargs) -> None:
    """Explain a source's features (``autointerp.batch.explanations_generate_batch``)."""
    from autointerp.batch import explanations_generate_batch

    run_part(
        job_id=job_id,
        part=part,
        work=_batch_work(job_id=job_id, run_batch=explanations_generate_batch, **kwargs),
    )


@app.task(name="autointerp.score_batch", queue=settings.JOBS_CPU_QUEUE)
def score_batch_task(*, job_id: int, part: int, type_name: str, **kwargs) -> None:
    """Score a source's explanations (``autointerp.batch.explanations_score_batch``)."""
    from autointerp.batch import explanations_score_batch

    run_part(
        job_id=job_id,
        part=part,
        work=_batch_work(job_id=job_id, run_batch=explanations_score_batch, scorer_type=type_name, **kwargs),
    )


@app.task(name="autointerp.embed_explanations", queue=settings.JOBS_CPU_QUEUE)
def embed_explanations_task(*, job_id: int, part: int, force: bool = False, batch_size: int = 256) -> None:
    """Backfill explanation embeddings, one batch per progress report (cancellable between them)."""

    def work(reporter):
        from autointerp.services import explanations_embed

        written = explanations_embed(
            force=force, batch_size=batch_size, progress=lambda done, total: reporter.progress(done, total)
        )
        reporter.log(f"embedded {written} explanation(s)")
        return []

    run_part(job_id=job_id, part=part, work=work)


@app.task(name="autointerp.embed_new", queue=settings.JOBS_CPU_QUEUE)
def embed_new_task(*, ids: list[int]) -> None:
    """Embed explanations just written (deferred after their commit, ``services.embed_on_commit``)."""
    from django.db import close_old_connections

    from autointerp.services import explanations_embed

    close_old_connections()
    try:
        explanations_embed(ids=list(ids))
    finally:
        close_old_connections()
