"""SAEDashboard's ``batch-N.json`` files (SAELens / sae-dashboard's neuronpedia runner).

One file is one batch: ``{model_id, layer, sae_set, sae_id_suffix?, features: [...]}``. Its
output folder is usually named ``{model}_{sae_set}_{hook}[_{d_sae}]``; the hook name and d_sae
are read from there when present. A few files are prepared at a time (see
:func:`batch_files_prepared`), so memory stays bounded by the largest files whatever their number.
"""

from __future__ import annotations

import os
import re
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from django.db import transaction
from django.utils import timezone

from features.importers.ledger import ledger_commit_async, ledger_done, ledger_lock, ledger_record
from features.importers.prepare import (  # noqa: F401 (BatchFileError, parse_json_bytes re-exported)
    BatchFileError,
    PreparedFile,
    batch_file_prepare,
    batch_file_prepare_no_gc,
    parse_json_bytes,
    worker_init,
)
from features.importers.validation import FeatureDataError
from features.importers.writer import BatchWriteResult, features_write_prepared
from features.models import ImportLedger
from models_app.services import source_ensure

BATCH_RE = re.compile(r"^batch-(\d+)\.json$")
HOOK_IN_DIR_RE = re.compile(r"(blocks\.\d+\.(?:[a-z_]+\.)?hook_[a-z_]+?)(?:_(\d+))?$")


@dataclass
class BatchHeader:
    model_id: str
    layer: int
    sae_set: str
    hook_name: str
    d_sae: int | None


