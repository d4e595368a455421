"""CPU per request of the load benchmark's two hot paths, in-process, through the ASGI application.

On a small database of its own (``--features`` features with 40 snippets each, the load
benchmark's generator; created, then dropped unless ``--keep``): ``--requests`` sequential
requests of random feature pages and ``GET /api/feature/...`` through ``neuronsite.asgi``'s
application (the server's whole chain: timing, static files, Django's handler, middleware, view),
with no HTTP server and no client. Prints CPU ms per request (process time, all threads; and the
embedded PostgreSQL's, all its processes: other users of the server count too), database
round trips per request, response sizes, and with ``--profile`` the top functions of a cProfile
of the same requests (``--sort``). Not a test: a tool to see where a request's time goes.

    .venv/bin/python bench/load/cpu_profile.py --requests 400
    .venv/bin/python bench/load/cpu_profile.py --profile --only page
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DB_NAME = "bench_load_profile"
sys.path.insert(0, str(ROOT))


def _load_run_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_load_run", Path(__file__).with_name("run.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def _get(app, path: str) -> tuple[int, bytes]:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1"), (b"user-agent", b"profile")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }
    sent = False
    status, body = 0, []

    async def receive():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.Event().wait()  # the client never disconnects

    async def send(message):
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            body.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(body)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--features", type=int, default=300)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--only", choices=["page", "api", "both"], default="both")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--sort", default="tottime")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=1,
        help="requests in flight at once (asyncio tasks on one event loop, as a server process has)",
    )
    parser.add_argument(
        "--timer",
        choices=["wall", "cpu"],
        default="cpu",
        help="cProfile's clock: each thread's CPU time (default; waits for the database or the GIL"
        " do not count) or wall time",
    )
    args = parser.parse_args()

    run = _load_run_module()
    run.DB_NAME = DB_NAME
    os.environ["EMBEDDED_DB_NAME"] = DB_NAME
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "neuronsite.settings")
    os.environ.setdefault("DEBUG", "false")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.db.backends import utils as db_utils

    try:
        with connection.cursor() as cur:
            cur.execute("SELECT count(*) FROM features_feature")
            have = cur.fetchone()[0]
    except Exception:  # noqa: BLE001 - no database yet
        have = 0
    connection.close()
    if have != args.features:
        connection.close_pool()
        run.drop_database()
        from neuronsite import embedded_db

        embedded_db._databases_checked.clear()
        call_command("migrate", verbosity=0)
        connection.close()
        run.load_data(args.features, 64)

    from neuronsite.asgi_handler import SyncChainASGIHandler

    in_thread: list = [None]
    chain = SyncChainASGIHandler.get_response

    def profiled_chain(self, request):
        profiler = in_thread[0]
        if profiler is None:
            return chain(self, request)
        profiler.enable()
        try:
            return chain(self, request)
        finally:
            profiler.disable()

    SyncChainASGIHandler.get_response = profiled_chain
    from neuronsite.asgi import application

    queries = [0]
    original = db_utils.CursorWrapper._execute

    def counted(self, *a, **kw):
        queries[0] += 1
        return original(self, *a, **kw)

    db_utils.CursorWrapper._execute = counted
    pg_pid = run.postmaster_pid()  # PostgreSQL's CPU (all its processes) per request, too
    kinds = {"page": ["page"], "api": ["api"], "both": ["page", "api"]}[args.only]
    rng = random.Random(0)

    def path(kind: str) -> str:
        index = rng.randrange(args.features)
        prefix = "/api/feature" if kind == "api" else ""
        return f"{prefix}/{run.MODEL}/{run.SOURCE}/{index}"

    async def drive():
        for kind in kinds:  # warm-up: imports, compiled queries, templates
            for _ in range(20):
                status, body = await _get(application, path(kind))
                assert status == 200, (status, body[:500])
        for kind in kinds:
            n, q, size = args.requests, queries[0], 0
            pg0 = run.tree_cpu(pg_pid)
            t_cpu, t_wall = time.process_time(), time.perf_counter()
            # one profiler on the event loop's thread, one around the middleware chain and view
            # (run in a thread of the request's own: ThreadSensitiveContext)
            timer = time.thread_time if args.timer == "cpu" else time.perf_counter
            profiler = cProfile.Profile(timer) if args.profile else None
            in_thread[0] = cProfile.Profile(timer) if args.profile else None
            if profiler:
                profiler.enable()
            todo = iter(range(n))

            async def worker(todo=todo, kind=kind):
                nonlocal size
                for _ in todo:
                    status, body = await _get(application, path(kind))
                    size += len(body)
                    assert status == 200, status

            await asyncio.gather(*(worker() for _ in range(args.concurrency)))
            if profiler:
                profiler.disable()
            cpu, wall = time.process_time() - t_cpu, time.perf_counter() - t_wall
            pg_cpu = run.tree_cpu(pg_pid) - pg0
            print(
                f"{kind:>4}: {cpu / n * 1000:6.2f} ms CPU / request (wall {wall / n * 1000:.2f} ms),"
                f" PostgreSQL {pg_cpu / n * 1000:.2f} ms CPU / request,"
                f" {(queries[0] - q) / n:.2f} queries / request, {size / n / 1024:.1f} KiB / response"
                + (" (under cProfile)" if profiler else ""),
                flush=True,
            )
            if profiler:
                pstats.Stats(profiler).add(in_thread[0]).sort_stats(args.sort).print_stats(args.top)
                in_thread[0] = None

    asyncio.run(drive())
    connection.close()
    if not args.keep:
        connection.close_pool()
        run.drop_database()


if __name__ == "__main__":
    main()
