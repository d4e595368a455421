"""Build the optional C scanner (``_fastscan.c``) next to its source: ``python -m
features.importers.build_fastscan``. Run by ``make install``; a machine without a C compiler
keeps the pure-Python import path, which gives the same rows."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import sysconfig
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "_fastscan.c"


def target() -> Path:
    return HERE / f"_fastscan{sysconfig.get_config_var('EXT_SUFFIX')}"


def build() -> Path:
    out = target()
    cc = shlex.split(os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc")
    tmp = out.with_suffix(".tmp")
    command = [
        *cc,
        "-O2",
        "-Wall",
        "-shared",
        "-fPIC",
        f"-I{sysconfig.get_paths()['include']}",
        str(SOURCE),
        "-o",
        str(tmp),
    ]
    subprocess.run(command, check=True)
    tmp.replace(out)  # atomic: a running import never sees half a library
    return out


if __name__ == "__main__":
    try:
        print(f"built {build()}")
    except (OSError, subprocess.CalledProcessError) as exc:
        print(f"C scanner not built ({exc}); imports use the pure-Python path", file=sys.stderr)
        sys.exit(1)
