"""The in-process inference engine: one dedicated thread for all torch work, plus caches.

Every torch call (loading, forward passes, generation) runs on a single worker thread owned by
the engine: never on the event loop, never on asgiref's shared sync thread. Two bridges:

- ``engine.call(fn, *args, **kwargs)`` from synchronous code (DRF views, commands): submits to the
  worker and blocks for the result (runs inline when already on the worker thread);
- ``await engine.run(fn, *args, **kwargs)`` from async code (Channels consumers).

Requests are serialised on the one thread, so concurrent requests queue instead of racing on the
GPU. Long jobs (generation) are split into one call per token by their callers so that several
streams interleave fairly and a cancelled stream simply stops being scheduled.

Caches: loaded models are kept (a handful at most: ``INFERENCE_PRELOAD_MODELS`` and whatever was
asked for); SAEs live in an LRU of ``INFERENCE_MAX_LOADED_SAES`` entries, evicted by count.
Engine functions receive frozen specs (``ModelSpec``/``SourceSpec``), never ORM rows, so the
worker thread never touches the database.

Kernels (``inference.engine.ops``, ``inference.engine.steer``) are handed their resources: callers
name the model and SAEs by spec, and the engine-thread entry (``call_kernel`` / ``run_kernel``)
resolves them once from the caches and passes ``model=`` (a ``HookedTransformer``) and ``saes=``
(``{SourceSpec: SAE}``, in the order given) to the kernel. Kernels never reach for the engine.
"""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from inference.loading import load_model, load_sae


@dataclass(frozen=True)
class ModelSpec:
    name: str
    tl_model_name: str = ""
    local_path: str = ""
    instruct: bool = False

    @classmethod
    def of(cls, row: Any) -> ModelSpec:
        if isinstance(row, cls):
            return row
        return cls(
            name=row.name,
            tl_model_name=row.tl_model_name or "",
            local_path=row.local_path or "",
            instruct=bool(getattr(row, "instruct", False)),
        )


@dataclass(frozen=True)
class SourceSpec:
    model_name: str
    name: str
    layer: int
    hook_name: str
    local_path: str = ""
    sae_release: str = ""
    sae_id: str = ""

    @classmethod
    def of(cls, row: Any) -> SourceSpec:
        if isinstance(row, cls):
            return row
        return cls(
            model_name=row.model.name,
            name=row.name,
            layer=row.layer,
            hook_name=row.hook_name,
            local_path=row.local_path or "",
            sae_release=row.sae_release or "",
            sae_id=row.sae_id or "",
        )


class Engine:
    def __init__(self, *, max_loaded_saes: int | None = None) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inference-engine")
        self._thread_id: int | None = None
        self._models: dict[ModelSpec, Any] = {}
        self._saes: OrderedDict[SourceSpec, Any] = OrderedDict()
        self._max_saes = max_loaded_saes
        self.sae_loads = 0
        self.model_loads = 0

    # ---- bridges -------------------------------------------------------------------------
    def _bound(self, fn: Callable, args, kwargs):
        def job():
            self._thread_id = threading.get_ident()
            return fn(*args, **kwargs)

        return job

    def on_engine_thread(self) -> bool:
        return threading.get_ident() == self._thread_id

    def call(self, fn: Callable, *args, **kwargs):
        """Run ``fn`` on the engine thread and return its result (blocking)."""
        if self.on_engine_thread():
            return fn(*args, **kwargs)
        return self.submit(fn, *args, **kwargs).result()

    def submit(self, fn: Callable, *args, **kwargs):
        """Queue ``fn`` on the engine thread and return its Future without waiting."""
        return self._executor.submit(self._bound(fn, args, kwargs))

    async def run(self, fn: Callable, *args, **kwargs):
        """Run ``fn`` on the engine thread without blocking the event loop."""
        return await asyncio.wrap_future(self.submit(fn, *args, **kwargs))

    # ---- kernels: resources resolved once on the engine thread ----------------------------
    def call_kernel(
        self,
        kernel: Callable,
        /,
        *args,
        model: ModelSpec | None = None,
        sources: Sequence[SourceSpec] = (),
        **kwargs,
    ):
        """Blocking: run ``kernel(*args, model=<loaded model>, saes={spec: SAE}, **kwargs)`` on the
        engine thread (``model=`` only when a model spec is given, ``saes=`` only with sources)."""
        return self.call(self._enter, kernel, model, tuple(sources), args, kwargs)

    async def run_kernel(
        self,
        kernel: Callable,
        /,
        *args,
        model: ModelSpec | None = None,
        sources: Sequence[SourceSpec] = (),
        **kwargs,
    ):
        """``call_kernel`` without blocking the event loop."""
        return await self.run(self._enter, kernel, model, tuple(sources), args, kwargs)

    def _enter(self, kernel: Callable, model_spec, source_specs, args, kwargs):
        """The engine-thread entry: load (or find cached) the model and SAEs, then the kernel."""
        resources: dict[str, Any] = {}
        if model_spec is not None:
            resources["model"] = self.model(model_spec)
        if source_specs:
            resources["saes"] = {spec: self.sae(spec) for spec in source_specs}
        return kernel(*args, **resources, **kwargs)

    # ---- caches (engine thread only) -----------------------------------------------------
    @property
    def max_loaded_saes(self) -> int:
        return self._max_saes if self._max_saes is not None else settings.INFERENCE_MAX_LOADED_SAES

    def model(self, row: Any):
        spec = ModelSpec.of(row)
        model = self._models.get(spec)
        if model is None:
            model = load_model(spec)
            self.model_loads += 1
            self._models[spec] = model
        return model

    def sae(self, row: Any):
        spec = SourceSpec.of(row)
        sae = self._saes.get(spec)
        if sae is not None:
            self._saes.move_to_end(spec)
            return sae
        sae = load_sae(spec)
        self.sae_loads += 1
        self._saes[spec] = sae
        while len(self._saes) > max(1, self.max_loaded_saes):
            self._saes.popitem(last=False)
        return sae

    def loaded_saes(self) -> list[SourceSpec]:
        """Loaded SAE specs, least recently used first."""
        return list(self._saes)

    def loaded_models(self) -> list[ModelSpec]:
        return list(self._models)

    def loaded_context(self, spec: ModelSpec) -> int | None:
        """``n_ctx`` of a model the engine already holds (None if not loaded). Any thread."""
        model = self._models.get(spec)
        return int(model.cfg.n_ctx) if model is not None else None

    def unload(self) -> None:
        self._saes.clear()
        self._models.clear()


_engine: Engine | None = None
_engine_lock = threading.Lock()


def get_engine() -> Engine:
    """The process-wide engine (created on first use)."""
    global _engine
    if _engine is None:
        with _engine_lock:
            if _engine is None:
                _engine = Engine()
    return _engine
