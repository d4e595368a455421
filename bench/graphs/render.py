"""Benchmark: time to first render of a 5,000-node graph in Chromium (our viewer page).

Builds a synthetic graph (``--nodes`` nodes, ``--links`` links, in the create_graph_files shape)
on its own database of the embedded server (created, then dropped) and a temp media folder,
serves the site with daphne, and opens ``/{model}/graph?slug=…`` in Debian's chromium through
Playwright ``--repeats`` times: the time from navigation to the drawn graph (the page sets
``data-ready`` after drawing) and the number of circles drawn are printed. Not a test.

    .venv/bin/python bench/graphs/render.py [--nodes 5000 --links 20000 --repeats 3]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DB_NAME = "bench_graphs"
MEDIA = Path(tempfile.mkdtemp(prefix="bench-graphs-media-"))
sys.path.insert(0, str(ROOT))
os.environ["EMBEDDED_DB_NAME"] = DB_NAME
os.environ["MEDIA_ROOT"] = str(MEDIA)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "neuronsite.settings")


def drop_database() -> None:
    from django.conf import settings

    from neuronsite import embedded_db

    info = embedded_db.ensure_running(Path(settings.DATABASES["default"]["EMBEDDED_DATA_DIR"]))
    embedded_db.drop_database(info, DB_NAME)


def synthetic_graph(n_nodes: int, n_links: int, *, n_ctx: int = 40, n_layers: int = 12) -> dict:
    rng = random.Random(0)
    tokens = [f"t{i}" for i in range(n_ctx)]
    nodes = [
        {"node_id": f"E_{i}_{i}", "feature": i, "layer": "E", "ctx_idx": i, "feature_type": "embedding",
         "jsNodeId": f"E_{i}-{i}", "clerp": "", "influence": 0.0}
        for i in range(n_ctx)
    ]  # fmt: skip
    nodes += [
        {"node_id": f"{n_layers + 1}_{v}_{n_ctx - 1}", "feature": v, "layer": str(n_layers + 1), "ctx_idx": n_ctx - 1,
         "feature_type": "logit", "jsNodeId": f"L_{v}-{n_ctx - 1}", "clerp": f"Output {v}", "influence": 0.0}
        for v in range(10)
    ]  # fmt: skip
    while len(nodes) < n_nodes:
        layer, ctx, idx = rng.randrange(n_layers), rng.randrange(n_ctx), rng.randrange(100_000)
        nodes.append(
            {"node_id": f"{layer}_{idx}_{ctx}", "feature": idx, "layer": str(layer), "ctx_idx": ctx,
             "feature_type": "cross layer transcoder", "jsNodeId": f"{layer}_{idx}-0", "clerp": f"feature {idx}",
             "influence": rng.random() * 0.6, "activation": rng.random() * 5}
        )  # fmt: skip
    ids = list({n["node_id"]: n for n in nodes})
    links = [
        {"source": rng.choice(ids), "target": rng.choice(ids), "weight": rng.gauss(0, 1)}
        for _ in range(n_links)
    ]
    return {
        "metadata": {
            "slug": "big",
            "scan": "bench-render",
            "prompt": " ".join(tokens),
            "prompt_tokens": tokens,
        },
        "qParams": {"pinnedIds": [], "supernodes": [], "linkType": "both", "clickedId": "", "sg_pos": ""},
        "nodes": list({n["node_id"]: n for n in nodes}.values()),
        "links": links,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, default=5000)
    parser.add_argument("--links", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    drop_database()
    call_command("migrate", verbosity=0)
    from graphs.services import graph_store
    from models_app.models import Model

    model = Model.objects.create(name="bench-render", layers=12)
    data = synthetic_graph(args.nodes, args.links)
    graph_store(model=model, slug="big", data=data)
    connection.close()

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    daphne = shutil.which("daphne", path=str(Path(sys.executable).parent)) or "daphne"
    env = {**os.environ, "DEBUG": "false"}
    proc = subprocess.Popen(
        [daphne, "-b", "127.0.0.1", "-p", str(port), "neuronsite.asgi:application"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        for _ in range(600):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.1)
        from playwright.sync_api import sync_playwright

        times, baseline, drawn = [], [], 0
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path="/usr/bin/chromium", args=["--headless", "--no-sandbox"]
            )
            for _ in range(args.repeats):
                page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
                page.set_default_timeout(300_000)
                start = time.perf_counter()
                page.goto(f"http://127.0.0.1:{port}/bench-render/graph?slug=big")
                page.wait_for_selector("#graph-app[data-ready='1']", state="attached")
                times.append(time.perf_counter() - start)
                drawn = page.locator("circle.gnode").count()
                page.context.close()
                # Baseline: the same page without a graph, then only fetching + parsing the JSON.
                page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
                start = time.perf_counter()
                page.goto(f"http://127.0.0.1:{port}/bench-render/graph")
                page.evaluate(
                    "async (u) => { const r = await fetch(u); const g = await r.json(); return g.nodes.length; }",
                    f"http://127.0.0.1:{port}/api/graph/bench-render/big/json",
                )
                baseline.append(time.perf_counter() - start)
                page.context.close()
            browser.close()
        print(f"graph: {len(data['nodes'])} nodes, {len(data['links'])} links; {drawn} circles drawn")
        print(
            f"time to first render in Chromium: median {statistics.median(times) * 1000:.0f} ms "
            f"({', '.join(f'{t * 1000:.0f}' for t in times)} ms)"
        )
        print(
            f"baseline (page without a graph + fetch and parse of the JSON): median "
            f"{statistics.median(baseline) * 1000:.0f} ms; ratio render / baseline "
            f"{statistics.median(times) / statistics.median(baseline):.2f}"
        )
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        drop_database()
        shutil.rmtree(MEDIA, ignore_errors=True)


if __name__ == "__main__":
    main()
