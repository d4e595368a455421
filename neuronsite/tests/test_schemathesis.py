"""schemathesis over every operation of ``/api/schema/`` against a live server, with an API key.

Deterministic generation and a small example count per operation (about 740 test cases, 5-10 min
on 2 cores); ``make fuzz`` runs every phase (examples, coverage, fuzzing, stateful) with
``FUZZ_EXAMPLES`` per operation (more than 10,000 requests) and writes its report to ``var/fuzz.txt``. Checks: no
5xx, every documented response body matches its schema, and schema-valid requests are not refused
(400/413/422). The demo data is small: one user with a model, a source set, a feature with an
explanation and a list, so that some generated requests reach real rows.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONFIG = Path(os.environ.get("FUZZ_CONFIG") or Path(__file__).with_name("schemathesis.toml"))
SEED = 20261127


def seed_data():
    from accounts.services import api_key_create, user_create
    from features import services as feature_services
    from features.models import Explanation, Feature
    from models_app.models import Model, Source, SourceSet

    user = user_create(username="fuzzer", password="correct-horse-battery")
    _, key = api_key_create(user=user, name="fuzz")
    model = Model.objects.create(name="fuzz-model", layers=2, d_model=4, owner=user, inference_enabled=False)
    source_set = SourceSet.objects.create(model=model, name="res-fz", owner=user, type="sae")
    source = Source.objects.create(
        model=model,
        source_set=source_set,
        name="0-res-fz",
        layer=0,
        hook_name="blocks.0.hook_resid_pre",
        d_sae=8,
    )
    feature = Feature.objects.create(source=source, index=1, max_act_approx=1.0, frac_nonzero=0.1)
    Explanation.objects.create(feature=feature, description="fuzzing words", author=user)
    feature_services.list_create(user=user, name="fuzz list")
    return key


def _generation_options() -> list[str]:
    """Deterministic by default; with FUZZ_MAX_TIME (``make fuzz``) random from a fixed seed,
    fuzzing and stateful phases repeating until the time is spent."""
    max_time = os.environ.get("FUZZ_MAX_TIME")
    if not max_time:
        return ["--generation-deterministic"]
    return ["--seed", str(SEED), "--max-time", max_time, "--continue-on-failure"]


def _schema_file(base_url: str) -> str:
    """The schema saved to a file: schemathesis gives a schema URL 10 s, which a loaded 2-core
    machine can pass while drf-spectacular builds it."""
    import tempfile
    import urllib.request

    with urllib.request.urlopen(f"{base_url}/api/schema/?format=json", timeout=300) as response:
        body = response.read()
    handle = tempfile.NamedTemporaryFile("wb", suffix=".json", prefix="neuronsite-schema-", delete=False)
    with handle:
        handle.write(body)
    return handle.name


def run_schemathesis(
    base_url: str, key: str, *, max_examples: int, phases: str = "examples,fuzzing", extra: list[str] = ()
) -> subprocess.CompletedProcess:
    schema_file = _schema_file(base_url)
    command = [
        str(Path(sys.executable).with_name("st")),
        "--config-file",
        str(CONFIG),
        "run",
        schema_file,
        "--url",
        base_url,
        "--header",
        f"x-api-key: {key}",
        "--max-examples",
        str(max_examples),
        "--phases",
        phases,
        "--workers",
        "1",
        "--no-color",
        "--request-timeout",
        # generous: the first semantic search loads the embedding model on a busy 2-core machine
        os.environ.get("FUZZ_REQUEST_TIMEOUT", "180"),
        "--suppress-health-check",
        "all",
        *_generation_options(),
        # FUZZ_INCLUDE: a path regex, to run a few operations only (while working on them).
        *(["--include-path-regex", os.environ["FUZZ_INCLUDE"]] if os.environ.get("FUZZ_INCLUDE") else []),
        *extra,
    ]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": str(Path(__file__).with_name("schemathesis_hooks.py"))}
    timeout = int(os.environ.get("FUZZ_TIMEOUT", "900"))
    try:
        return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    finally:
        Path(schema_file).unlink(missing_ok=True)


@pytest.mark.django_db(transaction=True)
def test_schemathesis_finds_no_server_errors_or_schema_violations(live_server):
    key = seed_data()
    result = run_schemathesis(
        live_server.url,
        key,
        max_examples=int(os.environ.get("FUZZ_EXAMPLES", "8")),
        phases=os.environ.get("FUZZ_PHASES", "examples,fuzzing"),
    )
    output = result.stdout + result.stderr
    if os.environ.get("FUZZ_REPORT"):
        Path(os.environ["FUZZ_REPORT"]).write_text(output)
    assert result.returncode == 0, output[-20_000:]
