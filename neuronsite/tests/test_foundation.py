"""Project-level guarantees: light imports, clean checks and migrations."""

import os
import subprocess
import sys
from pathlib import Path

from django.core.management import call_command

ROOT = Path(__file__).resolve().parents[2]


def test_django_setup_urls_and_asgi_do_not_import_torch():
    code = (
        "import sys, django, os\n"
        "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'neuronsite.settings')\n"
        "django.setup()\n"
        "from django.urls import get_resolver\n"
        "get_resolver().url_patterns\n"
        "import neuronsite.asgi\n"
        "heavy = sorted(m for m in ('torch', 'transformer_lens', 'sae_lens', 'circuit_tracer', 'delphi', 'numpy') if m in sys.modules)\n"
        "print('HEAVY', heavy)\n"
        "sys.exit(1 if heavy else 0)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "HEAVY []" in result.stdout


def test_manage_check_is_clean(db):
    call_command("check", "--fail-level", "WARNING")


def test_no_missing_migrations(db):
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


def test_vector_extension_is_installed(db):
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        row = cur.fetchone()
    assert row is not None and row[0].startswith("0.")


def test_settings_refuse_a_non_postgres_database_url():
    env = {**os.environ, "DATABASE_URL": "sqlite:///x.db"}
    code = "import neuronsite.settings"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode != 0
    assert "PostgreSQL" in result.stderr
