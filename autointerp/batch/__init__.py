"""Batch autointerp over a source: explain many features, or score many explanations.

Plain service functions with a ``progress(run)`` callback and a ``check()`` hook so a job
(``autointerp.tasks``) or a command can wrap them. Resumable: features that already have an
explanation of this type and model (explanations that already have this score type and model)
are skipped. Per-feature failures are recorded on the run (``AutointerpRun.failures``) and
counted, never fatal. A ``check`` or ``progress`` that raises (a cancelled job) stops the run:
the results already received are written, the run is marked cancelled, the exception propagates.

The LLM calls and the database work overlap (``autointerp.batch.pipeline``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import NamedTuple

from django.utils import timezone

from autointerp import services
from autointerp.batch.inputs import CHUNK, FIRST_CHUNK, IndexRange, examples_by_feature
from autointerp.batch.pipeline import run_pipelined
from autointerp.explainers import TOP_TOKENS_MODEL
from autointerp.models import AutointerpRun
from autointerp.scorers import N_TOP, N_ZERO
from features import services as feature_services
from features.models import Explanation, ExplanationScore, Feature
from models_app.models import Source
from neuronsite.errors import NotFound, ValidationFailed

__all__ = ["IndexRange", "explanations_generate_batch", "explanations_score_batch", "examples_by_feature"]
_examples_by_feature = examples_by_feature  # the name bench/autointerp used

MAX_FAILURES_KEPT = 1000
NO_ACTIVATIONS = "No activations found for this neuron"


def _check_concurrency(concurrency: int) -> None:
    if not 1 <= concurrency <= 512:
        raise ValidationFailed(f"must be between 1 and 512, got {concurrency}", field="concurrency")


def _check_limit(limit: int | None) -> None:
    if limit is not None and limit < 1:
        raise ValidationFailed(f"must be at least 1, got {limit}", field="limit")


def _source(*, model_id: str, source_id: str) -> Source:
    source = Source.objects.select_related("model").filter(model__name=model_id, name=source_id).first()
    if source is None:
        raise NotFound(f"Source '{model_id}/{source_id}' not found.")
    return source


def _record_failure(run: AutointerpRun, index: int, exc: BaseException) -> None:
    run.failed += 1
    if len(run.failures) < MAX_FAILURES_KEPT:
        message = getattr(exc, "message", None) or repr(exc)
        run.failures.append({"index": index, "error": str(message)[:500]})


def _finish(run: AutointerpRun, usage) -> None:
    if usage is not None:
        run.calls, run.prompt_tokens, run.completion_tokens = (
            usage.calls,
            usage.prompt_tokens,
            usage.completion_tokens,
        )
    run.save()


def _endpoint(*, user, llm_model: str | None, purpose: str, uses_llm: bool):
    if not uses_llm:
        return None
    from autointerp.keys import endpoint_for

    return endpoint_for(user=user, model=llm_model, purpose=purpose)


def _run_user(user):
    """The signed-in user a run is recorded for (None for commands and anonymous callers)."""
    return user if user is not None and getattr(user, "is_authenticated", False) else None


class _FeatureRow(NamedTuple):
    """The fields of a feature that explaining it needs (``pk`` as on a model instance)."""

    pk: int
    index: int
    pos_str: list | None


def _first_chunk(concurrency: int) -> int:
    """One round of calls: they start as soon as that much is read; the next chunk is read
    while they are in flight."""
    return max(1, min(FIRST_CHUNK, concurrency))


def _chunks(items: list, *, first: int = FIRST_CHUNK, size: int = CHUNK) -> Iterator[list]:
    """A small first chunk (the calls start at once), then doubling up to ``size``: each read
    stays shorter than the calls already handed over take, so the calls never wait for inputs."""
    start, step = 0, first
    while start < len(items):
        yield items[start : start + step]
        start, step = start + step, min(size, step * 2)


def _run_to_end(
    run: AutointerpRun, chunks, *, concurrency, endpoint, work, write_many, progress, check, index_of
) -> AutointerpRun:
    """Run the pipeline and record how the run ended (DONE; CANCELLED or FAILED and re-raise)."""
    from neuronsite.jobs.services import JobCancelled

    def after_flush(usage):
        _finish(run, usage)
        if progress is not None:
            progress(run)

    def write(pairs):
        write_many(pairs)
        run.done += len(pairs)

    if progress is not None:
        progress(run)  # the skipped (already done) count, before any call
    try:
        run_pipelined(
            chunks, concurrency=concurrency, endpoint=endpoint, work=work, write_many=write,
            fail=lambda item, exc: _record_failure(run, index_of(item), exc), after_flush=after_flush,
            check=check,
        )  # fmt: skip
        run.status = AutointerpRun.Status.DONE
    except JobCancelled:
        run.status = AutointerpRun.Status.CANCELLED
        raise
    except BaseException:
        run.status = AutointerpRun.Status.FAILED
        raise
    finally:
        run.finished_at = timezone.now()
        run.save()
    return run


def explanations_generate_batch(
    *,
    model_id: str,
    source_id: str,
    type_name: str,
    llm_model: str | None = None,
    features: IndexRange | None = None,
    limit: int | None = None,
    concurrency: int = 8,
    user=None,
    progress: Callable[[AutointerpRun], None] | None = None,
    check: Callable[[], None] | None = None,
    params: dict | None = None,
) -> AutointerpRun:
    """Explain the source's features that have no explanation of this type and model yet (at
    most ``limit`` of them, lowest index first)."""
    spec = services.check_explanation_type(type_name)
    _check_concurrency(concurrency)
    _check_limit(limit)
    source = _source(model_id=model_id, source_id=source_id)
    endpoint = _endpoint(user=user, llm_model=llm_model, purpose="explainer", uses_llm=spec.uses_llm)
    model_name = endpoint.model if endpoint is not None else TOP_TOKENS_MODEL
    qs = Feature.objects.filter(source=source)
    if features is not None:
        qs = qs.filter(index__gte=features.start, index__lt=features.stop)
    # plain rows, not model instances: all a run needs of a feature, read without the ORM's
    # per-instance cost before the first call can start
    all_features = [_FeatureRow(*row) for row in qs.order_by("index").values_list("id", "index", "pos_str")]
    done_ids = set(
        Explanation.objects.filter(
            feature__source=source, type__name=type_name, explainer_model__name=model_name
        ).values_list("feature_id", flat=True)
    )
    todo = [f for f in all_features if f.pk not in done_ids]
    skipped = len(all_features) - len(todo)
    if limit is not None:
        todo = todo[:limit]
    run = AutointerpRun.objects.create(
        kind=AutointerpRun.Kind.GENERATE,
        source=source,
        user=_run_user(user),
        params={
            "type": type_name,
            "llm": model_name,
            "features": features and [features.start, features.stop],
            "limit": limit,
            **(params or {}),
        },
        total=skipped + len(todo),
        skipped=skipped,
    )
    examples: dict[int, list] = {}

    def chunks():
        for chunk in _chunks(todo, first=_first_chunk(concurrency)):
            examples.update(examples_by_feature([f.pk for f in chunk], n=spec.n_examples, positive=True))
            ready = []
            for f in chunk:
                if examples.get(f.pk):
                    ready.append(f)
                else:
                    _record_failure(run, f.index, ValidationFailed(NO_ACTIVATIONS))
            yield ready

    async def work(feature, llm):
        return await services.explain_feature_async(
            type_name=type_name, examples=examples.pop(feature.pk), feature=feature, llm=llm
        )

    def write_many(pairs):
        created_ids = feature_services.explanations_create_bulk(
            rows=pairs, type_name=type_name, explainer_model_name=model_name, author=run.user,
            type_defaults={"display_name": spec.display_name, "description": spec.description},
        )  # fmt: skip
        services.embed_on_commit(created_ids)

    return _run_to_end(run, chunks(), concurrency=concurrency, endpoint=endpoint, work=work,
                       write_many=write_many, progress=progress, check=check,
                       index_of=lambda f: f.index)  # fmt: skip


def explanations_score_batch(
    *,
    model_id: str,
    source_id: str,
    scorer_type: str,
    llm_model: str | None = None,
    explanation_type: str | None = None,
    features: IndexRange | None = None,
    limit: int | None = None,
    concurrency: int = 8,
    user=None,
    progress: Callable[[AutointerpRun], None] | None = None,
    check: Callable[[], None] | None = None,
    params: dict | None = None,
) -> AutointerpRun:
    """Score the source's explanations that have no score of this type and model yet (at most
    ``limit`` of them)."""
    spec = services.check_scorer_type(scorer_type)
    _check_concurrency(concurrency)
    _check_limit(limit)
    source = _source(model_id=model_id, source_id=source_id)
    endpoint = _endpoint(user=user, llm_model=llm_model, purpose="scorer", uses_llm=spec.uses_llm)
    if endpoint is not None:
        model_name = endpoint.model
    else:
        from autointerp.engines.embeddings import LOCAL_MODEL_NAME

        model_name = LOCAL_MODEL_NAME
    qs = Explanation.objects.filter(feature__source=source).exclude(status=Explanation.Status.HIDDEN)
    if explanation_type:
        qs = qs.filter(type__name=explanation_type)
    if features is not None:
        qs = qs.filter(feature__index__gte=features.start, feature__index__lt=features.stop)
    explanations = list(qs.select_related("feature").order_by("feature__index", "id"))
    done_ids = set(
        ExplanationScore.objects.filter(
            explanation__feature__source=source,
            score_type__name=scorer_type,
            scorer_model__name=model_name,
        ).values_list("explanation_id", flat=True)
    )
    todo = [e for e in explanations if e.pk not in done_ids]
    skipped = len(explanations) - len(todo)
    if limit is not None:
        todo = todo[:limit]
    run = AutointerpRun.objects.create(
        kind=AutointerpRun.Kind.SCORE,
        source=source,
        user=_run_user(user),
        params={
            "scorer": scorer_type,
            "llm": model_name,
            "explanationType": explanation_type,
            "limit": limit,
            **(params or {}),
        },
        total=skipped + len(todo),
        skipped=skipped,
    )
    top: dict[int, list] = {}
    zero: dict[int, list] = {}

    def chunks():
        for chunk in _chunks(todo, first=_first_chunk(concurrency)):
            ids = list({e.feature_id for e in chunk} - top.keys())
            top.update(examples_by_feature(ids, n=N_TOP, positive=True))
            zero.update(examples_by_feature(ids, n=N_ZERO, positive=False))
            ready = []
            for e in chunk:
                if top.get(e.feature_id):
                    ready.append(e)
                else:
                    _record_failure(run, e.feature.index, ValidationFailed(NO_ACTIVATIONS))
            yield ready

    async def work(explanation, llm):
        return await services.score_async(
            type_name=scorer_type, explanation=explanation, top=top[explanation.feature_id],
            zero=zero.get(explanation.feature_id, []), llm=llm,
        )  # fmt: skip

    def write_many(pairs):
        feature_services.explanation_scores_create_bulk(
            rows=[(explanation, value, details) for explanation, (value, details) in pairs],
            score_type_name=scorer_type, scorer_model_name=model_name, author=run.user,
        )  # fmt: skip

    return _run_to_end(run, chunks(), concurrency=concurrency, endpoint=endpoint, work=work,
                       write_many=write_many, progress=progress, check=check,
                       index_of=lambda e: e.feature.index)  # fmt: skip
