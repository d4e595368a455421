"""Generation (circuit-tracer through ``inference.graphs``), storage of a graph, delete."""

from __future__ import annotations

import contextlib
import json
import queue
import secrets
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass

from django.db import transaction

from graphs import selectors, storage
from graphs.models import GraphMetadata
from graphs.services.common import (
    FEATURE_TYPE,
    GENERATE_RANGES,
    _check_slug_free,
    _owner,
    check_slug,
    max_graph_nodes,
    max_prompt_tokens,
)
from models_app.models import Model, SourceSet
from neuronsite.compiled_query import compiled, sentinel_int, sentinel_str
from neuronsite.errors import (
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    ValidationFailed,
)
from neuronsite.fields import Visibility


def _param(params: dict, name: str):
    low, high, default = GENERATE_RANGES[name]
    value = params.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise ValidationFailed(
            "Validation error", extra={"message": f"{name} must be between {low} and {high}"}
        )
    return int(value) if isinstance(default, int) else float(value)


def graph_labels_apply(*, data: dict, source_set: SourceSet) -> int:
    """Fill empty ``clerp`` of feature nodes from our best explanations and add each feature's
    ``density`` (dashboard ``frac_nonzero``, for the viewer's density filter); returns how many
    labels were filled."""
    keys = set()
    for node in data.get("nodes", []):
        if node.get("feature_type") == FEATURE_TYPE:
            layer, index, _ = str(node["node_id"]).split("_")
            keys.add((int(layer), int(index)))
    labels, densities = selectors.feature_labels_and_densities(source_set=source_set, keys=keys)
    count = 0
    for node in data.get("nodes", []):
        if node.get("feature_type") != FEATURE_TYPE:
            continue
        layer, index, _ = str(node["node_id"]).split("_")
        key = (int(layer), int(index))
        if key in densities:
            node["density"] = densities[key]
        label = labels.get(key)
        if label and not node.get("clerp"):
            node["clerp"] = label
            count += 1
    return count


@dataclass(frozen=True)
class GenerateRequest:
    """A checked generation request: what a job stores in its kwargs and runs later."""

    model_name: str
    source_set_name: str
    slug: str
    prompt: str | None
    messages: list[dict] | None
    settings: dict

    def as_kwargs(self) -> dict:
        return asdict(self)


def graph_generate_prepare(
    *,
    user,
    model_name: str,
    prompt: str | None = None,
    messages: list[dict] | None = None,
    source_set_name: str | None = None,
    slug: str | None = None,
    params: dict | None = None,
) -> GenerateRequest:
    """Every check that needs no model (fields, ranges, model, transcoder set, slug): a job is
    only queued for a request that passes them."""
    params = params or {}
    if not prompt and not messages:
        raise ValidationFailed("Validation error", extra={"message": "prompt or messages is required"})
    if prompt is not None and len(prompt) > 10_000:
        raise ValidationFailed("Prompt Too Long", extra={"message": "prompt is over 10,000 characters"})
    settings_ = {name: _param(params, name) for name in GENERATE_RANGES}
    candidate = slug or f"graph-{secrets.token_hex(6)}"
    try:
        check_slug(candidate, field="slug")
    except ValidationFailed:
        candidate = None  # reported below, after the model and set checks (as always)
    target = selectors.graph_target(
        model_name=model_name, set_name=source_set_name, user=user, slug=candidate, require_inference=True
    )
    model, source_set = target.model, target.source_set
    slug = check_slug(slug, field="slug") if slug else candidate
    if target.slug_taken:
        _check_slug_free(model=model, slug=slug, user=user, generate=True)
    return GenerateRequest(
        model_name=model.name,
        source_set_name=source_set.name,
        slug=slug,
        prompt=prompt,
        messages=[dict(m) for m in messages] if messages else None,
        settings=settings_,
    )


