"""The import ledger: which batches are in the database, by key and checksum.

A ledger row is written in the same transaction as its batch's rows, so after a crash either
both exist or neither does; a re-run skips exactly the batches that were committed.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from django.db import connection
from django.utils import timezone

from features.models import ImportLedger

CHUNK = 1 << 20


def bytes_checksum(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_checksum(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def ledger_lock(*, key: str) -> None:
    """Serialise concurrent imports of one key until the end of the current transaction."""
    with connection.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [key])


def ledger_commit_async() -> None:
    """Let the current import transaction commit without waiting for its WAL to reach the disk.

    An import commits once per batch file, and waiting for each flush cost about a fifth of an
    import's time. Safe here because the ledger row is in the same transaction as the batch's
    rows: a crash of the server or machine can only lose the last few committed batches *with*
    their ledger rows (never corrupt anything), and re-running the import re-imports exactly
    those. Not used for API uploads, whose callers are told their data is stored."""
    with connection.cursor() as cur:
        cur.execute("SET LOCAL synchronous_commit TO OFF")


def ledger_done(*, key: str, checksum: str) -> bool:
    return ImportLedger.objects.filter(key=key, checksum=checksum).exists()


def ledger_record(
    *,
    key: str,
    checksum: str,
    kind: str,
    source=None,
    features: int = 0,
    activations: int = 0,
    explanations: int = 0,
) -> ImportLedger:
    entry, _ = ImportLedger.objects.update_or_create(
        key=key,
        defaults={
            "checksum": checksum,
            "kind": kind,
            "source": source,
            "features": features,
            "activations": activations,
            "explanations": explanations,
            "finished_at": timezone.now(),
        },
    )
    return entry
