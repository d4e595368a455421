"""Neuronpedia's export layout, shared by the exporter and the importer.

```
{model}/{source}/model.jsonl  release.jsonl  sourceset.jsonl  source.jsonl
{model}/{source}/features/batch-N.jsonl.gz       one Neuron row per line
{model}/{source}/activations/batch-N.jsonl.gz    one Activation row per line
{model}/{source}/explanations/batch-N.jsonl.gz   one Explanation row per line
```
Column names are Neuronpedia's (camelCase, plus the snake_case dashboard columns of its Neuron
table); ``layer`` is the source id ("6-res-jb") and ``index`` a string, as Neuronpedia stores it.
"""

from __future__ import annotations

import gzip
import re
from datetime import UTC, datetime
from pathlib import Path

KINDS = ("features", "activations", "explanations")
BATCH_RE = re.compile(r"^batch-(\d+)\.jsonl(\.gz)?$")
DEFAULT_BATCH_SIZE = 1024


def iso(dt: datetime | None) -> str | None:
    """Timestamps as the exporter writes them (UTC, microseconds), parsed back by ``parse_iso``."""
    if dt is None:
        return None
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# The same format, computed by PostgreSQL for rows exported with json_build_object.
SQL_ISO = """to_char({col} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""


def parse_iso(value) -> datetime | None:
    if value in (None, ""):
        return None
    if type(value) is not str:
        raise ValueError(f"expected an ISO date-time string, got {value!r}")
    dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def batch_files(source_dir: Path, kind: str) -> list[tuple[int, Path]]:
    folder = source_dir / kind
    if not folder.is_dir():
        return []
    out = []
    for path in folder.iterdir():
        m = BATCH_RE.match(path.name)
        if m:
            out.append((int(m.group(1)), path))
    return sorted(out)


def open_gz_writer(path: Path):
    """A gzip file with no name or time in its header, so equal content gives equal bytes."""
    raw = open(path, "wb")  # noqa: SIM115 - closed through the GzipFile below
    gz = gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=5)
    original_close = gz.close

    def close():
        original_close()
        raw.close()

    gz.close = close
    return gz


def open_lines(path: Path):
    """Lines of a .jsonl or .jsonl.gz file, streamed."""
    if path.name.endswith(".gz"):
        return gzip.open(path, "rb")
    return open(path, "rb")  # noqa: SIM115


def source_dirs(root: Path) -> list[Path]:
    """Folders under ``root`` (itself, a model folder or the export root) that hold one source."""
    root = Path(root)

    def is_source_dir(p: Path) -> bool:
        return (p / "source.jsonl").is_file() or any((p / k).is_dir() for k in KINDS)

    if is_source_dir(root):
        return [root]
    found = [p for p in sorted(root.iterdir()) if p.is_dir() and is_source_dir(p)]
    if found:
        return found
    return [
        q
        for p in sorted(root.iterdir())
        if p.is_dir()
        for q in sorted(p.iterdir())
        if q.is_dir() and is_source_dir(q)
    ]
