"""An import killed mid-way (SIGKILL of a real subprocess) and re-run ends with exactly the rows
of an uninterrupted run: no duplicates, nothing missing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection

from features.models import Activation, Feature, ImportLedger
from features.tests.saedashboard_synth import write_batches

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db(transaction=True)
def test_killed_import_resumes_exactly(tmp_path):
    n_files, per_file, n_acts = 24, 16, 60
    write_batches(tmp_path, n_files=n_files, features_per_file=per_file, n_acts=n_acts, n_tokens=64)
    env = {**os.environ, "EMBEDDED_DB_NAME": connection.settings_dict["NAME"], "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "manage.py"),
            "import_saedashboard",
            str(tmp_path),
            "--skip-checks",
            "-v",
            "0",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    try:
        while ImportLedger.objects.count() < 3:
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline
            time.sleep(0.01)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    done = ImportLedger.objects.count()
    assert 3 <= done < n_files, "the import was not interrupted mid-way"
    # Everything committed so far is whole batches: ledger and rows agree.
    assert Feature.objects.count() == done * per_file
    assert Activation.objects.count() == done * per_file * n_acts

    call_command("import_saedashboard", str(tmp_path), verbosity=0)
    assert ImportLedger.objects.count() == n_files
    assert Feature.objects.count() == n_files * per_file
    assert Activation.objects.count() == n_files * per_file * n_acts
    distinct = Activation.objects.values("feature_id", "tokens").distinct().count()
    assert distinct == n_files * per_file * n_acts
    # and a third run changes nothing
    ids = sorted(Activation.objects.values_list("id", flat=True))
    call_command("import_saedashboard", str(tmp_path), verbosity=0)
    assert sorted(Activation.objects.values_list("id", flat=True)) == ids
