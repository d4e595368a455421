"""Benchmark: graph generation as users run it vs bare circuit-tracer on the same inputs, in one run.

- bare: circuit-tracer's ``attribute`` → ``create_graph_files`` (which prunes and writes the JSON),
  in this process;
- service: ``graphs.services.graph_generate`` in this process (checks, the engine thread with
  progress, labels, gzip, storage write, the metadata row);
- job: what ``POST /api/graph/generate`` and the viewer run: ``graph_job_create`` (checks, Job row,
  Procrastinate task) → a real ``manage.py run_jobs_worker`` process takes it → progress, labels,
  gzip, storage, row → the job ``succeeded``. Timed from the enqueue call to the moment this
  process hears the job's final state (PostgreSQL ``LISTEN`` on the job events, no polling).

Same random-weight model and transcoders (built into a temp folder, registered as model
``bench-graphs``, removed at the end), same prompt and thresholds, the same torch thread count
in this process and the worker. After one warm-up each (the worker loads and keeps the
replacement model), the variants run alternately ``--repeats`` times and the medians are compared.
CPU seconds are counted too (bare/service: this process; job: the worker process, read from
/proc, plus this process's enqueue), since on a shared machine other processes stretch wall time.
Prints the medians and the ratios against bare (goal ≤ 1.05). Not a test.

``BENCH_TRACE=1`` prints every job event as it is heard and the worker's CPU per thread.

    .venv/bin/python bench/graphs/run.py [--layers 2 --d-model 32 --d-transcoder 128 --max-tokens 24 --repeats 5]
Quiet re-measure after the merge (2026-11-28 02:13 UTC, load average 1.3, main 6f21839, default sizes,
5 repeats): bare 419 ms, service 439 ms (1.047x wall, 0.997x CPU), job 468 ms (1.117x wall, 1.085x
CPU): the goal of 1.05x is NOT met for the job path at this size (~50 ms of fixed job cost on a
~0.4 s graph).

2026-11-28 04:20 UTC, branch G4 (helper G4): the job's fixed cost cut. (1) One commit at the end:
the graph row and the part's "succeeded" (100 %, the last stages' log lines) in one transaction
(``graph_store(on_stored=…)`` → ``Reporter.finish``); the separate 100 % progress write is gone.
(2) Checks in one query each: ``graphs.selectors.graph_target`` (model + transcoder set + its ref +
slug taken, at enqueue and again in the worker: 4 → 1 query each), labels + densities (2 → 1), the
GPU queue depth (2 → 1). (3) ``prune_and_score``: circuit-tracer's ``prune_graph`` and
``compute_graph_scores`` share one node-influence pass (bit-equal, tested; removed again in the
review after the merge: it re-wrote circuit-tracer's pruning step for step, and the engine calls
circuit-tracer's own ``prune_graph`` and ``compute_graph_scores`` again). (4) No async_to_sync
hop for job events nobody in the process listens to (workers, this bench's enqueue). (5)
circuit-tracer's version read once per process. (6) This bench: the same ``OMP_WAIT_POLICY`` in
this process and the worker (``--omp-wait-policy``, default the worker's PASSIVE); prints the
fixed cost over bare in ms. The machine was NOT quiet (load average 6-11 from other sessions; the
bench and this worktree's PostgreSQL ran at nice -10), so wall ratios swing ±30 % run to run;
interleaved runs of main (7f4c27c, same OMP_WAIT_POLICY=PASSIVE) and G4, default sizes, 7 repeats:
main: job/bare wall 1.171, 1.109, 1.509 (CPU 1.113, 1.091, 1.090); service/bare wall 1.097, 0.848,
0.902; G4: job/bare wall 1.015, 1.106, 1.183 (CPU 1.085, 1.054, 1.004); service/bare wall 0.604,
1.046, 0.884 (bare medians 0.86-1.48 s instead of 0.42 s quiet). The fixed cost itself, on a graph
whose compute is negligible (``--layers 1 --d-model 16 --d-transcoder 16 --max-tokens 4 --repeats
15``, load ~8, bare 36-37 ms in both): main service +61 ms, job +137 ms; G4 service +20 ms, job +57
ms (row created -> part started 24 ms of it). In process with the job run inline (min of 30, CPU):
job − bare 34 / 29 ms (main) → 25 / 22 ms (G4). Later, load 1.4-2.9, default sizes: G4 job/bare
wall 0.990, 0.983 (load 3-4, 7 repeats), 1.063, 1.115 (7 repeats), 1.176, 1.120 (15 repeats), CPU
0.990-1.108; main in between 1.144, 1.084, 1.051 (7), 1.233 (15). Small-graph probe at load ~2.5
(20 repeats): job − bare main +34/+40/+50 ms, G4 +56/+47/+50 ms; service − bare main +12/+16/+20,
G4 +31/+20/+13: at low load the two are within the noise of each other; G4's gain shows under
load, where round trips cost most. Where the rest goes at low load: row created -> part started
12-19 ms (commit, NOTIFY, Procrastinate's fetch, the worker's thread hop, the part-start write),
and Django compiling each query (~1 ms CPU per simple query, ~4 ms for graph_target's). The 1.05x
goal for the job path is NOT shown met: a quiet re-measure with >= 15 repeats is needed.
Quiet re-measure after the merge (2026-11-28 04:48 UTC, load average 1.5, main 94230a8, default sizes,
9 repeats): bare 512 ms, service 496 ms (0.969x wall, 0.947x CPU), job 590 ms (1.152x wall, 1.126x
CPU; best runs 1.042x): the job path's 1.05x goal is NOT met. Row created -> part started 12 ms
(median); started -> finished 565 ms against the service's 496 ms in this process, so what is
left is the worker's own run of the same code (+~70 ms, +~75 ms CPU), not pickup.
A second quiet run (05:11 UTC, load average 0.1-0.5, 5 repeats, BENCH_TRACE=1): bare 508 ms, service 513 ms
(1.009x), job 543 ms (1.067x wall, 1.026x CPU; started -> finished 517 ms, the same as the service, so
the first run's +70 ms in the worker was noise); what is left is ~14 ms from the enqueue call to the
"queued" event (checks, Job row, defer, commit) and ~13 ms from there to the part starting. Goal
1.05x: NOT met (1.067x and 1.152x in the two quiet runs).

2026-11-28 06:50 UTC, branch G5 (helper G5): the job's fixed cost cut again. (1) The hot lookups
are compiled once per shape and re-run with new values (``neuronsite.compiled_query``: the ORM
queryset, visibility rule included, is built once with stand-in values; its SQL and parameter
slots are kept): ``graph_target`` 6.3 -> 0.4 ms CPU, the node labels 3.9 -> 0.3 ms (layers and
indices as two array parameters, whatever the node count), the locked job row 2.1 -> 0.5 ms (on
every start/progress/finish), the locked graph row. Enqueue (checks + Job row + defer + commit)
10.7 -> 3.7 ms CPU, a part's start 3.1 -> 1.5 ms. (2) A part's start, its progress and log
writes commit with ``synchronous_commit`` off for their own transaction only (their loss in a
database crash costs nothing: the task runs again); creation, the end (graph row + succeeded),
cancel and any job write inside a caller's transaction still wait for the disk. A flush costs
~0.3 ms on a quiet disk, median ~8 ms while the other sessions' databases write. Measured on a
machine shared with 3-4 other sessions (load average 6-9; this bench and its PostgreSQL at nice
-10), so wall times are 2-4x the quiet ones and the ratios swing +-20 %. Fixed cost, interleaved
with main 98a78b3 (``--layers 1 --d-model 16 --d-transcoder 16 --max-tokens 4 --repeats 15``,
load 7-9): main job +102/+88 ms wall (+41/+22 ms CPU), service +63/+33 ms wall (+19/+9 CPU);
G5 job +33/+19 ms wall (+16/+9 ms CPU), service +10/-8 ms wall (+2/+4 CPU). Default sizes, 9
repeats: G5 job/bare wall 1.026, 1.197, 0.858 (CPU 1.072, 1.073, 1.066), service/bare wall 0.784,
1.129, 0.797 (CPU 0.938, 1.022, 1.035), bare medians 1985, 943, 1039 ms (quiet: ~510); main in
between: job 0.896 (CPU 0.971), service 0.662 (CPU 0.841), bare 1564 ms; a 5-repeat trace run:
job 1.210 wall, 0.948 CPU. Worker threads per job (``BENCH_TRACE``): the engine thread ~0.35 s
and one OpenMP thread ~0.21 s (2 torch threads, as in this process), the event loop and the
task thread 10-20 ms together; row created -> part started 20-37 ms at this load (main 31-41).
At this load the default-size ratios are noise (CPU +-7 % run to run): the 1.05x goal for the
job path is NOT shown met here; the quiet re-measure decides. Run: ``.venv/bin/python
bench/graphs/run.py --repeats 9`` (and the small-graph probe above for the fixed cost).
Quiet re-measure after the merge of G5 (2026-11-28 07:14 UTC, main c9edfa2, load average 1.0-1.4,
15 repeats): bare 487 ms, service 490 ms (1.006x wall, 1.039x CPU), job 519 ms (1.065x wall,
1.056x CPU; best runs 1.046x wall): the 1.05x goal for the job path is NOT met (it was 1.067x and
1.152x before G5). Row created -> part started 11 ms, started -> finished 501 ms (the service's
run in process: 490 ms). Small-graph probe (``--layers 1 --d-model 16 --d-transcoder 16
--max-tokens 4``, load 1.1-1.4, BENCH_TRACE=1): bare 20-22 ms, service 24-26 ms, job 47-52 ms:
enqueue -> "queued" heard 8 ms (graph_job_create 11 ms in a profile: 6 statements and a durable
commit, 5 ms of it waiting on round trips; the checks 2 ms), "queued" -> part started 8 ms
(Procrastinate's wakeup and fetch, the worker's thread hop, the start write), the run ~5 ms over
the service's. What is left to cut is round trips: the Job row, Procrastinate's defer and the
parts' update in one statement, and Procrastinate's fetch.

2026-11-28 09:25 UTC, branch G6 (helper G6): the job's round trips cut. (1) Enqueue: the Job row,
Procrastinate's defer (its own ``procrastinate_defer_jobs_v1``, each task's configured defaults,
the job id merged into the arguments) and the parts' task ids are ONE statement with its NOTIFY
(``neuronsite.jobs.rows.insert_with_tasks``: the id from the row's sequence, so row and tasks name
each other); outside a transaction it is its own durable commit: 1 round trip instead of 6
(BEGIN, insert, defer, update, NOTIFY, COMMIT); inside a caller's transaction it is one statement
of it (a rollback leaves neither row nor task; tested). (2) Pickup: the worker's Procrastinate
pool (``neuronsite.jobs.worker_db``) is in autocommit, checks connections from their socket, keeps
one connection (warm plans), and its claim (``fetch_job``) commits without waiting for the disk
(a lost claim means everything after it is lost too: the task is ``todo`` again): 4 round trips
and a flush → 1 round trip. (3) A part's start: the row is read unlocked and written back with its
event in one statement only if its ``xmin`` is unchanged (no BEGIN/COMMIT, no lock): 5 round trips
→ 2. (4) Progress and the end: the task's own last write (thread-local copy + version) is the
base, one statement, no locked read; a write from anyone else (a cancel) changes the version and
the writer reads the row again (tested with a cancel from another thread). The end no longer
opens a savepoint inside the graph row's transaction. Every job write + NOTIFY is one statement
(``rows.save``), not ``save()`` + a NOTIFY statement. (5) This bench reads the worker's CPU from
/proc before and after the timed job, not inside it (the trace's per-thread snapshot was inside:
~1 ms of /proc reads counted as job time). Figures on a machine shared with 2-3 other sessions
(load average 2.3 → 12 during the runs, NOT quiet), alternating G6 with main 9ceac22 (the same
bench file, its own embedded PostgreSQL). Small-graph probe (``--layers 1 --d-model 16
--d-transcoder 16 --max-tokens 4``, 15-20 repeats), fixed cost over bare, wall / CPU: G6 +22/+13,
+29/+8, +14/+5, +111/+6 (load 9), +46/+10 (load 9-12), +36/+8 (load 5.6) ms; main +21/+18, +49/+21,
+36/+15, +168/+17 (load 8), +47/+8 (load 12), +59/+13 (load 5.6) ms: the job's CPU over bare
roughly halves (median +8 vs +16 ms); wall is within the load's noise. Row created -> part started: G6 8-11 ms (21-53 at load 9), main 10-25 ms
(24-84). BENCH_TRACE timestamps (small graph, load 1.7-4): enqueue call -> "queued" heard 15 -> 7-8
ms (the create statement 1.6-2.3 ms with its flush), Procrastinate's notify -> task thread 3.6 ms
(fetch 3.1, thread hop 0.7), task entered -> start written 3.2-3.9 ms (2 statements), the end's
job write 1 statement. Default sizes (15 repeats, load 3.3-9): G6 job/bare wall 1.079, 1.120,
0.909, 0.955 (CPU 1.003, 1.010, 0.937, 1.025), service/bare 0.914, 0.999, 0.914, 0.973; main
job/bare 0.835, 1.232, 1.125, 1.030 (CPU 0.757, 1.020, 1.031, 1.037), service/bare 1.057, 1.126,
0.926, 0.676 (bare medians 640-1250 ms instead of ~490 quiet: at this load the default-size
ratios are noise); row created -> part started G6 14/15/11/13 ms, main 22/20/19/19 ms. The 1.05x goal (and the ~1.03x margin) for the job path
is NOT shown at this load: the quiet re-measure decides. Run: ``.venv/bin/python
bench/graphs/run.py --repeats 15`` (and the probe above with ``BENCH_TRACE=1``).
Quiet re-measure after the merge of G6 (2026-11-28 10:04-10:30 UTC, main 51b5d3c, load average
1.2-1.6, default sizes), four runs: 15 repeats: bare 489 / 468 / 482 ms, service 1.030x / 0.989x /
1.003x, job 1.022x / 1.055x / 1.034x wall (CPU 1.022x / 1.020x / 1.019x); 40 repeats: bare 485 ms,
service 1.004x, job 1.021x wall (0.998x CPU). Row created -> part started 7 ms (median, every run;
it was 12 ms). Goal job / bare <= 1.05x: met in three of four runs and in the 40-repeat one (the
15-repeat 1.055x was the run whose bare median was the fastest, 468 ms).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "neuronsite.settings")

PROMPT = (
    "The Python tutorial explains how a function call evaluates its arguments before the body runs, "
    "and how the return value"
)
MODEL = "bench-graphs"
PARAMS = {
    "maxNLogits": 10,
    "desiredLogitProb": 0.95,
    "nodeThreshold": 0.8,
    "edgeThreshold": 0.85,
}


def _proc_cpu(pid: int) -> float:
    """CPU seconds (user + system, all threads) a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _thread_cpu(pid: int) -> dict[str, float]:
    out: dict[str, float] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            name = (task / "comm").read_text().strip()
            out[f"{name}/{task.name}"] = _proc_cpu_path(task / "stat")
        except OSError:
            pass
    return out


