"""CPU per request of the web server under the load bench's clients, for server variants (A/B).

Not a test, not the load bench: a tool to compare ways of running the web server by what the
machine's load distorts least, the CPU it spends per request. On the load bench's kept database
(``run.py --scale S --prepare`` builds it), every variant's server is started as ``make run``
starts it (uvicorn, uvloop, httptools, ``--workers``; run.py's ``server_command``) with the
variant's environment and extra uvicorn options, and warmed up; then in each round each variant
in turn gets the bench's clients (``run.py --client``: aiohttp, half feature pages, half
``GET /api/feature/...``) for ``--duration`` seconds (the others idle), and prints per request:
CPU ms of its web processes (user / system; of which their event-loop threads), of PostgreSQL and
of the clients' process, context switches of all the web processes' threads (voluntary /
involuntary), and req/s (depends on the load: compare within a round). Alternating within a
round, a change of the machine's load hits every variant alike; still, single pairs swing by
+-15% on a shared machine: take several rounds and compare medians.

    flock /work/wt/bench.lock .venv/bin/python bench/load/server_cpu.py --scale 0.1 --rounds 4 \
        --variant base --variant 'inflight4|WEB_MAX_INFLIGHT=4' --variant 'h11||--http h11'

A variant is ``name|ENV=V ENV2=V|extra uvicorn options`` (``CLIENTS=N`` in its environment: that
many clients for this variant instead of ``--clients``). Each server keeps up to its pool size of
PostgreSQL connections per worker: the embedded server allows 100, so about 2 variants of
2 workers at once. ``--pyspy S`` records one worker of the first variant for S seconds of its
first measured run with py-spy (raw collapsed stacks, ``--pyspy-args``) into ``--pyspy-out``.
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


from cpu_profile import _load_run_module  # noqa: E402  (bench/load, the script's folder)

from neuronsite.jobs.testing import stop  # noqa: E402  (terminate, wait, kill what lingers)


def _cpu_split(pids: list[int]) -> tuple[float, float]:
    import psutil

    user = system = 0.0
    for pid in pids:
        try:
            t = psutil.Process(pid).cpu_times()
        except psutil.NoSuchProcess:
            continue
        user += t.user
        system += t.system
    return user, system


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--variant", action="append", default=[])
    parser.add_argument("--pyspy", type=float, default=0.0)
    parser.add_argument("--pyspy-args", default="--idle")
    parser.add_argument("--pyspy-out", default="/tmp/server_cpu.pyspy.txt")
    args = parser.parse_args()
    variants = []
    for spec in args.variant or ["base"]:
        name, _, rest = spec.partition("|")
        env_part, _, extra = rest.partition("|")
        env = dict(kv.split("=", 1) for kv in shlex.split(env_part))
        variants.append((name, env, shlex.split(extra)))

    run = _load_run_module()
    os.environ["EMBEDDED_DB_NAME"] = run.DB_NAME
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "neuronsite.settings")
    import django

    django.setup()
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM features_feature")
        (features,) = cur.fetchone()
    connection.close()
    if features != max(1, int(run.FEATURES_FULL * args.scale)):
        sys.exit(f"no kept database of scale {args.scale}: run.py --scale {args.scale} --prepare")
    pg = run.postmaster_pid()
    import socket

    results: dict[str, list[dict]] = {name: [] for name, _, _ in variants}
    servers = []  # every variant's server runs from the start; only one is driven at a time
    try:
        for name, env, extra in variants:
            port = run._free_port()
            cmd = [*run.server_command("uvicorn", port, args.workers), *extra]
            log_path = Path(tempfile.gettempdir()) / f"server-cpu-{port}.log"
            full_env = {
                **os.environ,
                "EMBEDDED_DB_NAME": run.DB_NAME,
                "DEBUG": "false",
                "LOG_LEVEL": "ERROR",
                **env,
            }
            with open(log_path, "w") as log:
                proc = subprocess.Popen(cmd, cwd=ROOT, env=full_env, stdout=log, stderr=subprocess.STDOUT)
            servers.append(proc)
            deadline = time.monotonic() + 120
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                    break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(log_path.read_text()[-2000:]) from None
                    time.sleep(0.2)
            base = f"http://127.0.0.1:{port}"
            run.run_clients(base, 8, 3.0, features)  # warm-up (imports, templates, pool)
            workers = run.web_worker_pids(proc.pid)
            variants[len(servers) - 1] = (name, base, workers, int(env.get("CLIENTS", args.clients)))
        for rnd in range(args.rounds):
            for i, (name, base, workers, clients) in enumerate(variants):
                spy = None
                if args.pyspy and rnd == 0 and i == 0:
                    spy = subprocess.Popen(
                        [str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(workers[0]),
                         "--duration", str(int(args.pyspy)), "--rate", "250", "--format", "raw",
                         "--output", args.pyspy_out, "--nonblocking", *shlex.split(args.pyspy_args)],
                        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                    )  # fmt: skip
                u0, s0 = _cpu_split(workers)
                m0, v0, n0 = run.loop_and_switches(workers)
                pg0 = run.tree_cpu(pg)
                load0 = os.getloadavg()[0]
                site = run.run_clients(base, clients, args.duration, features)
                u1, s1 = _cpu_split(workers)
                m1, v1, n1 = run.loop_and_switches(workers)
                pg1 = run.tree_cpu(pg)
                if spy is not None:
                    spy.wait()
                n = max(site["requests"], 1)
                row = {
                    "rps": site["rps"],
                    "errors": site["errors"],
                    "web_user": (u1 - u0) * 1000 / n,
                    "web_sys": (s1 - s0) * 1000 / n,
                    "loop": (m1 - m0) * 1000 / n,
                    "pg": (pg1 - pg0) * 1000 / n,
                    "client": site["client_cpu_s"] * 1000 / n,
                    "vol": (v1 - v0) / n,
                    "invol": (n1 - n0) / n,
                    "p95": site.get("server_p95_ms", float("nan")),
                    "load": f"{load0:.1f}->{os.getloadavg()[0]:.1f}",
                }
                results[name].append(row)
                print(
                    f"round {rnd} {name:>14}: {row['rps']:6.1f} req/s err {row['errors']}  web "
                    f"{row['web_user'] + row['web_sys']:.2f} ms (user {row['web_user']:.2f} sys {row['web_sys']:.2f};"
                    f" loop thread {row['loop']:.2f})  pg {row['pg']:.2f}  client {row['client']:.2f}"
                    f"  ctxsw/req vol {row['vol']:.1f} invol {row['invol']:.1f}  server p95 {row['p95']:.0f} ms"
                    f"  load {row['load']}",
                    flush=True,
                )
    finally:
        stop(*servers)
    print("per variant, sorted: web CPU ms / request (user+sys) | req/s")
    for name, rows in results.items():
        webs = sorted(r["web_user"] + r["web_sys"] for r in rows)
        rps = sorted(r["rps"] for r in rows)
        print(
            f"  {name:>14}: median {statistics.median(webs):.2f} ms ("
            + " / ".join(f"{w:.2f}" for w in webs)
            + f") | median {statistics.median(rps):.1f} req/s"
        )


if __name__ == "__main__":
    main()
