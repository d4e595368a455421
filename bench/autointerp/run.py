"""Batch explanation throughput against a scripted OpenAI-compatible server over real HTTP.

In one run, on its own database of the embedded server (created, then dropped):
  (a) ours: ``explanations_generate_batch`` (``manage.py generate_explanations``) explaining
      BENCH_FEATURES features with ``eleuther_acts_top20`` (delphi's DefaultExplainer prompt and
      parser, our client), concurrency BENCH_CONCURRENCY, database reads and writes included;
  (b) the ideal latency-bound time: features × latency / concurrency;
  (c) delphi's own pipeline (``Pipeline(loader, DefaultExplainer)`` with its ``OpenRouter``
      client pointed at the same server), same records, ``max_concurrent`` = concurrency.
Prints ideal/ours (goal >= 0.8) and delphi_time/ours_time (goal >= 1), the load average, and each
side's CPU seconds in this process (wall-clock ratios need a quiet machine: on 2 shared cores at
load L, a process gets about 2/L of a core, so the CPU figures are the ones that travel).

The scripted server runs in its own process by default (BENCH_SERVER=process), as a real provider
would: in-process (BENCH_SERVER=thread) its request threads take the GIL from the client side of
both pipelines being measured.

BENCH_FEATURES (default 1000), BENCH_LATENCY_MS (100), BENCH_CONCURRENCY (32), BENCH_ACTS (20),
BENCH_SERVER (process | thread).

Measured 2026-11-27 23:37 UTC after the merge, quiet 2-core machine (load average ~1), defaults,
three runs: ideal/ours 0.82, 0.82, 0.79 (goal >= 0.8; ours 3.80, 3.80, 3.98 s against 3.12 s);
delphi/ours 1.41, 1.36, 1.17 (goal >= 1); CPU delphi/ours 2.87, 2.57, 2.02.

Where the ~20% went (2026-11-28, a timeline of every call's start and end, slot occupancy and
each thread's CPU, on the shared machine at load 10-20): the calls themselves were ~105 ms, but
the 32 slots sat idle 11-20% of the run, because the process's Python work (1.4-1.8 s CPU per
1,000 features) took the GIL from the event loop thread: (1) delphi's ``_join_activations``
recomputes ``max(activations)`` for every token (quadratic), the largest item of the loop's CPU;
(2) ``bulk_create`` of the explanations (~0.16 ms of ORM work per row on the reading/writing
thread); (3) one ``fetchall`` of a 256-feature input chunk (5,000 rows) is a single C call that
holds the GIL ~40 ms, during which no response was read; (4) asyncio's pure-Python loop and json;
(5) ~100 ms before the first call. Fixed: delphi's prompt written in one pass (byte-equal to
``DefaultExplainer._build_prompt``, autointerp/tests/test_eleuther_prompt.py), uvloop for the batch
loop, orjson bodies, inputs fetched 256 rows at a time, explanations written by one
``INSERT ... SELECT FROM unnest(ids, texts)``, the first chunk one round of calls and feature rows
read without model instances. Same load, interleaved (before, after): ideal/ours 0.51, 0.56, 0.69,
0.62 -> 0.78, 0.84, 0.77, 0.68; CPU 1.48, 1.45, 1.40, 1.76 s -> 0.99, 0.76, 0.70, 1.12 s.
This benchmark, three runs at 01:25-01:31 UTC, load average 11.7, 11.6, 14.4 (the machine shared
by ~8 engineers, so the wall-clock ratios are far below what a quiet machine gives): ideal/ours
0.62, 0.64, 0.59; delphi/ours 5.96, 4.61, 4.15; ours 0.85, 0.87, 0.68 s CPU (1.23 s before,
at load 3.4). Needs a rerun on a quiet machine for the >= 0.9 figure.
Quiet re-measure after the merge (2026-11-28 02:11-02:13 UTC, load average 1.5-2.0, main 6f21839),
three runs: ideal/ours 0.90, 0.90, 0.92 (goal 0.8: met); delphi/ours 1.37, 1.29, 1.23 (goal 1: met).
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DB_NAME = "bench_autointerp"
N_FEATURES = int(os.environ.get("BENCH_FEATURES", 1000))
LATENCY = int(os.environ.get("BENCH_LATENCY_MS", 100)) / 1000
CONCURRENCY = int(os.environ.get("BENCH_CONCURRENCY", 32))
N_ACTS = int(os.environ.get("BENCH_ACTS", 20))
SERVER = os.environ.get("BENCH_SERVER", "process")

sys.path.insert(0, str(ROOT))
os.environ["EMBEDDED_DB_NAME"] = DB_NAME
os.environ["AUTOINTERP_EMBED_ON_WRITE"] = "0"  # measure explaining, not embedding
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "neuronsite.settings")


def drop_database() -> None:
    from django.conf import settings

    from neuronsite import embedded_db

    info = embedded_db.ensure_running(Path(settings.DATABASES["default"]["EMBEDDED_DATA_DIR"]))
    embedded_db.drop_database(info, DB_NAME)


def seed():
    from features.models import Activation, Feature
    from models_app.models import Model, Source, SourceSet

    model = Model.objects.create(name="bench", layers=1, d_model=16)
    sset = SourceSet.objects.create(model=model, name="res-bench", type="sae")
    source = Source.objects.create(
        model=model, source_set=sset, name="0-res-bench", layer=0, d_sae=N_FEATURES
    )
    Feature.objects.bulk_create([Feature(source=source, index=i) for i in range(N_FEATURES)], batch_size=5000)
    words = ["Ġthe", "Ġcat", "Ġsat", "Ġon", "Ġa", "Ġmat", "Ġand", "Ġslept", "Ġall", "Ġday"] * 3
    rows = []
    for f in Feature.objects.filter(source=source):
        for j in range(N_ACTS):
            values = [0.0] * len(words)
            values[(f.index + j) % len(words)] = 1.0 + j / 10
            rows.append(Activation(feature=f, tokens=words, values=values, max_value=max(values)))
        if len(rows) > 20000:
            Activation.objects.bulk_create(rows)
            rows = []
    Activation.objects.bulk_create(rows)
    return source


def delphi_examples():
    """The same inputs, read from the same database (top 20, de-duplicated by text)."""
    from autointerp.batch import examples_by_feature
    from features.models import Feature

    ids = list(
        Feature.objects.filter(source__name="0-res-bench").order_by("index").values_list("pk", flat=True)
    )
    examples = examples_by_feature(ids, n=20, positive=True)
    return [examples[pk] for pk in ids]


async def run_delphi(url: str, examples) -> list:
    """delphi's Pipeline: its loader yields LatentRecords (torch tensors, as delphi's own
    loader builds them), its DefaultExplainer sends them with its OpenRouter client."""
    from autointerp.delphi_adapter import delphi
    from autointerp.explainers import delphi_record

    d = delphi()
    from delphi.pipeline import Pipeline

    client = d.OpenRouter("scripted", api_key="k", base_url=url + "/chat/completions")
    explainer = d.DefaultExplainer(client, threshold=0.3, activations=True, cot=False)
    results = await Pipeline(lambda: (delphi_record(e) for e in examples), explainer).run(
        max_concurrent=CONCURRENCY
    )
    assert len(results) == len(examples), len(results)
    return results


def answer(messages) -> str:
    return "[EXPLANATION]: cats on mats"


def _serve(conn, latency: float) -> None:
    """The scripted server in a child process, driven over a pipe: url, "count", "clear", "stop"."""
    from autointerp.tests.llm_server import ScriptedLLM

    with ScriptedLLM(answer=answer, latency_s=latency) as llm:
        conn.send(llm.url)
        while (message := conn.recv()) != "stop":
            if message == "clear":
                llm.requests.clear()
            conn.send(len(llm.chat_requests()))


class Server:
    """``ScriptedLLM`` in its own process (BENCH_SERVER=process) or in this one (thread)."""

    def __enter__(self):
        if SERVER == "thread":
            from autointerp.tests.llm_server import ScriptedLLM

            self.llm = ScriptedLLM(answer=answer, latency_s=LATENCY).start()
            self.url = self.llm.url
            return self
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_serve, args=(child, LATENCY), daemon=True)
        self.process.start()
        self.url = self.conn.recv()
        return self

    def _ask(self, message: str) -> int:
        if SERVER == "thread":
            if message == "clear":
                self.llm.requests.clear()
            return len(self.llm.chat_requests())
        self.conn.send(message)
        return self.conn.recv()

    def clear(self) -> None:
        self._ask("clear")

    def chat_count(self) -> int:
        return self._ask("count")

    def __exit__(self, *exc):
        if SERVER == "thread":
            self.llm.close()
        else:
            self.conn.send("stop")
            self.process.join(10)


def main() -> None:
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    from autointerp.batch import explanations_generate_batch
    from features.models import Explanation

    drop_database()
    call_command("migrate", verbosity=0)
    try:
        seed()
        from autointerp.delphi_adapter import delphi

        delphi()  # import torch + delphi before timing (both paths use them)
        import autointerp.llm  # noqa: F401  (and our HTTP client, aiohttp: one-time process costs)

        with Server() as llm:
            settings.OPENAI_BASE_URL = llm.url
            settings.OPENAI_API_KEY = "bench"
            settings.AUTOINTERP_MAX_RETRIES = 0
            load_before = os.getloadavg()[0]
            c0, t0 = time.process_time(), time.perf_counter()
            run = explanations_generate_batch(
                model_id="bench",
                source_id="0-res-bench",
                type_name="eleuther_acts_top20",
                concurrency=CONCURRENCY,
            )
            ours, ours_cpu = time.perf_counter() - t0, time.process_time() - c0
            assert run.done == N_FEATURES and run.failed == 0, (run.done, run.failures[:3])
            assert Explanation.objects.count() == N_FEATURES
            assert llm.chat_count() == N_FEATURES
            llm.clear()
            c0, t0 = time.process_time(), time.perf_counter()
            asyncio.run(run_delphi(llm.url, delphi_examples()))
            theirs, theirs_cpu = time.perf_counter() - t0, time.process_time() - c0
            assert llm.chat_count() == N_FEATURES
        ideal = N_FEATURES * LATENCY / CONCURRENCY
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
        print(
            f"features={N_FEATURES} latency={LATENCY * 1000:.0f} ms concurrency={CONCURRENCY} "
            f"server={SERVER} load average before {load_before:.2f}, after (1/5/15 min) {load}"
        )
        print(
            f"ours (batch service, DB included): {ours:.2f} s  ({N_FEATURES / ours:.1f} features/s, "
            f"{ours_cpu:.2f} s CPU in this process)"
        )
        print(f"ideal latency-bound:               {ideal:.2f} s")
        print(
            f"delphi Pipeline + OpenRouter (DB read included): {theirs:.2f} s  "
            f"({N_FEATURES / theirs:.1f} features/s, {theirs_cpu:.2f} s CPU)"
        )
        print(
            f"ideal/ours = {ideal / ours:.2f} (goal >= 0.8)   delphi/ours = {theirs / ours:.2f} (goal >= 1)   "
            f"CPU delphi/ours = {theirs_cpu / ours_cpu:.2f}"
        )
    finally:
        connection.close()
        drop_database()


if __name__ == "__main__":
    main()
