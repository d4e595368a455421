"""Import speed: SAEDashboard files -> activation rows, against raw COPY and Neuronpedia's method.

In one run, on its own database of the embedded server (created, then dropped):
  (a) our import path: `manage.py import_saedashboard` in a subprocess (JSON parse, validation,
      derived columns, binary COPY, ledger), timed end to end; its peak RSS is measured too;
  (b) raw COPY of the same activation rows (a binary COPY dump of what (a) wrote, streamed
      back in): the physical limit of this server;
  (c) Neuronpedia's method: INSERT ... SELECT ... FROM jsonb_to_recordset(...) ON CONFLICT DO
      NOTHING in chunks of 65,536 rows, of the same rows.
Prints (a)/(b) (goal <= 1.5) and (c)/(a) (goal >= 3).

BENCH_SNIPPETS (default 1,000,000) snippets of BENCH_TOKENS (default 64) tokens.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DB_NAME = "bench_import"
N_SNIPPETS = int(os.environ.get("BENCH_SNIPPETS", 1_000_000))
N_TOKENS = int(os.environ.get("BENCH_TOKENS", 64))
FEATURES_PER_FILE = 128
ACTS_PER_FEATURE = 64
CHUNK = 65_536

sys.path.insert(0, str(ROOT))
os.environ["EMBEDDED_DB_NAME"] = DB_NAME
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "neuronsite.settings")


def generate(folder: Path) -> int:
    """SAEDashboard batch files holding N_SNIPPETS snippets; returns the number written."""
    import numpy as np
    import orjson

    rng = np.random.default_rng(0)
    vocab = [f"Ġw{i}" for i in range(5000)] + ["Ċ", ".", ",", "Ġthe"]
    out = folder / f"bench-model_res-bench_blocks.0.hook_resid_post_{1 << 24}"
    out.mkdir(parents=True)
    per_file = FEATURES_PER_FILE * ACTS_PER_FEATURE
    written, batch, index = 0, 0, 0
    while written < N_SNIPPETS:
        n = min(per_file, N_SNIPPETS - written)
        values = np.round(rng.random((n, N_TOKENS)) * 3, 3).tolist()
        token_ids = rng.integers(0, len(vocab), size=(n, N_TOKENS)).tolist()
        features = []
        for start in range(0, n, ACTS_PER_FEATURE):
            acts = [
                {
                    "bin_min": -1,
                    "bin_max": 3.0,
                    "bin_contains": -1,
                    "tokens": [vocab[t] for t in token_ids[i]],
                    "values": values[i],
                    "qualifying_token_index": 1,
                }
                for i in range(start, min(start + ACTS_PER_FEATURE, n))
            ]
            features.append(
                {
                    "feature_index": index,
                    "pos_str": ["Ġa", "Ġb"],
                    "pos_values": [0.5, 0.25],
                    "neg_str": ["Ċ"],
                    "neg_values": [-0.5],
                    "frac_nonzero": 0.01,
                    "freq_hist_data_bar_heights": [1, 2, 3],
                    "freq_hist_data_bar_values": [0.1, 0.2, 0.3],
                    "logits_hist_data_bar_heights": [3, 2, 1],
                    "logits_hist_data_bar_values": [-0.1, 0.0, 0.1],
                    "activations": acts,
                }
            )
            index += 1
        doc = {"model_id": "bench-model", "layer": 0, "sae_set": "res-bench", "features": features}
        (out / f"batch-{batch}.json").write_bytes(orjson.dumps(doc))
        written += n
        batch += 1
    return written


def drop_database() -> None:
    from django.conf import settings

    from neuronsite import embedded_db

    info = embedded_db.ensure_running(Path(settings.DATABASES["default"]["EMBEDDED_DATA_DIR"]))
    embedded_db.drop_database(info, DB_NAME)


def main() -> None:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    drop_database()
    call_command("migrate", verbosity=0)
    with tempfile.TemporaryDirectory(prefix="bench-import-") as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        n = generate(tmp / "files")
        size = sum(p.stat().st_size for p in (tmp / "files").rglob("*.json"))
        print(
            f"generated {n:,} snippets x {N_TOKENS} tokens ({size / 1e6:,.0f} MB JSON) in {time.perf_counter() - t0:.1f} s"
        )
        connection.close()

        # (a) our import path, in its own process (time and peak RSS)
        env = {**os.environ, "EMBEDDED_DB_NAME": DB_NAME}
        t0 = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                str(ROOT / "manage.py"),
                "import_saedashboard",
                str(tmp / "files"),
                "--skip-checks",
                "-v",
                "0",
            ],
            cwd=ROOT,
            env=env,
            check=True,
        )
        t_a = time.perf_counter() - t0
        rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024

        cols = (
            'feature_id, tokens, "values", max_value, max_value_token_index, min_value, bin_min, bin_max, '
            "bin_contains, qualifying_token_index, data_source, data_index, dfa_values, dfa_target_index, "
            "dfa_max_value, creator_id, created_at"
        )
        with connection.cursor() as cur:
            cur.execute("SELECT count(*) FROM features_activation")
            (count,) = cur.fetchone()
        assert count == n, (count, n)
        pg = connection.connection
        pg.autocommit = True
        binary, lines = tmp / "rows.bin", tmp / "rows.jsonl"
        with pg.cursor() as cur, open(binary, "wb") as fh:
            with cur.copy(f"COPY features_activation ({cols}) TO STDOUT WITH (FORMAT BINARY)") as copy:
                for chunk in copy:
                    fh.write(chunk)
        with pg.cursor() as cur, open(lines, "wb") as fh:
            with cur.copy(
                f"COPY (SELECT row_to_json(t) FROM (SELECT {cols} FROM features_activation ORDER BY id) t) TO STDOUT"
            ) as copy:
                for chunk in copy:
                    fh.write(chunk)

        # (b) raw COPY of the same rows
        pg.execute("TRUNCATE features_activation")
        pg.execute("CHECKPOINT")
        t0 = time.perf_counter()
        with pg.transaction(), pg.cursor() as cur, open(binary, "rb") as fh:
            with cur.copy(f"COPY features_activation ({cols}) FROM STDIN WITH (FORMAT BINARY)") as copy:
                while data := fh.read(1 << 20):
                    copy.write(data)
        t_b = time.perf_counter() - t0

        # (c) Neuronpedia's method: INSERT ... SELECT FROM jsonb_to_recordset ... ON CONFLICT DO NOTHING
        pg.execute("TRUNCATE features_activation")
        pg.execute("CHECKPOINT")
        recordset = (
            'x(feature_id bigint, tokens text[], "values" real[], max_value real, max_value_token_index int, '
            "min_value real, bin_min real, bin_max real, bin_contains real, qualifying_token_index int, "
            "data_source text, data_index bigint, dfa_values real[], dfa_target_index int, dfa_max_value real, "
            "creator_id bigint, created_at timestamptz)"
        )
        sql = (
            f"INSERT INTO features_activation ({cols}) SELECT {cols} FROM jsonb_to_recordset(%s::jsonb) AS {recordset} "
            "ON CONFLICT DO NOTHING"
        )
        t0 = time.perf_counter()
        with open(lines, "rb") as fh:
            while True:
                chunk = [fh.readline() for _ in range(CHUNK)]
                chunk = [c.strip() for c in chunk if c.strip()]
                if not chunk:
                    break
                pg.execute(sql, [(b"[" + b",".join(chunk) + b"]").decode()])
        t_c = time.perf_counter() - t0
        with pg.cursor() as cur:
            cur.execute("SELECT count(*) FROM features_activation")
            assert cur.fetchone()[0] == n
    connection.close()
    drop_database()

    print(
        f"(a) import_saedashboard:           {t_a:8.1f} s  {n / t_a:>10,.0f} snippets/s  peak RSS {rss_mb:,.0f} MB"
    )
    print(f"(b) raw binary COPY, same rows:    {t_b:8.1f} s  {n / t_b:>10,.0f} snippets/s")
    print(f"(c) jsonb_to_recordset, 65,536/chunk: {t_c:5.1f} s  {n / t_c:>10,.0f} snippets/s")
    print(f"(a)/(b) = {t_a / t_b:.2f}  (goal <= 1.5)")
    print(f"(c)/(a) = {t_c / t_a:.2f}  (goal >= 3)")
    print(f"peak RSS of the import: {rss_mb:,.0f} MB  (goal < 1024 MB)")


if __name__ == "__main__":
    main()
