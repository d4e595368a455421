"""Batch autointerp over a source: explain many features, or score many explanations.

Plain service functions with a ``progress(run)`` callback so a job (Procrastinate) or a
command can wrap them. Resumable: features that already have an explanation of this type and
model (explanations that already have this score type and model) are skipped. Per-feature
failures are recorded on the run (``AutointerpRun.failures``) and counted, never fatal.

LLM calls run ``concurrency`` at a time on one event loop (in a helper thread) with one pooled
HTTP client; the calling thread writes results in batches as they arrive (bulk INSERTs), so the
calls never wait for the database, a crash loses at most one batch, and the rows are always
those of fully successful features.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from django.db.models import F, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from autointerp import services
from autointerp.explainers import TOP_TOKENS_MODEL, Example
from autointerp.models import AutointerpRun
from autointerp.scorers import N_TOP, N_ZERO
from features import services as feature_services
from features.models import Activation, Explanation, ExplanationScore, Feature
from features.tokens import token_display
from models_app.models import Source
from neuronsite.errors import NotFound, ValidationFailed

MAX_FAILURES_KEPT = 1000


@dataclass(frozen=True)
class IndexRange:
    start: int
    stop: int  # exclusive

    @classmethod
    def parse(cls, text: str | None) -> IndexRange | None:
        """``"a:b"`` (b exclusive), ``"a:"`` or ``":b"``; ``None`` for all features."""
        if not text:
            return None
        try:
            a, _, b = text.partition(":")
            start = int(a) if a.strip() else 0
            stop = int(b) if b.strip() else 2**31 - 1
        except ValueError:
            raise ValidationFailed(f"must look like 0:100, got {text!r}", field="features") from None
        if not _ or start < 0 or stop <= start:
            raise ValidationFailed(f"must look like 0:100 with start < stop, got {text!r}", field="features")
        return cls(start, stop)


def _check_concurrency(concurrency: int) -> None:
    if not 1 <= concurrency <= 512:
        raise ValidationFailed(f"must be between 1 and 512, got {concurrency}", field="concurrency")


def _source(*, model_id: str, source_id: str) -> Source:
    source = Source.objects.select_related("model").filter(model__name=model_id, name=source_id).first()
    if source is None:
        raise NotFound(f"Source '{model_id}/{source_id}' not found.")
    return source


def _examples_by_feature(feature_ids: list[int], *, n: int, positive: bool) -> dict[int, list[Example]]:
    """Top (or zero) examples of many features in one query, de-duplicated by text."""
    rows = Activation.objects.filter(feature_id__in=feature_ids)
    rows = rows.filter(max_value__gt=0) if positive else rows.filter(max_value__lte=0)
    rows = (
        rows.annotate(
            _rank=Window(
                RowNumber(), partition_by=[F("feature_id")], order_by=[F("max_value").desc(), F("id")]
            )
        )
        .filter(_rank__lte=n * 3)
        .order_by("feature_id", "_rank")
        .values_list("feature_id", "tokens", "values")
    )
    out: dict[int, list[Example]] = {}
    seen: dict[int, set] = {}
    for fid, tokens, values in rows:
        bucket = out.setdefault(fid, [])
        if len(bucket) >= n or not tokens:
            continue
        example = Example(tokens=[token_display(t) for t in tokens], values=[float(v) for v in values])
        if example.text in seen.setdefault(fid, set()):
            continue
        seen[fid].add(example.text)
        bucket.append(example)
    return out


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


_DONE = object()


def _run_pipelined(
    items: list, *, concurrency: int, endpoint, work, write_many, run, progress, flush_every: int = 64
) -> None:
    """``await work(item, llm)`` for every item, ``concurrency`` at a time, on an event loop in
    a helper thread; this thread writes the results in batches (``write_many(pairs)``) as they
    come and records failures, so the LLM calls never wait for the database and all database
    work stays on the caller's connection."""
    import queue
    import threading

    from autointerp.llm import LLMClient

    results: queue.Queue = queue.Queue()
    state: dict = {"usage": None, "error": None}

    async def main():
        llm = LLMClient(endpoint, max_connections=concurrency) if endpoint is not None else None
        state["usage"] = llm.usage if llm is not None else None
        semaphore = asyncio.Semaphore(concurrency)

        async def one(item):
            try:
                result = await work(item, llm)
            except Exception as exc:  # recorded per feature, never fatal
                result = exc
            finally:
                semaphore.release()
            results.put((item, result))

        tasks = set()
        try:
            for item in items:
                await semaphore.acquire()
                task = asyncio.create_task(one(item))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            if tasks:
                await asyncio.gather(*tasks)
        finally:
            if llm is not None:
                await llm.aclose()

    def loop_thread():
        try:
            asyncio.run(main())
        except BaseException as exc:  # surfaced in the caller's thread
            state["error"] = exc
        finally:
            results.put(_DONE)

    thread = threading.Thread(target=loop_thread, name="autointerp-batch", daemon=True)
    thread.start()
    pending: list = []

    def flush():
        good = [(item, result) for item, result in pending if not isinstance(result, BaseException)]
        for item, result in pending:
            if isinstance(result, BaseException):
                _record_failure(run, item[0].index if isinstance(item, tuple) else item.index, result)
        if good:
            write_many(good)
            run.done += len(good)
        pending.clear()
        _finish(run, state["usage"])
        if progress is not None:
            progress(run)

    while True:
        try:
            message = results.get(timeout=0.5)
        except queue.Empty:
            message = None
        if message is _DONE:
            break
        if message is not None:
            pending.append(message)
        if pending and (message is None or len(pending) >= flush_every):
            flush()
    thread.join()
    flush()
    if state["error"] is not None:
        raise state["error"]


