"""The one steering loop: an async generator of events that every interface consumes.

``steer_events(plan)`` yields, for a plan from ``steer_prepare``:

- ``{"type": "token", "kind": "DEFAULT" | "STEERED", "token": raw token, "text": cumulative text}``
  per generated token, DEFAULT and STEERED alternating (completion: prompt + completion so far;
  chat: the assistant's reply so far), plus ``"logprob"`` (that token's) and ``"topLogprobs":
  [{"token", "id", "logprob"}]``, the five likeliest tokens at that step, best first (log_softmax
  of the logits it was sampled from, before temperature and frequency penalty);
- then one ``{"type": "done", **steer_response}`` once the outputs are stored, each with its
  per-token log-probs (``logprobs``), so cached results, share links and the plain API show them
  too (a request the cache holds entirely yields only this).

Engine work goes through the engine's own bridge (``engine.run_kernel`` / ``engine.run``), one
time slice per call so other requests interleave; database work goes through ``db_sync_to_async``
(Channels' ``database_sync_to_async``); neither is ever inside the other. Stopping the iteration (a closed
socket, a cancelled request, a client gone from an SSE stream) stops scheduling the generation and
stores nothing.

Consumers: ``inference.consumers.SteerConsumer`` (websocket frames), the SSE view in
``inference.api.views`` (``stream=true``) and ``steer_run`` below (the plain API).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from functools import partial

from asgiref.sync import async_to_sync
from channels.db import DatabaseSyncToAsync
from django.conf import settings
from django.db import connection

from inference.engine import get_engine
from inference.engine.steer import advance
from inference.services.steering import (
    SteerPlan,
    cumulative,
    generation_outputs,
    steer_generations,
    steer_outputs_save,
    steer_response,
)


class db_sync_to_async(DatabaseSyncToAsync):  # noqa: N801 - used like the function it extends
    """Channels' ``database_sync_to_async`` (stale connections closed around the call), except
    inside an open transaction: the plain API runs this loop through ``async_to_sync`` on the
    request's own thread, where the connection may sit in an atomic block (ATOMIC_REQUESTS, a test
    transaction) that closing would break."""

    def thread_handler(self, loop, *args, **kwargs):
        if connection.in_atomic_block:
            return super(DatabaseSyncToAsync, self).thread_handler(loop, *args, **kwargs)
        return super().thread_handler(loop, *args, **kwargs)


async def steer_events(plan: SteerPlan) -> AsyncIterator[dict]:
    """Token events as they are generated, then ``done`` with the stored result."""
    if not plan.missing:
        response = await db_sync_to_async(steer_response)(plan.cached, cached=True)
        yield {"type": "done", **response}
        return
    engine = get_engine()
    gens = await engine.run_kernel(steer_generations, plan, model=plan.model_spec, sources=plan.source_specs)
    with_text = partial(cumulative, plan)
    slice_s = settings.INFERENCE_STEP_SLICE_MS / 1000
    logprobs: dict[str, list[dict]] = {kind: [] for kind in gens}  # stored with the outputs
    while not all(g.done for g in gens.values()):
        events = await engine.run(advance, gens, slice_s=slice_s, with_text=with_text)
        for kind, _tok, raw, text, lp in events:
            logprobs[kind].append({"token": raw, "logprob": lp["logprob"], "topLogprobs": lp["top"]})
            yield {
                "type": "token",
                "kind": kind,
                "token": raw,
                "text": text,
                "logprob": lp["logprob"],
                "topLogprobs": lp["top"],
            }
    outputs = await engine.run(generation_outputs, plan, gens)
    for kind, steps in logprobs.items():
        outputs[kind]["logprobs"] = steps
    rows = await db_sync_to_async(steer_outputs_save)(plan=plan, outputs=outputs)
    response = await db_sync_to_async(steer_response)(rows)
    yield {"type": "done", **response}


async def _final(plan: SteerPlan) -> dict:
    done = None
    async for event in steer_events(plan):
        if event["type"] == "done":
            done = event
    return {k: v for k, v in done.items() if k != "type"}


def steer_run(plan: SteerPlan) -> dict:
    """The plain API: run the loop to its end and answer the stored result (blocking)."""
    return async_to_sync(_final)(plan)
