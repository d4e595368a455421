"""SAEDashboard's ``batch-N.json`` files (SAELens / sae-dashboard's neuronpedia runner).

One file is one batch: ``{model_id, layer, sae_set, sae_id_suffix?, features: [...]}``. Its
output folder is usually named ``{model}_{sae_set}_{hook}[_{d_sae}]``; the hook name and d_sae
are read from there when present. One file is parsed at a time, so memory stays bounded by the
largest file whatever the number of files.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import orjson
from django.db import transaction

from features.importers.ledger import bytes_checksum, ledger_done
from features.importers.validation import FeatureDataError
from features.importers.writer import BatchWriteResult, features_batch_write
from models_app.services import source_ensure

BATCH_RE = re.compile(r"^batch-(\d+)\.json$")
HOOK_IN_DIR_RE = re.compile(r"(blocks\.\d+\.(?:[a-z_]+\.)?hook_[a-z_]+?)(?:_(\d+))?$")


class BatchFileError(ValueError):
    """A batch file that cannot be imported; the message names the file and the problem."""


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


def parse_json_bytes(data: bytes, *, path) -> object:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        # orjson rejects NaN/Infinity, which Python's json (and so SAEDashboard) writes:
        # parse those with the standard library so validation can name the field instead.
        try:
            return json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise BatchFileError(f"{path}: malformed JSON ({exc})") from None


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


def saedashboard_batch_import(
    *,
    path: Path,
    model: str | None = None,
    source_set: str | None = None,
    hook: str | None = None,
    d_sae: int | None = None,
    zero_bos: bool = False,
    owner=None,
) -> BatchWriteResult:
    """Import one batch file (one transaction). Already-imported files (same path and bytes)
    are skipped without parsing. Raises ``BatchFileError`` naming the file, the feature index
    and the field on bad input; nothing of the file is written then."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BatchFileError(f"{path}: cannot read ({exc.strerror})") from None
    checksum = bytes_checksum(data)
    key = f"saedashboard:{path.resolve()}"
    if ledger_done(key=key, checksum=checksum):
        return BatchWriteResult(ledger_key=key, skipped=True)
    doc = parse_json_bytes(data, path=path)
    del data
    header = batch_header(doc, path=path)
    with transaction.atomic():  # the source and the batch's rows, or nothing
        return _write(
            doc,
            header,
            path=path,
            key=key,
            checksum=checksum,
            model=model,
            source_set=source_set,
            hook=hook,
            d_sae=d_sae,
            zero_bos=zero_bos,
            owner=owner,
        )


def _write(doc, header, *, path, key, checksum, model, source_set, hook, d_sae, zero_bos, owner):
    source = source_ensure(
        model_name=model or header.model_id,
        set_name=source_set or header.sae_set,
        layer=header.layer,
        hook_name=hook or header.hook_name,
        create_model=model is None,
        owner=owner,
        d_sae=d_sae or header.d_sae,
        source_defaults=_source_defaults(doc),
    )
    try:
        return features_batch_write(
            source=source,
            features=doc["features"],
            ledger_key=key,
            checksum=checksum,
            zero_bos=zero_bos,
            kind="saedashboard",
        )
    except FeatureDataError as exc:
        raise BatchFileError(f"{path}: {exc}") from None


def _source_defaults(doc: dict) -> dict:
    """Prompt settings every feature of a batch repeats (n_prompts_total, ...), for the source."""
    features = doc.get("features")
    if type(features) is not list or not features or type(features[0]) is not dict:
        return {}
    first = features[0]
    out = {}
    if type(first.get("n_prompts_total")) is int and first["n_prompts_total"] >= 0:
        out["num_prompts"] = first["n_prompts_total"]
    if type(first.get("n_tokens_in_prompt")) is int and first["n_tokens_in_prompt"] >= 0:
        out["num_tokens_in_prompt"] = first["n_tokens_in_prompt"]
    if type(first.get("dataset")) is str:
        out["dataset"] = first["dataset"][:300]
    return out
