"""The batch pipeline: LLM calls ``concurrency`` at a time on an event loop in a helper thread,
while the calling thread reads inputs in chunks and writes results in batches.

Why this shape (bench/autointerp): a batch run should take the latency-bound time, features x
latency / concurrency. So the calls never wait for the database (reads and writes stay on the
caller's thread and connection, which also keeps them inside a test's transaction), the first
calls start after the first small chunk is read rather than after every feature's activations
are loaded, and results are written in bulk INSERTs as they arrive (a crash loses at most one
batch, and the rows are always those of fully successful items).

Stopping: ``check()`` and ``progress()`` may raise (a cancelled job); the loop then cancels the
calls in flight, the results already received are still written, and the exception propagates.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import Any

_END = object()
FLUSH_EVERY = 64  # results per bulk write
FLUSH_AFTER_S = 1.0  # ... or after this long, so progress moves on slow providers
# Items handed to the loop ahead of the results, in multiples of the concurrency: 8 rounds of
# calls, so a slow input read (a busy database) does not leave call slots empty; measured with
# bench/autointerp, 4 left the loop waiting for inputs ~1 s of a 6 s run on a loaded machine.
AHEAD = 8


def run_pipelined(
    chunks: Iterable[list],
    *,
    concurrency: int,
    endpoint,
    work: Callable[[Any, Any], Awaitable[Any]],
    write_many: Callable[[list[tuple[Any, Any]]], None],
    fail: Callable[[Any, BaseException], None],
    after_flush: Callable[[Any], None],
    check: Callable[[], None] | None = None,
) -> None:
    """``await work(item, llm)`` for every item of every chunk (``chunks`` is read lazily, in this
    thread, only as far ahead as the calls need). Successful ``(item, result)`` pairs go to
    ``write_many`` in batches; failures to ``fail(item, exc)``; ``after_flush(usage)`` follows
    each batch (progress). All three run in this thread."""
    from autointerp.llm import LLMClient

    results: queue.Queue = queue.Queue()
    ready = threading.Event()
    state: dict = {"usage": None, "error": None}

    async def main():
        inbox: asyncio.Queue = asyncio.Queue()
        stopped = asyncio.Event()
        state["loop"], state["inbox"], state["stopped"] = asyncio.get_running_loop(), inbox, stopped
        llm = LLMClient(endpoint, max_connections=concurrency) if endpoint is not None else None
        state["usage"] = llm.usage if llm is not None else None
        ready.set()
        semaphore = asyncio.Semaphore(concurrency)
        tasks: set[asyncio.Task] = set()

        async def one(item):
            try:
                result = await work(item, llm)
            except Exception as exc:  # recorded per item, never fatal
                result = exc
            finally:
                semaphore.release()
            results.put((item, result))

        async def produce():
            while (item := await inbox.get()) is not _END:
                await semaphore.acquire()
                task = asyncio.create_task(one(item))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            while tasks:
                await asyncio.gather(*list(tasks))

        producer = asyncio.create_task(produce())
        stopper = asyncio.create_task(stopped.wait())
        try:
            # woken by the end of the work or by a stop, not by polling (a poll adds its period
            # to the end of every run)
            await asyncio.wait({producer, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if stopped.is_set():
                for task in [producer, *tasks]:
                    task.cancel()
                await asyncio.gather(producer, *list(tasks), return_exceptions=True)
                return
            stopper.cancel()
            producer.result()
        finally:
            if llm is not None:
                await llm.aclose()

    def loop_thread():
        try:
            with asyncio.Runner(loop_factory=_loop_factory()) as runner:
                runner.run(main())
        except BaseException as exc:  # surfaced in the caller's thread
            state["error"] = exc
        finally:
            ready.set()
            results.put(_END)

    thread = threading.Thread(target=loop_thread, name="autointerp-batch", daemon=True)
    thread.start()
    ready.wait()
    pending: list = []
    last_flush = time.monotonic()

    def flush(report: bool = True):
        nonlocal last_flush
        good = []
        for item, result in pending:
            if isinstance(result, BaseException):
                fail(item, result)
            else:
                good.append((item, result))
        pending.clear()
        if good:
            write_many(good)
        last_flush = time.monotonic()
        if report:
            after_flush(state["usage"])

    def hand(item) -> None:
        state["loop"].call_soon_threadsafe(state["inbox"].put_nowait, item)

    source: Iterator[list] = iter(chunks)
    handed = received = 0
    exhausted = state["error"] is not None
    try:
        while True:
            if check is not None:
                check()
            while not exhausted and handed - received < AHEAD * concurrency:
                chunk = next(source, None)
                if chunk is None:
                    exhausted = True
                    hand(_END)
                    break
                for item in chunk:
                    hand(item)
                handed += len(chunk)
            try:
                message = results.get(timeout=0.25)
            except queue.Empty:
                message = None
            if message is _END:
                break
            if message is not None:
                received += 1
                pending.append(message)
            if pending and (
                message is None
                or len(pending) >= FLUSH_EVERY
                or time.monotonic() - last_flush >= FLUSH_AFTER_S
            ):
                flush()
    except BaseException:
        if "loop" in state:
            try:
                state["loop"].call_soon_threadsafe(state["stopped"].set)
            except RuntimeError:  # the loop already ended
                pass
        if not exhausted and "loop" in state:
            try:
                hand(_END)
            except RuntimeError:  # the loop already ended
                pass
        thread.join()
        while (message := _get_nowait(results)) is not None:
            if message is not _END:
                pending.append(message)
        flush(report=False)  # what already came back is kept
        raise
    thread.join()
    flush()
    if state["error"] is not None:
        raise state["error"]


def _loop_factory():
    """uvloop's event loop when installed (it is, for the uvicorn workers): the batch loop is
    nothing but HTTP calls, and uvloop's callbacks and socket I/O cost a fraction of asyncio's
    pure-Python selector loop, CPU this process's database side shares through the GIL."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is in requirements.txt
        return None
    return uvloop.new_event_loop


def _get_nowait(q: queue.Queue):
    try:
        return q.get_nowait()
    except queue.Empty:
        return None
