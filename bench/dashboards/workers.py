"""Benchmark: one dashboard generation job (2 shards) run by 1 job worker vs 2 workers, same source,
same machine, in one run. Each worker gets cores/N torch threads. Uses its own database
(``neuronsite_bench`` on the embedded server, or ``DATABASE_URL``). Not a test.

    .venv/bin/python bench/dashboards/workers.py [--d-sae 2048 --n-prompts 256 --ctx-len 64]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "neuronsite.settings")
os.environ.setdefault("EMBEDDED_DB_NAME", "neuronsite_bench")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--d-sae", type=int, default=2048)
    parser.add_argument("--n-prompts", type=int, default=256)
    parser.add_argument("--ctx-len", type=int, default=64)
    args = parser.parse_args()

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from inference.dashboards.sharding import dashboards_job_create
    from inference.testing import build_tiny_model, build_tiny_sae, register_tiny
    from neuronsite.jobs.models import Job
    from neuronsite.jobs.testing import clear_queue, start_worker, stop, wait_until

    call_command("migrate", verbosity=0)
    clear_queue()
    out = ROOT / "bench" / "out" / f"workers-{args.d_sae}-{args.ctx_len}"
    if not (out / "sae").exists():
        build_tiny_model(out / "model", n_layers=2, d_model=64, n_ctx=args.ctx_len, vocab_size=1024)
        build_tiny_sae(
            out / "sae", d_in=64, d_sae=args.d_sae, hook_name="blocks.1.hook_resid_pre", model_name="bench"
        )
    cores = os.cpu_count() or 1
    stamp = time.strftime("%H%M%S")
    timings = {}
    for n in (1, 2):
        _, _, (source,) = register_tiny(
            model_name="bench-workers", model_folder=out / "model", sae_folders={1: out / "sae"},
            set_name=f"res-w{n}-{stamp}",
        )  # fmt: skip
        threads = str(max(1, cores // n))
        env = {"OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads, "JOBS_HEARTBEAT_SECONDS": "1"}
        workers = [start_worker(f"bench-{n}-{i}", out, **env) for i in range(n)]
        try:

            def registered(n=n):
                with connection.cursor() as cursor:
                    cursor.execute("SELECT count(*) FROM procrastinate_workers")
                    return cursor.fetchone()[0] >= n

            wait_until(registered, timeout=300, what="workers")
            window = args.d_sae // 2
            job = dashboards_job_create(
                source=source, shards=2, n_prompts=args.n_prompts, ctx_len=args.ctx_len,
                batch_size=min(256, window), features_per_pass=window, umap=False,
            )  # fmt: skip
            start = time.perf_counter()
            wait_until(
                lambda job=job: Job.objects.get(pk=job.pk).state in ("succeeded", "failed"), timeout=3600
            )
            timings[n] = time.perf_counter() - start
            assert Job.objects.get(pk=job.pk).state == "succeeded", Job.objects.get(pk=job.pk).error
        finally:
            stop(*workers)
        clear_queue()
        print(f"{n} worker(s), {threads} torch thread(s) each: {timings[n]:.2f}s")
    print(f"speedup (1 worker / 2 workers) on {cores} cores: {timings[1] / timings[2]:.2f}x")


if __name__ == "__main__":
    main()
