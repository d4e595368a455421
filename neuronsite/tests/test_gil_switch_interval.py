"""A web process's GIL switch interval (settings.WEB_GIL_SWITCH_INTERVAL_MS, applied where the
ASGI application is built, neuronsite/asgi.py): the setting's value, or Python's own with 0."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from django.conf import settings

import neuronsite.asgi  # noqa: F401 - the web entry point sets the interval

ROOT = Path(__file__).resolve().parents[2]


def test_the_web_entry_point_sets_the_switch_interval():
    assert settings.WEB_GIL_SWITCH_INTERVAL_MS > 0
    assert sys.getswitchinterval() == settings.WEB_GIL_SWITCH_INTERVAL_MS / 1000


def test_zero_keeps_pythons_interval():
    code = "import sys; import neuronsite.asgi; print(repr(sys.getswitchinterval()))"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "neuronsite.settings", "WEB_GIL_SWITCH_INTERVAL_MS": "0"}
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert float(out.stdout.strip().splitlines()[-1]) == 0.005  # CPython's default