def graph_generate_run(
    *,
    user,
    request: GenerateRequest,
    progress: Callable[[str, float, str], None] | None = None,
    on_stored: Callable[[GraphMetadata], None] | None = None,
) -> GraphMetadata:
    """Run a prepared request: circuit-tracer on the engine thread (``progress`` is called on
    this thread; if it raises, the engine stops at its next attribution batch and the error is
    raised here), then labels and the stored file + row. ``on_stored(graph)`` runs in the
    transaction that writes the row (a job ends its part there: one commit for both). On any
    failure nothing is written."""
    from inference.engine import ModelSpec
    from inference.graphs.engine import GraphEngineError, PromptTooLong, TranscoderSpec, generate_for

    target = selectors.graph_target(
        model_name=request.model_name, set_name=request.source_set_name, user=user, slug=request.slug
    )
    model, source_set = target.model, target.source_set
    if target.slug_taken:
        _check_slug_free(model=model, slug=request.slug, user=user, generate=True)
    spec = TranscoderSpec(model_name=model.name, set_name=source_set.name, ref=target.ref)
    settings_ = request.settings
    try:
        data = engine_call_with_progress(
            generate_for,
            ModelSpec.of(model),
            spec,
            progress=progress,
            prompt=request.prompt,
            messages=request.messages,
            max_tokens=max_prompt_tokens(model.name),
            slug=request.slug,
            scan=model.name,
            source_set=source_set.name,
            max_n_logits=settings_["maxNLogits"],
            desired_logit_prob=settings_["desiredLogitProb"],
            node_threshold=settings_["nodeThreshold"],
            edge_threshold=settings_["edgeThreshold"],
            max_feature_nodes=settings_["maxFeatureNodes"],
        )
    except PromptTooLong as exc:
        raise ValidationFailed("Prompt Too Long", extra={"message": str(exc)}) from exc
    except GraphEngineError as exc:
        raise ValidationFailed(str(exc), field="modelId") from exc
    graph_labels_apply(data=data, source_set=source_set)
    return graph_store(
        model=model,
        slug=request.slug,
        data=data,
        owner=_owner(user),
        source_set_name=source_set.name,
        prompt=request.prompt if request.prompt else json.dumps(request.messages),
        on_stored=on_stored,
    )


def graph_generate(
    *,
    user,
    model_name: str,
    prompt: str | None = None,
    messages: list[dict] | None = None,
    source_set_name: str | None = None,
    slug: str | None = None,
    params: dict | None = None,
    progress: Callable[[str, float, str], None] | None = None,
) -> GraphMetadata:
    """Check, generate and store a graph here and now (commands, benchmarks; the API and the
    viewer go through ``graphs.services.jobs``)."""
    request = graph_generate_prepare(
        user=user,
        model_name=model_name,
        prompt=prompt,
        messages=messages,
        source_set_name=source_set_name,
        slug=slug,
        params=params,
    )
    return graph_generate_run(user=user, request=request, progress=progress)


_FINISHED = object()  # queued after the engine's last event


class _Stopped(Exception):
    """Raised on the engine thread to stop a generation whose progress listener failed."""


def engine_call_with_progress(fn: Callable, *args, progress=None, **kwargs):
    """``get_engine().call(fn, …, progress=relay)`` where the engine thread's progress events
    are handed to ``progress`` on *this* thread (which owns the database connection). When
    ``progress`` raises (a cancelled job), the engine is told to stop at its next event and
    that exception is raised here once the engine thread has let go."""
    from inference.engine import get_engine

    engine = get_engine()
    if progress is None or engine.on_engine_thread():
        return engine.call(fn, *args, progress=progress, **kwargs)
    events: queue.SimpleQueue = queue.SimpleQueue()
    stop = threading.Event()

    def relay(stage: str, fraction: float, detail: str = "") -> None:
        if stop.is_set():
            raise _Stopped()
        events.put((stage, fraction, detail))

    future = engine.submit(fn, *args, progress=relay, **kwargs)
    # The end of the work is an event too: this thread wakes the moment the engine lets go
    # (a timed poll here added up to its interval to every generation).
    future.add_done_callback(lambda _: events.put(_FINISHED))
    failure: BaseException | None = None
    while True:
        event = events.get()
        if event is _FINISHED:
            break
        if failure is None:
            try:
                progress(*event)
            except BaseException as exc:  # noqa: BLE001 - re-raised below, after the engine stops
                failure = exc
                stop.set()
    if failure is not None:
        with contextlib.suppress(BaseException):
            future.result()
        raise failure
    return future.result()


