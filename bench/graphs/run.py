"""Benchmark: our graph generation vs bare circuit-tracer on the same inputs, in one run.

- bare: circuit-tracer's ``attribute`` → ``create_graph_files`` (which prunes and writes the JSON);
- ours: ``inference.graphs.engine.generate_graph`` (attribute → prune → the same JSON builders,
  unique error ids, replacement/completeness scores) + the gzip we store;
- ours+progress: the same as a job runs it: on the inference engine's thread through
  ``graphs.services.generate.engine_call_with_progress``, every phase and attribution batch
  reported (``inference.graphs.progress``) and handed to the calling thread.

Same random-weight model and transcoders (built into a temp folder), same prompt and thresholds;
the two are run alternately ``--repeats`` times after one warm-up each and the medians compared.
Prints both medians and the ratio ours / bare (goal ≤ 1.05). Not a test.

    .venv/bin/python bench/graphs/run.py [--layers 2 --d-model 32 --d-transcoder 128 --max-tokens 24 --repeats 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--d-model", type=int, default=32)
    parser.add_argument("--d-transcoder", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--max-tokens", type=int, default=24)
    parser.add_argument("--max-feature-nodes", type=int, default=1500)
    args = parser.parse_args()

    import django

    django.setup()
    import torch

    torch.set_num_threads(max(1, min(torch.get_num_threads(), 8)))
    from types import SimpleNamespace

    from circuit_tracer import attribute
    from circuit_tracer.utils.create_graph_files import create_graph_files

    from graphs.services.generate import engine_call_with_progress
    from graphs.storage import graph_dumps
    from inference.graphs.engine import generate_graph, load_replacement_model
    from inference.graphs.transcoders import build_tiny_transcoders
    from inference.testing import build_tiny_model

    tmp = Path(tempfile.mkdtemp(prefix="bench-graphs-"))
    build_tiny_model(tmp / "model", n_layers=args.layers, d_model=args.d_model, seed=0)
    build_tiny_transcoders(
        tmp / "tc", n_layers=args.layers, d_model=args.d_model, d_transcoder=args.d_transcoder, scan="bench"
    )
    row = SimpleNamespace(name="bench", local_path=str(tmp / "model"), tl_model_name="")
    model = load_replacement_model(row, str(tmp / "tc"))
    ids = model.ensure_tokenized(PROMPT)[: args.max_tokens]
    settings = dict(
        max_n_logits=10, desired_logit_prob=0.95, batch_size=256, max_feature_nodes=args.max_feature_nodes
    )

    def bare() -> int:
        graph = attribute(ids, model, **settings)
        out = tmp / "bare"
        create_graph_files(graph, "bare", str(out), scan="bench", node_threshold=0.8, edge_threshold=0.85)
        return (out / "bare.json").stat().st_size

    def ours() -> int:
        data = generate_graph(
            model, ids, slug="ours", scan="bench", node_threshold=0.8, edge_threshold=0.85, **settings
        )
        return len(graph_dumps(data))

    events: list[tuple] = []

    def ours_progress() -> int:
        data = engine_call_with_progress(
            generate_graph, model, ids, progress=lambda *event: events.append(event),
            slug="ours", scan="bench", node_threshold=0.8, edge_threshold=0.85, **settings,
        )  # fmt: skip
        return len(graph_dumps(data))

    runs = (("bare", bare), ("ours", ours), ("ours+progress", ours_progress))
    times: dict[str, list[float]] = {name: [] for name, _ in runs}
    # CPU seconds of this process (all its threads) as well: on a shared machine other processes
    # stretch wall-clock times far more than they change the CPU time a run needs.
    cpu: dict[str, list[float]] = {name: [] for name, _ in runs}
    sizes = {}
    for name, fn in runs:  # warm-up
        sizes[name] = fn()
    for _ in range(args.repeats):
        for name, fn in runs:
            start, cpu_start = time.perf_counter(), time.process_time()
            fn()
            times[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - cpu_start)
            print(
                f"  {name}: {times[name][-1] * 1000:.0f} ms (CPU {cpu[name][-1] * 1000:.0f} ms)", flush=True
            )
    med = {k: statistics.median(v) for k, v in times.items()}
    med_cpu = {k: statistics.median(v) for k, v in cpu.items()}
    print(
        f"model: {args.layers} layers, d_model {args.d_model}, d_transcoder {args.d_transcoder}; "
        f"prompt {int(ids.shape[-1])} tokens; {args.repeats} repeats"
    )
    print(
        f"bare circuit-tracer attribute + create_graph_files: median {med['bare'] * 1000:.0f} ms "
        f"(JSON {sizes['bare'] / 1e3:.0f} kB)"
    )
    print(
        f"ours generate_graph + gzip:                        median {med['ours'] * 1000:.0f} ms "
        f"(gzip {sizes['ours'] / 1e3:.0f} kB)"
    )
    print(
        f"ours as a job (engine thread + progress):          median {med['ours+progress'] * 1000:.0f} ms "
        f"({len(events) // (args.repeats + 1)} progress events per graph)"
    )
    print(f"ratio ours / bare: {med['ours'] / med['bare']:.3f} (goal <= 1.05)")
    print(f"ratio ours+progress / bare: {med['ours+progress'] / med['bare']:.3f} (goal <= 1.05)")
    print(
        f"CPU time ratios: ours / bare {med_cpu['ours'] / med_cpu['bare']:.3f}, "
        f"ours+progress / bare {med_cpu['ours+progress'] / med_cpu['bare']:.3f} (medians); "
        f"best runs: ours / bare {min(cpu['ours']) / min(cpu['bare']):.3f}, "
        f"ours+progress / bare {min(cpu['ours+progress']) / min(cpu['bare']):.3f}"
    )


if __name__ == "__main__":
    main()
