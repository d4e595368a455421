"""The generated secret key is readable by its owner only (issue 10)."""

import os
import stat
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_generated_secret_key_file_is_0600_and_an_old_0644_one_is_tightened(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"}
    env |= {"NEURONSITE_DATA_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "neuronsite.settings"}
    code = "import django; django.setup(); from django.conf import settings; print(len(settings.SECRET_KEY))"
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
    key_file = tmp_path / "secret_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    first = key_file.read_text()

    key_file.chmod(0o644)  # written by an older version
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600 and key_file.read_text() == first