def discover_batch_files(paths: list[str | Path]) -> list[Path]:
    """``batch-N.json`` files under the given files and folders, in folder then N order."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found.extend(p for p in path.rglob("batch-*.json") if BATCH_RE.match(p.name))
        elif path.is_file():
            found.append(path)
        else:
            raise BatchFileError(f"{path}: no such file or folder")
    unique = {p.resolve(): p for p in found}

    def order(p: Path):
        m = BATCH_RE.match(p.name)
        return (str(p.parent), int(m.group(1)) if m else -1, p.name)

    return sorted(unique.values(), key=order)


def batch_header(doc, *, path: Path, layer_override: int | None = None) -> BatchHeader:
    if type(doc) is not dict:
        raise BatchFileError(f"{path}: expected a JSON object with 'features', got {type(doc).__name__}")
    for key in ("model_id", "layer", "sae_set", "features"):
        if key not in doc:
            raise BatchFileError(f"{path}: missing required field '{key}'")
    model_id, layer, sae_set = doc["model_id"], doc["layer"], doc["sae_set"]
    if type(model_id) is not str or not model_id:
        raise BatchFileError(f"{path}: field 'model_id' must be a non-empty string, got {model_id!r}")
    if type(sae_set) is not str or not sae_set:
        raise BatchFileError(f"{path}: field 'sae_set' must be a non-empty string, got {sae_set!r}")
    if type(layer) is str and layer.isdigit():
        layer = int(layer)
    if type(layer) is not int or layer < 0:
        raise BatchFileError(f"{path}: field 'layer' must be a non-negative integer, got {layer!r}")
    suffix = doc.get("sae_id_suffix")
    if suffix:
        sae_set = f"{sae_set}-{suffix}"
    hook_name, d_sae = "", None
    match = HOOK_IN_DIR_RE.search(path.parent.name)
    if match:
        hook_name = match.group(1)
        d_sae = int(match.group(2)) if match.group(2) else None
    return BatchHeader(model_id=model_id, layer=layer, sae_set=sae_set, hook_name=hook_name, d_sae=d_sae)


def batch_files_prepared(
    files: list[Path], *, zero_bos: bool = False, workers: int = 2
) -> Iterator[PreparedFile]:
    """Yield each file prepared by ``prepare.batch_file_prepare``, in order.

    With ``workers`` > 0 the files are read, parsed, validated and encoded in that many worker
    processes, a few files ahead, while the caller writes the current one: JSON parsing and
    encoding (Python, one core) then overlap with PostgreSQL ingesting rows (another core).
    At most ``workers + 1`` prepared files wait in memory. Files already in the ledger with the
    same bytes are not parsed (``skipped``)."""
    keys = {path: ledger_key_for(path) for path in files}
    done = dict(ImportLedger.objects.filter(key__in=keys.values()).values_list("key", "checksum"))
    now = timezone.now()

    def job(path):
        return (
            batch_file_prepare_no_gc,
            path,
            {"done_checksum": done.get(keys[path]), "zero_bos": zero_bos, "created_at": now},
        )

    if workers <= 0 or len(files) <= 1:
        for path in files:
            fn, arg, kw = job(path)
            yield fn(arg, **kw)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # "spawn": a fresh interpreter that imports only the pure prepare module (no Django, no
    # inherited database connection).
    with ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=worker_init,
        initargs=(os.getpid(),),
    ) as pool:
        pending: deque = deque()
        queue_ahead = iter(files)
        for path in queue_ahead:
            fn, arg, kw = job(path)
            pending.append(pool.submit(fn, arg, **kw))
            if len(pending) > workers:
                break
        while pending:
            result = pending.popleft().result()
            nxt = next(queue_ahead, None)
            if nxt is not None:
                fn, arg, kw = job(nxt)
                pending.append(pool.submit(fn, arg, **kw))
            yield result


def ledger_key_for(path: Path) -> str:
    return f"saedashboard:{Path(path).resolve()}"


def saedashboard_batch_import(
    *,
    path: Path,
    prepared: PreparedFile | None = None,
    model: str | None = None,
    source_set: str | None = None,
    hook: str | None = None,
    d_sae: int | None = None,
    zero_bos: bool = False,
    owner=None,
    sources: dict | None = None,
) -> BatchWriteResult:
    """Import one batch file (one transaction), optionally already prepared by
    :func:`batch_files_prepared`. Already-imported files (same path and bytes) are skipped.
    Raises ``BatchFileError`` naming the file, the feature index and the field on bad input;
    nothing of the file is written then. ``sources``: a dict kept across the files of one import,
    so that the source of a batch is looked up (or created) once, not once per file."""
    path = Path(path)
    key = ledger_key_for(path)
    if prepared is None:
        done = ImportLedger.objects.filter(key=key).values_list("checksum", flat=True).first()
        prepared = batch_file_prepare(path, done_checksum=done, zero_bos=zero_bos, created_at=timezone.now())
    if prepared.skipped:
        return BatchWriteResult(ledger_key=key, skipped=True)
    if prepared.header is None:  # unreadable or malformed: nothing parsed
        raise BatchFileError(prepared.error)
    doc = prepared.header
    header = batch_header(doc, path=path)
    if prepared.error:
        raise BatchFileError(prepared.error)
    wanted = {
        "model_name": model or header.model_id,
        "set_name": source_set or header.sae_set,
        "layer": header.layer,
        "hook_name": hook or header.hook_name,
        "create_model": model is None,
        "owner": owner,
        "d_sae": d_sae or header.d_sae,
        "source_defaults": _source_defaults(doc),
    }
    cache_key = repr(sorted(wanted.items()))
    known = (sources or {}).get(cache_key)
    with transaction.atomic():  # the source and the batch's rows, or nothing
        source = known or source_ensure(**wanted)
        result = _write(prepared.prepared, source=source, path=path, key=key, checksum=prepared.checksum)
    if sources is not None:  # only once committed: a rolled-back source is not remembered
        sources[cache_key] = source
    return result


def _write(prepared, *, source, path, key, checksum):
    ledger_lock(key=key)
    ledger_commit_async()
    if ledger_done(key=key, checksum=checksum):  # another process finished it meanwhile
        return BatchWriteResult(ledger_key=key, skipped=True)
    if source.d_sae is not None:
        for f in prepared.features:
            if f["index"] >= source.d_sae:
                exc = FeatureDataError(
                    f"out of range: {f['index']} is not below the source's d_sae ({source.d_sae})",
                    feature_index=f["index"],
                    field="feature_index",
                )
                raise BatchFileError(f"{path}: {exc}")
    result = features_write_prepared(source=source, prepared=prepared)
    result.ledger_key = key
    ledger_record(
        key=key,
        checksum=checksum,
        kind="saedashboard",
        source=source,
        features=result.features,
        activations=result.activations,
    )
    return result


def _source_defaults(doc: dict) -> dict:
    """Prompt settings every feature of a batch repeats (n_prompts_total, ...), for the source."""
    first = doc.get("first_feature")
    if type(first) is not dict:
        return {}
    out = {}
    if type(first.get("n_prompts_total")) is int and first["n_prompts_total"] >= 0:
        out["num_prompts"] = first["n_prompts_total"]
    if type(first.get("n_tokens_in_prompt")) is int and first["n_tokens_in_prompt"] >= 0:
        out["num_tokens_in_prompt"] = first["n_tokens_in_prompt"]
    if type(first.get("dataset")) is str:
        out["dataset"] = first["dataset"][:300]
    return out
