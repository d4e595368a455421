"""Batch autointerp as jobs (Procrastinate tasks on the ``cpu`` queue, see ``autointerp.tasks``):
explain a source's features, score its explanations, backfill explanation embeddings.

Everything a job needs is checked here, before anything is queued (type, scorer, LLM configured,
feature range, limit, concurrency), so a bad request gets its error at once and queues nothing.
A job's task runs ``autointerp.batch`` with the job's progress and cancellation; retrying a failed
or cancelled job resumes (what is done is skipped).
"""

from __future__ import annotations

from django.conf import settings

from autointerp import services
from autointerp.batch import IndexRange, _check_concurrency, _check_limit
from neuronsite.errors import ValidationFailed

EXPLAIN_TASK = "autointerp.explain_batch"
SCORE_TASK = "autointerp.score_batch"
EMBED_TASK = "autointerp.embed_explanations"
KIND_EXPLAIN, KIND_SCORE, KIND_EMBED = "autointerp-explain", "autointerp-score", "embeddings"


def _owner(user):
    return user if user is not None and getattr(user, "is_authenticated", False) else None


def _features_total(source, features: IndexRange | None) -> int:
    from features.models import Feature

    qs = Feature.objects.filter(source=source)
    if features is not None:
        qs = qs.filter(index__gte=features.start, index__lt=features.stop)
    return qs.count()


def autointerp_job_create(
    *,
    kind: str,
    source,
    user=None,
    type_name: str,
    llm_model: str | None = None,
    limit: int | None = None,
    features: str | None = None,
    concurrency: int = 8,
    explanation_type: str | None = None,
):
    """Queue a batch run over ``source``: ``kind`` "explain" (``type_name`` an explainer) or
    "score" (``type_name`` a scorer; ``explanation_type`` optionally limits which explanations)."""
    from autointerp.keys import endpoint_for
    from neuronsite.jobs.services import job_create

    if kind not in ("explain", "score"):
        raise ValidationFailed(f"must be 'explain' or 'score', got {kind!r}", field="kind")
    spec = (services.check_explanation_type if kind == "explain" else services.check_scorer_type)(type_name)
    if kind == "score" and explanation_type and explanation_type != services.HUMAN:
        services.check_explanation_type(explanation_type)
    _check_concurrency(concurrency)
    _check_limit(limit)
    index_range = IndexRange.parse(features)
    llm_model = (llm_model or "").strip() or None
    if spec.uses_llm:  # the LLM must be configured now, not when a worker picks the job up
        llm_model = endpoint_for(
            user=user, model=llm_model, purpose="explainer" if kind == "explain" else "scorer"
        ).model
    else:
        llm_model = None
    owner = _owner(user)
    total = _features_total(source, index_range)
    if limit is not None:
        total = min(total, limit)
    what = "Explain features" if kind == "explain" else "Score explanations"
    title = f"{what} of {source.model.name}/{source.name}: {type_name}" + (
        f" with {llm_model}" if llm_model else ""
    )
    kwargs = {
        "model": source.model.name,
        "source": source.name,
        "type_name": type_name,
        "llm_model": llm_model,
        "features": str(index_range) if index_range else None,
        "limit": limit,
        "concurrency": concurrency,
        "user_id": owner.pk if owner else None,
    }
    if kind == "score":
        kwargs["explanation_type"] = explanation_type or None
    return job_create(
        kind=KIND_EXPLAIN if kind == "explain" else KIND_SCORE,
        title=title,
        parts=[
            {
                "task": EXPLAIN_TASK if kind == "explain" else SCORE_TASK,
                "queue": settings.JOBS_CPU_QUEUE,
                "kwargs": kwargs,
                "total": total,
            }
        ],
        owner=owner,
        unit="features" if kind == "explain" else "explanations",
    )


def embeddings_job_create(*, user=None, force: bool = False, batch_size: int = 256):
    """Queue an embedding backfill (explanations without an embedding, or from another model)."""
    from neuronsite.jobs.services import job_create

    if batch_size < 1:
        raise ValidationFailed(f"must be at least 1, got {batch_size}", field="batchSize")
    return job_create(
        kind=KIND_EMBED,
        title="Embed explanations" + (" (all, re-embedding)" if force else ""),
        parts=[
            {
                "task": EMBED_TASK,
                "queue": settings.JOBS_CPU_QUEUE,
                "kwargs": {"force": force, "batch_size": batch_size},
                "total": 0,
            }
        ],
        owner=_owner(user),
        unit="explanations",
    )


def autointerp_batch_job_start(*, user, model_id: str, source_id: str, kind: str, **job_kwargs):
    """``POST /api/explanation/batch``: queue a batch run over a source the user may manage, with
    the page's rules (a source the user cannot see: 404; one they neither own, nor own the set of,
    nor are staff for: 403) and the command's validation (``autointerp_job_create``)."""
    from models_app.selectors import source_get
    from neuronsite.errors import NotAuthenticated, PermissionDenied

    if user is None or not getattr(user, "is_authenticated", False):
        raise NotAuthenticated("Sign in or send an API key (x-api-key) to start a batch job.")
    source = source_get(model_name=model_id, name=source_id, user=user)
    if not (user.is_staff or user.pk in (source.owner_id, source.source_set.owner_id)):
        raise PermissionDenied(
            f"Only the owner of {model_id}/{source_id} (or of its source set) or staff can start a batch job on it."
        )
    return autointerp_job_create(kind=kind, source=source, user=user, **job_kwargs)