def _run_user(user):
    """The signed-in user a run is recorded for (None for commands and anonymous callers)."""
    return user if user is not None and getattr(user, "is_authenticated", False) else None


def _run_to_end(
    run: AutointerpRun, items, *, concurrency, endpoint, work, write_many, progress
) -> AutointerpRun:
    """Run the pipeline over ``items`` and record how the run ended (DONE, or FAILED and re-raise)."""
    try:
        _run_pipelined(
            items, concurrency=concurrency, endpoint=endpoint, work=work, write_many=write_many, run=run,
            progress=progress,
        )  # fmt: skip
        run.status = AutointerpRun.Status.DONE
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
    concurrency: int = 8,
    user=None,
    progress: Callable[[AutointerpRun], None] | None = None,
) -> AutointerpRun:
    spec = services.check_explanation_type(type_name)
    _check_concurrency(concurrency)
    source = _source(model_id=model_id, source_id=source_id)
    endpoint = _endpoint(user=user, llm_model=llm_model, purpose="explainer", uses_llm=spec.uses_llm)
    model_name = endpoint.model if endpoint is not None else TOP_TOKENS_MODEL
    qs = Feature.objects.filter(source=source)
    if features is not None:
        qs = qs.filter(index__gte=features.start, index__lt=features.stop)
    all_features = list(qs.order_by("index").only("id", "index", "pos_str"))
    done_ids = set(
        Explanation.objects.filter(
            feature__in=[f.pk for f in all_features], type__name=type_name, explainer_model__name=model_name
        ).values_list("feature_id", flat=True)
    )
    todo = [f for f in all_features if f.pk not in done_ids]
    run = AutointerpRun.objects.create(
        kind=AutointerpRun.Kind.GENERATE,
        source=source,
        user=_run_user(user),
        params={
            "type": type_name,
            "llm": model_name,
            "features": features and [features.start, features.stop],
        },
        total=len(all_features),
        skipped=len(done_ids),
    )
    examples = _examples_by_feature([f.pk for f in todo], n=spec.n_examples, positive=True)
    items = []
    for f in todo:
        if examples.get(f.pk):
            items.append(f)
        else:
            _record_failure(run, f.index, ValidationFailed("No activations found for this neuron"))

    async def work(feature, llm):
        return await services.explain_feature_async(
            type_name=type_name, examples=examples[feature.pk], feature=feature, llm=llm
        )

    def write_many(pairs):
        created = feature_services.explanations_create_bulk(
            rows=pairs, type_name=type_name, explainer_model_name=model_name, author=run.user,
            type_defaults={"display_name": spec.display_name, "description": spec.description},
        )  # fmt: skip
        services.embed_on_commit([e.pk for e in created])

    return _run_to_end(run, items, concurrency=concurrency, endpoint=endpoint, work=work,
                       write_many=write_many, progress=progress)  # fmt: skip


def explanations_score_batch(
    *,
    model_id: str,
    source_id: str,
    scorer_type: str,
    llm_model: str | None = None,
    explanation_type: str | None = None,
    features: IndexRange | None = None,
    concurrency: int = 8,
    user=None,
    progress: Callable[[AutointerpRun], None] | None = None,
) -> AutointerpRun:
    spec = services.check_scorer_type(scorer_type)
    _check_concurrency(concurrency)
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
            explanation__in=[e.pk for e in explanations],
            score_type__name=scorer_type,
            scorer_model__name=model_name,
        ).values_list("explanation_id", flat=True)
    )
    todo = [e for e in explanations if e.pk not in done_ids]
    run = AutointerpRun.objects.create(
        kind=AutointerpRun.Kind.SCORE,
        source=source,
        user=_run_user(user),
        params={"scorer": scorer_type, "llm": model_name, "explanationType": explanation_type},
        total=len(explanations),
        skipped=len(done_ids),
    )
    feature_ids = list({e.feature_id for e in todo})
    top = _examples_by_feature(feature_ids, n=N_TOP, positive=True)
    zero = _examples_by_feature(feature_ids, n=N_ZERO, positive=False)
    items = []
    for e in todo:
        if top.get(e.feature_id):
            items.append((e.feature, e))
        else:
            _record_failure(run, e.feature.index, ValidationFailed("No activations found for this neuron"))

    async def work(item, llm):
        _, explanation = item
        return await services.score_async(
            type_name=scorer_type, explanation=explanation, top=top[explanation.feature_id],
            zero=zero.get(explanation.feature_id, []), llm=llm,
        )  # fmt: skip

    def write_many(pairs):
        feature_services.explanation_scores_create_bulk(
            rows=[(item[1], value, details) for item, (value, details) in pairs],
            score_type_name=scorer_type, scorer_model_name=model_name, author=run.user,
        )  # fmt: skip

    return _run_to_end(run, items, concurrency=concurrency, endpoint=endpoint, work=work,
                       write_many=write_many, progress=progress)  # fmt: skip
