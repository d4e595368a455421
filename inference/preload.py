"""Load the models named in ``INFERENCE_PRELOAD_MODELS`` when the web process starts.

Called from the ASGI module. The loading itself is queued on the engine thread and not waited
for, so the server answers requests (pages, API) while the weights load; the first inference
request for a preloading model simply queues behind the load. With the setting empty (the
default) nothing is imported or queued, which keeps plain start-up free of torch.
"""

from __future__ import annotations

import logging
from concurrent.futures import Future

from django.conf import settings

logger = logging.getLogger(__name__)


def schedule_preload() -> list[Future]:
    names = list(settings.INFERENCE_PRELOAD_MODELS)
    if not names:
        return []
    from django.db import DatabaseError

    from inference.engine import ModelSpec, get_engine
    from models_app.models import Model

    try:
        rows = {m.name: m for m in Model.objects.filter(name__in=names)}
    except DatabaseError as exc:  # not migrated yet: nothing to preload
        logger.warning("INFERENCE_PRELOAD_MODELS: database not ready (%s); skipping preload", exc)
        return []
    missing = [n for n in names if n not in rows]
    if missing:
        logger.warning("INFERENCE_PRELOAD_MODELS names unknown model(s): %s", ", ".join(missing))
    engine = get_engine()
    futures = []
    for name in names:
        if name in rows:
            spec = ModelSpec.of(rows[name])
            future = engine.submit(engine.model, spec)
            future.add_done_callback(_log_failure(name))
            futures.append(future)
    return futures


def _log_failure(name: str):
    def callback(future: Future) -> None:
        if future.exception() is not None:
            logger.error("preloading model %s failed: %s", name, future.exception())
        else:
            logger.info("preloaded model %s", name)

    return callback
