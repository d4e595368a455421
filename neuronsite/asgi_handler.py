"""Django's ASGI handler with the middleware chain run synchronously, in ONE thread hop.

Every view of the site is synchronous (streaming views return async iterators, which the handler
consumes on the event loop as before). Django's own ``ASGIHandler`` builds the middleware chain
in async mode, so each ``MiddlewareMixin`` middleware runs its ``process_request`` /
``process_response`` through ``sync_to_async`` and each sync-only middleware adds an
``async_to_sync`` / ``sync_to_async`` pair: about twenty thread switches per request. Measured
on ``GET /api/feature/...``: 10.1 ms of CPU per request under the async chain, 3.7 ms for the
same request through the sync chain (bench/load). Here the chain is built in sync mode (as under
WSGI) and the whole of it runs in one ``sync_to_async(thread_sensitive=True)`` call, in the
request's own thread (``ThreadSensitiveContext``, as before), so database connections are
borrowed and given back on the same thread as before.

An ``async def`` view would still work (Django adapts it with ``async_to_sync``), but it would
run on a loop of its own thread: write views as plain functions.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import time
import weakref
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import SyncToAsync, ThreadSensitiveContext, _restore_context, sync_to_async
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.http import FileResponse
from django.urls import set_script_prefix

# Request threads kept for reuse (per process): Django's handler enters a ThreadSensitiveContext
# per request, whose first thread-sensitive call starts a new thread (and the event loop waits in
# Thread.start() for it to run, which on a busy machine is a queue of its own); here each request
# gets an idle one-thread executor of an earlier request instead (asgiref's
# ``ThreadSensitiveContext(executor=...)``: one request at a time, all of its sync steps on that
# thread, as before). Past this many idle ones, a finished request's thread is let go.
MAX_IDLE_REQUEST_THREADS = 256


class SyncChainASGIHandler(ASGIHandler):
    """At most ``WEB_MAX_INFLIGHT`` requests of a process run their sync chain at once (default:
    the database pool's size, which already bounds the requests that hold a connection); the
    others wait on the event loop, first come first served, instead of each starting a thread
    that would only wait for the GIL or a pooled connection (500 clients: 500 threads)."""

    def __init__(self):
        super().__init__()
        self._slots: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # event loop -> slots

    def load_middleware(self, is_async=False):
        super().load_middleware(is_async=False)
        self._idle_executors: list[ThreadPoolExecutor] = []

    async def __call__(self, scope, receive, send):
        """Django's ``ASGIHandler.__call__``; the request takes a thread only once it gets one of
        the ``WEB_MAX_INFLIGHT`` slots (see :meth:`_take_executor`)."""
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        await self.handle(scope, receive, send)

    def _take_executor(self) -> ThreadPoolExecutor:
        """An idle one-thread executor of an earlier request, or a new one (see
        ``MAX_IDLE_REQUEST_THREADS``). Taken when the request enters its slot, not on arrival:
        with 500 clients queued, taking one on arrival kept ~500 executors in use, more than the
        idle list holds, so threads were let go and started again all the time."""
        try:
            return self._idle_executors.pop()
        except IndexError:
            return ThreadPoolExecutor(max_workers=1, thread_name_prefix="request")

    def _give_back(self, executor: ThreadPoolExecutor) -> None:
        if len(self._idle_executors) < MAX_IDLE_REQUEST_THREADS:
            self._idle_executors.append(executor)
        else:
            executor.shutdown(wait=False)

    async def handle(self, scope, receive, send):
        """Django's ``ASGIHandler.handle`` with all of a request's sync work in ONE thread hop.

        Django's own makes three per request: ``request_started`` (its receivers are sync:
        ``close_old_connections``, ``reset_queries``), the middleware chain and view, and
        ``response.close()`` (``request_finished``), and runs the view in a task of its own
        beside a second task that waits for the client to disconnect. Here the thread sends
        ``request_started``, runs the chain and, for a complete (non-streaming) response, closes
        it (its pooled connection goes back before the bytes go out); the event loop then sends
        it. A client that leaves meanwhile changes nothing for a sync view (its thread runs to
        the end either way; the server drops the send). A streaming response keeps Django's
        watch: its iteration is cancelled when the client disconnects, then it is closed.

        The hop itself is a plain submission to the request's one-thread executor (see
        :meth:`_hop`), not asgiref's ``sync_to_async``; what needs asgiref's thread-sensitive
        routing (a streaming response's iteration and close, the error path) runs inside a
        ``ThreadSensitiveContext`` on that same executor, as before."""
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        set_script_prefix(get_script_prefix(scope))
        request, error_response = self.create_request(scope, body_file)
        if request is None:
            body_file.close()
            executor = self._take_executor()
            try:
                async with ThreadSensitiveContext(executor=executor):
                    await signals.request_started.asend(sender=self.__class__, scope=scope)
                    await self.send_response(error_response, send)
                    await sync_to_async(error_response.close)()
            finally:
                self._give_back(executor)
            return
        executor = None
        try:
            response, executor = await self._get_response_in(request)
            response._handler_class = self.__class__  # as Django's run_get_response
            if isinstance(response, FileResponse):
                response.block_size = self.chunk_size
            if not response.streaming:
                await self.send_response(response, send)
                return
            async with ThreadSensitiveContext(executor=executor):
                await self._stream(response, receive, send)
        finally:
            body_file.close()
            if executor is not None:
                self._give_back(executor)

    async def _stream(self, response, receive, send) -> None:
        tasks = [
            asyncio.create_task(self.listen_for_disconnect(receive)),
            asyncio.create_task(self.send_response(response, send)),
        ]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            if task.done():
                try:
                    task.result()
                except (RequestAborted, asyncio.CancelledError):
                    pass
            else:
                task.cancel()
                try:
                    await task
                except (RequestAborted, asyncio.CancelledError):
                    pass
        await sync_to_async(response.close)()

    def _serve(self, request):
        """The request's thread: ``request_started``, middleware and view, and ``close()`` of a
        complete response (``request_finished``)."""
        signals.request_started.send(sender=self.__class__, scope=request.scope)
        response = self.get_response(request)
        if not response.streaming:
            response.close()
        return response

    def _slots_for_loop(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        slots = self._slots.get(loop)
        if slots is None:
            from django.conf import settings

            slots = self._slots[loop] = asyncio.Semaphore(settings.WEB_MAX_INFLIGHT)
        return slots

    async def get_response_async(self, request):
        """Django's entry (``run_get_response``) for callers that use it."""
        response, executor = await self._get_response_in(request)
        self._give_back(executor)
        return response

    async def _get_response_in(self, request) -> tuple:
        """The response, and the request's executor (to give back once the response is sent)."""
        waited = time.perf_counter()
        async with self._slots_for_loop():
            started = time.perf_counter()
            executor = self._take_executor()
            try:
                response = await self._hop(executor, request)
            except BaseException:
                self._give_back(executor)
                raise
        if TIMING_KEY in request.scope:  # ServerTimingMiddleware reports the split
            request.scope[TIMING_KEY] = ((started - waited) * 1000, (time.perf_counter() - started) * 1000)
        return response, executor

    async def _hop(self, executor: ThreadPoolExecutor, request):
        """:meth:`_serve` on ``executor``'s thread, in a copy of this task's context: what
        ``sync_to_async(thread_sensitive=True)`` does for it inside a ``ThreadSensitiveContext``
        with that executor (the thread knows the event loop, for ``async_to_sync`` in a view;
        asgiref's ``Local`` values move to the thread with the context), less the general
        machinery (per-call wrappers, the executor lookup, a shield, and copying the thread's
        context changes back to this task, which only sends the response afterwards):
        measured (bench/load/cpu_profile.py) about a fifth of a feature API request's CPU was
        on the event loop, and this hop most of it."""
        loop = asyncio.get_running_loop()
        context = contextvars.copy_context()
        return await loop.run_in_executor(executor, self._in_thread, loop, context, request)

    def _in_thread(self, loop, context: contextvars.Context, request):
        local = SyncToAsync.threadlocal  # what asgiref's thread_handler sets, for AsyncToSync
        local.main_event_loop = loop
        local.main_event_loop_pid = os.getpid()
        local.task_context = []
        return context.run(self._serve_here, context, request)

    def _serve_here(self, context: contextvars.Context, request):
        _restore_context(context)  # asgiref's Local storage re-homed to this thread (as asgiref)
        return self._serve(request)


def get_asgi_application() -> SyncChainASGIHandler:
    """``django.core.asgi.get_asgi_application`` with :class:`SyncChainASGIHandler`."""
    import django

    django.setup(set_prefix=False)
    return SyncChainASGIHandler()


TIMING_KEY = "neuronsite.timing"


class ServerTimingMiddleware:
    """ASGI middleware: ``Server-Timing: app;dur=<ms>`` on every HTTP response, the time from
    the request reaching the application to its response headers (body read, waiting for a
    thread and a pooled connection, middleware, view, rendering; for a streaming response, up to
    its first byte), and for requests through Django, ``queue;dur=`` (waiting for one of the
    process's ``WEB_MAX_INFLIGHT`` slots) and ``view;dur=`` (the middleware chain and view, in
    their thread). Load tests read it to tell server time from time spent in their own clients
    when both share a machine (bench/load). Off with ``SERVER_TIMING=false``."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start = time.perf_counter()
        scope = {**scope, TIMING_KEY: None}

        async def timed_send(message):
            if message["type"] == "http.response.start":
                ms = (time.perf_counter() - start) * 1000
                timing = f"app;dur={ms:.1f}"
                if scope[TIMING_KEY] is not None:
                    timing += ", queue;dur={:.1f}, view;dur={:.1f}".format(*scope[TIMING_KEY])
                headers = [*message.get("headers", ()), (b"server-timing", timing.encode())]
                message = {**message, "headers": headers}
            await send(message)

        return await self.app(scope, receive, timed_send)