def _proc_cpu_path(path: Path) -> float:
    fields = path.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class JobEvents:
    """Final job states as the workers publish them (``neuronsite.jobs.events``: NOTIFY when the
    channel layer is in-memory, which is what a worker on this machine uses without REDIS_URL)."""

    def __init__(self):
        import psycopg

        from neuronsite.jobs.bridge import _connection_params
        from neuronsite.jobs.events import NOTIFY_CHANNEL, layer_is_shared

        if layer_is_shared():
            raise SystemExit("unset REDIS_URL: the bench hears job events through PostgreSQL NOTIFY")
        self.conn = psycopg.connect(**_connection_params(), autocommit=True)
        self.conn.execute(f"LISTEN {NOTIFY_CHANNEL}")

    def wait_final(self, job_id: int, timeout: float = 600) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for note in self.conn.notifies(timeout=max(0.0, deadline - time.monotonic()), stop_after=1):
                job = json.loads(note.payload)["job"]
                if os.environ.get("BENCH_TRACE"):
                    print(
                        f"    {time.monotonic():.3f} {job['state']} {job['done']} {job['log'][-1:]}",
                        flush=True,
                    )
                if job["id"] == job_id and job["state"] in ("succeeded", "failed", "cancelled"):
                    return job
        raise SystemExit(f"job {job_id} did not end within {timeout} s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--d-model", type=int, default=32)
    parser.add_argument("--d-transcoder", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--max-tokens", type=int, default=24)
    parser.add_argument("--max-feature-nodes", type=int, default=1500)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (default: min(cores, 8))")
    parser.add_argument("--worker-env", action="append", default=[], help="KEY=VALUE for the worker only")
    parser.add_argument(
        "--omp-wait-policy",
        default=os.environ.get("OMP_WAIT_POLICY", "PASSIVE"),
        help="OpenMP wait policy for this process and the worker (default: the worker's own, PASSIVE)",
    )
    args = parser.parse_args()
    # Stopped with SIGTERM (e.g. by `timeout`): still stop the worker and remove the bench rows.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    load_start = Path("/proc/loadavg").read_text().split()[:3]
    tmp = Path(tempfile.mkdtemp(prefix="bench-graphs-"))
    threads = args.threads or max(1, min(os.cpu_count() or 1, 8))
    # The worker and this process compute with the same number of threads.
    # ... and with the same OpenMP wait policy (run_jobs_worker defaults to PASSIVE; set here before
    # torch loads, the worker inherits it).
    os.environ.update(
        OMP_NUM_THREADS=str(threads),
        MKL_NUM_THREADS=str(threads),
        MEDIA_ROOT=str(tmp / "media"),
        OMP_WAIT_POLICY=args.omp_wait_policy,
    )
    os.environ["GRAPH_MAX_PROMPT_TOKENS"] = str(max(64, args.max_tokens))

    import django

    django.setup()
    import torch

    torch.set_num_threads(threads)
    from circuit_tracer import attribute
    from circuit_tracer.utils.create_graph_files import create_graph_files
    from django.conf import settings as dj
    from django.core.management import call_command

    from graphs import selectors
    from graphs.services import graph_generate, transcoder_set_register
    from graphs.services.jobs import graph_job_create
    from inference.engine import ModelSpec, get_engine
    from inference.graphs.engine import TranscoderSpec, cached_replacement_model
    from inference.graphs.transcoders import build_tiny_transcoders
    from inference.testing import build_tiny_model, register_tiny
    from models_app.models import Model
    from neuronsite.jobs.models import Job

    call_command("migrate", verbosity=0)
    build_tiny_model(tmp / "model", n_layers=args.layers, d_model=args.d_model, seed=0)
    build_tiny_transcoders(
        tmp / "tc", n_layers=args.layers, d_model=args.d_model, d_transcoder=args.d_transcoder, scan="bench"
    )
    Model.objects.filter(name=MODEL).delete()
    register_tiny(model_name=MODEL, model_folder=tmp / "model")
    transcoder_set_register(model_name=MODEL, set_name="tc", folder=tmp / "tc")

    # The bare side builds its replacement model the way the engine does (same weights).
    row = Model.objects.get(name=MODEL)
    source_set = selectors.transcoder_set_for(model=row, set_name="tc", user=None)
    spec = TranscoderSpec(
        model_name=MODEL, set_name="tc", ref=selectors.transcoder_ref(source_set=source_set)
    )
    model = get_engine().call(cached_replacement_model, ModelSpec.of(row), spec)
    words = PROMPT.split(" ")
    while int(model.ensure_tokenized(" ".join(words)).shape[-1]) > args.max_tokens:
        words.pop()
    prompt = " ".join(words)
    n_tokens = int(model.ensure_tokenized(prompt).shape[-1])
    max_nodes = args.max_feature_nodes

    def bare() -> None:
        graph = attribute(
            prompt,
            model,
            max_n_logits=10,
            desired_logit_prob=0.95,
            batch_size=256,
            max_feature_nodes=max_nodes,
        )
        create_graph_files(
            graph, "bare", str(tmp / "bare"), scan=MODEL, node_threshold=0.8, edge_threshold=0.85
        )

    counter = {"n": 0}

    def next_slug(kind: str) -> str:
        counter["n"] += 1
        return f"bench-{kind}-{counter['n']}"

    def service() -> None:
        graph_generate(
            user=None, model_name=MODEL, prompt=prompt, source_set_name="tc", slug=next_slug("svc"),
            params={**PARAMS, "maxFeatureNodes": max_nodes},
        )  # fmt: skip

    events = JobEvents()
    worker_log = open(tmp / "worker.log", "wb")  # noqa: SIM115 - closed at the end
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "run_jobs_worker", "--name", "bench-graphs", "-v", "0",
         "--queues", dj.JOBS_GPU_QUEUE],
        cwd=ROOT, env={**os.environ, **dict(kv.split("=", 1) for kv in args.worker_env)}, stdout=worker_log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    job_ids: list[int] = []
    worker_cpu: dict[str, object] = {}

    def job_before() -> None:
        """Outside the timed run: the worker's CPU (and, traced, its threads') before the job."""
        worker_cpu["before"] = _proc_cpu(worker.pid)
        worker_cpu["threads"] = _thread_cpu(worker.pid) if os.environ.get("BENCH_TRACE") else {}

    def job() -> None:
        """Timed: from the enqueue call until the job's final state is heard."""
        if os.environ.get("BENCH_TRACE"):
            print(f"    {time.monotonic():.3f} enqueue", flush=True)
        created = graph_job_create(
            user=None, model_name=MODEL, prompt=prompt, source_set_name="tc", slug=next_slug("job"),
            params={**PARAMS, "maxFeatureNodes": max_nodes},
        )  # fmt: skip
        job_ids.append(created.pk)
        final = events.wait_final(created.pk)
        if final["state"] != "succeeded":
            raise SystemExit(f"job {created.pk} {final['state']}: {final['error']}\n{final['log']}")

    def job_after() -> float:
        """Outside the timed run: the worker's CPU seconds for the job."""
        if os.environ.get("BENCH_TRACE"):
            after, before = _thread_cpu(worker.pid), worker_cpu["threads"]
            delta = sorted(((after[k] - before.get(k, 0.0), k) for k in after), reverse=True)
            print("    worker threads CPU:", ", ".join(f"{k} {d:.2f}s" for d, k in delta[:6]), flush=True)
        return _proc_cpu(worker.pid) - worker_cpu["before"]

    runs = (("bare", bare), ("service", service), ("job", job))
    times: dict[str, list[float]] = {name: [] for name, _ in runs}
    cpu: dict[str, list[float]] = {name: [] for name, _ in runs}
    try:
        # Reading the worker's CPU from /proc happens before and after each timed job, not inside it.
        before = {"job": job_before}
        after = {"job": job_after}
        for name, fn in runs:  # warm-up (the worker loads the model on its first job)
            before.get(name, lambda: None)()
            fn()
            after.get(name, lambda: None)()
        for _ in range(args.repeats):
            for name, fn in runs:
                before.get(name, lambda: None)()
                start, cpu_start = time.perf_counter(), time.process_time()
                fn()
                times[name].append(time.perf_counter() - start)
                own_cpu = time.process_time() - cpu_start
                cpu[name].append(own_cpu + (after.get(name, lambda: 0.0)() or 0.0))
                print(
                    f"  {name}: {times[name][-1] * 1000:.0f} ms (CPU {cpu[name][-1] * 1000:.0f} ms)",
                    flush=True,
                )
        progress_writes = Job.objects.get(pk=job_ids[-1]).log.count("\n") + 1
        # Where the job's fixed cost sits: enqueue → the worker starts the part (pickup) and the
        # part's run in the worker (its row's clock), for the timed jobs.
        timed = Job.objects.filter(pk__in=job_ids[1:]).values_list("created_at", "started_at", "finished_at")
        pickup = statistics.median((s - c).total_seconds() for c, s, _ in timed)
        in_worker = statistics.median((f - s).total_seconds() for _, s, f in timed)
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
        worker_log.close()
        Job.objects.filter(pk__in=job_ids).delete()
        Model.objects.filter(name=MODEL).delete()
        shutil.rmtree(tmp, ignore_errors=True)

    med = {k: statistics.median(v) for k, v in times.items()}
    med_cpu = {k: statistics.median(v) for k, v in cpu.items()}
    print(
        f"model: {args.layers} layers, d_model {args.d_model}, d_transcoder {args.d_transcoder}; "
        f"prompt {n_tokens} tokens; {threads} torch threads, OMP_WAIT_POLICY={args.omp_wait_policy}; "
        f"{args.repeats} repeats; load average at the start {load_start}, at the end "
        f"{Path('/proc/loadavg').read_text().split()[:3]}"
    )
    print(f"bare circuit-tracer attribute + create_graph_files: median {med['bare'] * 1000:.0f} ms")
    print(f"service graph_generate (in process):               median {med['service'] * 1000:.0f} ms")
    print(
        f"job enqueue -> worker -> stored:                    median {med['job'] * 1000:.0f} ms "
        f"({progress_writes} job log lines; median row created -> part started {pickup * 1000:.0f} ms, "
        f"started -> finished {in_worker * 1000:.0f} ms)"
    )
    print(
        f"fixed cost over bare (medians): service {(med['service'] - med['bare']) * 1000:+.0f} ms wall, "
        f"{(med_cpu['service'] - med_cpu['bare']) * 1000:+.0f} ms CPU; job {(med['job'] - med['bare']) * 1000:+.0f} ms "
        f"wall, {(med_cpu['job'] - med_cpu['bare']) * 1000:+.0f} ms CPU"
    )
    for name in ("service", "job"):
        print(
            f"ratio {name} / bare: wall {med[name] / med['bare']:.3f}, CPU {med_cpu[name] / med_cpu['bare']:.3f} "
            f"(medians; best runs wall {min(times[name]) / min(times['bare']):.3f}, "
            f"CPU {min(cpu[name]) / min(cpu['bare']):.3f}) (goal <= 1.05)"
        )


if __name__ == "__main__":
    main()