def _graph_row_locked():
    """The graph row of (model, slug), locked: compiled once (``neuronsite.compiled_query``; it is
    on every generation's path, bench/graphs)."""

    def build():
        sentinels = {"model": sentinel_int(1), "slug": sentinel_str("slug")}
        qs = GraphMetadata.objects.select_for_update().filter(
            model_id=sentinels["model"], slug=sentinels["slug"]
        )
        return qs.order_by("pk")[:1], sentinels

    return compiled("graphs.graph_row_locked", build)


def graph_store(
    *,
    model: Model,
    slug: str,
    data: dict,
    owner=None,
    source_set_name: str = "",
    gz: bytes | None = None,
    visibility: str = Visibility.PUBLIC,
    prompt: str | None = None,
    on_stored: Callable[[GraphMetadata], None] | None = None,
) -> GraphMetadata:
    """Write the gzip file, then upsert the row (the file is removed again if the row fails).
    ``on_stored(graph)`` runs inside the row's transaction: if it raises, the row is not written
    and the file is removed."""
    meta = data["metadata"]
    n_nodes = len(data.get("nodes", []))
    if n_nodes > max_graph_nodes():
        raise PayloadTooLarge(f"The graph has {n_nodes} nodes; the cap is {max_graph_nodes()}.")
    name = storage.graph_file_save(model_name=model.name, slug=slug, gz=gz or storage.graph_dumps(data))
    fields = {
        "prompt": prompt if prompt is not None else meta.get("prompt", ""),
        "prompt_tokens": [str(t) for t in meta.get("prompt_tokens", [])],
        "title": str(meta.get("title_prefix", "") or "")[:300],
        "file": name,
        "source_set_name": source_set_name,
        "generation_settings": meta.get("generation_settings") or {},
        "pruning_settings": meta.get("pruning_settings") or {},
        "visibility": visibility,
        "owner": owner,
    }
    try:
        # savepoint=False: inside a caller's transaction a failure here fails that transaction
        # too (it is re-raised), so a savepoint's two extra round trips buy nothing.
        with transaction.atomic(savepoint=False):
            old = _graph_row_locked().first(model=model.pk, slug=slug)
            if old is not None:
                old_name = old.file.name
                for key, value in fields.items():
                    setattr(old, key, value)
                old.save()
                graph = old
                transaction.on_commit(lambda: storage.graph_file_delete(old_name))
            else:
                graph = GraphMetadata.objects.create(model=model, slug=slug, **fields)
            graph.num_nodes = n_nodes
            graph.num_links = len(data.get("links", []))
            if on_stored is not None:
                on_stored(graph)
    except BaseException:  # the row was not written: remove the file again
        storage.graph_file_delete(name)
        raise
    return graph


@transaction.atomic
def graph_delete(*, user, model_name: str, slug: str) -> None:
    graph = GraphMetadata.objects.select_for_update().filter(model__name=model_name, slug=slug).first()
    if graph is None:
        raise NotFound(f"Graph '{model_name}/{slug}' not found.")
    if not (user.is_staff or (graph.owner_id is not None and graph.owner_id == user.pk)):
        raise PermissionDenied("Only the graph's owner can delete it.")
    name = graph.file.name
    graph.delete()
    transaction.on_commit(lambda: storage.graph_file_delete(name))
