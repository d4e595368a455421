"""Import Neuronpedia's export layout (see ``neuronpedia_layout``).

Per source: the model / release / source set / source rows (``neuronpedia_meta``, created when
missing), then the features, activations and explanations batch files in that order. Each batch
file is one transaction recorded in the import ledger (path + sha256), so re-runs skip finished
files and an interrupted import resumes. Batch files are streamed line by line: memory stays
bounded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import orjson
from django.db import transaction
from django.utils import timezone

from features.importers.ledger import (
    file_checksum,
    ledger_commit_async,
    ledger_done,
    ledger_lock,
    ledger_record,
)
from features.importers.neuronpedia_layout import batch_files, open_lines, parse_iso
from features.importers.neuronpedia_meta import (  # noqa: F401 (ExportImportError re-exported)
    ExportImportError,
    ExportUsers,
    source_meta_import,
)
from features.importers.validation import FeatureDataError, normalize_activation, normalize_feature
from features.importers.writer import (
    _pg,
    activation_row,
    activations_copy,
    feature_row,
    features_upsert,
)
from features.models import ExplainerModel, ExplanationType, Feature
from models_app.models import Source

_ACTIVATION_KEYS = {
    "binMin": "bin_min",
    "binMax": "bin_max",
    "binContains": "bin_contains",
    "qualifyingTokenIndex": "qualifying_token_index",
}
_FEATURE_KEYS = {
    "maxActApprox": "max_act_approx",
    "topkCosSimIndices": "topk_cos_sim_indices",
    "topkCosSimValues": "topk_cos_sim_values",
    "hasVector": "has_vector",
    "vectorLabel": "vector_label",
    "vectorDefaultSteerStrength": "vector_default_steer_strength",
    "hookName": "hook_name",
}


@dataclass
class BatchResult:
    skipped: bool = False
    features: int = 0
    activations: int = 0
    explanations: int = 0


def _rows(path: Path):
    """(line number, row dict) of a batch file, streamed; bad JSON or gzip -> ExportImportError."""
    try:
        with open_lines(path) as fh:
            for n, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    row = orjson.loads(line)
                except orjson.JSONDecodeError:
                    try:
                        import json

                        row = json.loads(line)  # NaN / Infinity: let validation name the field
                    except ValueError as exc:
                        raise ExportImportError(f"{path}: line {n}: malformed JSON ({exc})") from None
                if type(row) is not dict:
                    raise ExportImportError(f"{path}: line {n}: expected a JSON object")
                yield n, row
    except (OSError, EOFError) as exc:
        # gzip raises BadGzipFile (an OSError) or EOFError on a truncated file
        raise ExportImportError(f"{path}: cannot read ({exc or type(exc).__name__})") from None


def _check_row_source(row, *, source: Source, path: Path, n: int):
    if row.get("layer") not in (None, source.name) or row.get("modelId") not in (None, source.model.name):
        raise ExportImportError(
            f"{path}: line {n}: row of {row.get('modelId')}/{row.get('layer')} in the folder of "
            f"{source.model.name}/{source.name}"
        )
    if "index" not in row:
        raise ExportImportError(f"{path}: line {n}: field 'index' is missing")


def _row_feature(
    row, *, path: Path, n: int, source: Source, feature_ids: dict, hint: str = ""
) -> tuple[int, int]:
    """(feature index, feature id) named by line ``n`` of an activations or explanations file."""
    try:
        index = int(row["index"])
    except (TypeError, ValueError):
        raise ExportImportError(
            f"{path}: line {n}: field 'index': not an integer: {row['index']!r}"
        ) from None
    fid = feature_ids.get(index)
    if fid is None:
        raise ExportImportError(
            f"{path}: line {n}: feature {index} of {source.model.name}/{source.name} does not exist{hint}"
        )
    return index, fid


def _feature_ids(source: Source) -> dict[int, int]:
    return dict(Feature.objects.filter(source=source).values_list("index", "id"))


def _features_file(path: Path, source: Source, users: ExportUsers) -> BatchResult:
    rows = []
    now = timezone.now()
    for n, row in _rows(path):
        _check_row_source(row, source=source, path=path, n=n)
        data = {_FEATURE_KEYS.get(k, k): v for k, v in row.items()}
        data["feature_index"] = row["index"]
        try:
            f = normalize_feature(data, d_sae=source.d_sae, required=("feature_index",))
            created = parse_iso(row.get("createdAt")) or now
        except FeatureDataError as exc:
            raise ExportImportError(f"{path}: line {n}: {exc}") from None
        except ValueError as exc:
            raise ExportImportError(f"{path}: line {n}: field 'createdAt': {exc}") from None
        rows.append(
            feature_row(
                source_id=source.pk, f=f, creator_id=users.id(row.get("creatorId")), created_at=created
            )
        )
    features_upsert(rows=rows)
    return BatchResult(features=len(rows))


def _activations_file(
    path: Path, source: Source, users: ExportUsers, feature_ids: dict[int, int]
) -> BatchResult:
    """Streams the file into COPY; the previous activations of the features it names are
    deleted afterwards (those with ids from before the COPY), so re-imports replace."""
    now = timezone.now()
    touched: set[int] = set()
    with _pg().cursor() as cur:
        cur.execute("SELECT coalesce(max(id), 0) FROM features_activation")
        (max_before,) = cur.fetchone()

    def rows():
        for n, row in _rows(path):
            _check_row_source(row, source=source, path=path, n=n)
            data = {_ACTIVATION_KEYS.get(k, k): v for k, v in row.items()}
            index, fid = _row_feature(
                row,
                path=path,
                n=n,
                source=source,
                feature_ids=feature_ids,
                hint=" (import its features batch first)",
            )
            try:
                a = normalize_activation(data, index=index, position=n - 1)
                created = parse_iso(row.get("createdAt")) or now
            except FeatureDataError as exc:
                raise ExportImportError(f"{path}: line {n}: {exc}") from None
            except ValueError as exc:
                raise ExportImportError(f"{path}: line {n}: field 'createdAt': {exc}") from None
            touched.add(fid)
            yield activation_row(
                feature_id=fid, a=a, creator_id=users.id(row.get("creatorId")), created_at=created
            )

    count = activations_copy(rows=rows())
    if touched:
        with _pg().cursor() as cur:
            cur.execute(
                "DELETE FROM features_activation WHERE feature_id = ANY(%s) AND id <= %s",
                [list(touched), max_before],
            )
    return BatchResult(activations=count)


def _explanations_file(
    path: Path, source: Source, users: ExportUsers, feature_ids: dict[int, int]
) -> BatchResult:
    types: dict[str, int] = {}
    models: dict[str, int] = {}
    now = timezone.now()
    rows = []
    for n, row in _rows(path):
        _check_row_source(row, source=source, path=path, n=n)
        index, fid = _row_feature(row, path=path, n=n, source=source, feature_ids=feature_ids)
        description = row.get("description")
        if type(description) is not str or not description.strip():
            raise ExportImportError(
                f"{path}: line {n}: feature {index}, field 'description': must be non-empty text"
            )
        type_name, model_name = row.get("typeName"), row.get("explanationModelName")
        if type_name and type_name not in types:
            types[type_name] = ExplanationType.objects.get_or_create(name=type_name)[0].pk
        if model_name and model_name not in models:
            models[model_name] = ExplainerModel.objects.get_or_create(name=model_name)[0].pk
        try:
            created = parse_iso(row.get("createdAt")) or now
            updated = parse_iso(row.get("updatedAt")) or created
        except ValueError as exc:
            raise ExportImportError(f"{path}: line {n}: field 'createdAt': {exc}") from None
        status = row.get("status") if row.get("status") in ("APPROVED", "PENDING", "HIDDEN") else "APPROVED"
        rows.append(
            (
                fid,
                description,
                types.get(type_name),
                models.get(model_name),
                users.id(row.get("authorId")),
                row.get("notes") or "",
                status,
                created,
                updated,
            )
        )
    with _pg().cursor() as cur:
        # Same explanation (feature, text, method, explainer) already there: skip, do not duplicate.
        cur.execute(
            "SELECT feature_id, description, type_id, explainer_model_id FROM features_explanation "
            "WHERE feature_id = ANY(%s)",
            [list({r[0] for r in rows})],
        )
        existing = set(cur.fetchall())
        new_rows = [r for r in rows if r[:4] not in existing]
        with cur.copy(
            "COPY features_explanation (feature_id, description, type_id, explainer_model_id, author_id, "
            "notes, status, created_at, updated_at) FROM STDIN"
        ) as copy:
            for r in new_rows:
                copy.write_row(r)
    return BatchResult(explanations=len(new_rows))


def batch_file_import(
    *, path: Path, kind: str, source: Source, users: ExportUsers, feature_ids=None
) -> BatchResult:
    checksum = file_checksum(path)
    key = f"neuronpedia:{kind}:{path.resolve()}"
    with transaction.atomic():
        ledger_lock(key=key)
        ledger_commit_async()
        if ledger_done(key=key, checksum=checksum):
            return BatchResult(skipped=True)
        if kind == "features":
            result = _features_file(path, source, users)
        elif kind == "activations":
            result = _activations_file(path, source, users, feature_ids or _feature_ids(source))
        else:
            result = _explanations_file(path, source, users, feature_ids or _feature_ids(source))
        ledger_record(
            key=key,
            checksum=checksum,
            kind=f"neuronpedia-{kind}",
            source=source,
            features=result.features,
            activations=result.activations,
            explanations=result.explanations,
        )
    return result


def plan(
    *, source_dirs: list[Path], explanations_only: bool, from_batch: int
) -> list[tuple[Path, str, int, Path]]:
    """(source folder, kind, batch number, file) in import order."""
    kinds = ("explanations",) if explanations_only else ("features", "activations", "explanations")
    out = []
    for folder in source_dirs:
        for kind in kinds:
            out.extend((folder, kind, n, path) for n, path in batch_files(folder, kind) if n >= from_batch)
    return out


def export_folder_import(
    *,
    source_dirs: list[Path],
    explanations_only: bool = False,
    from_batch: int = 0,
    on_batch: Callable[[BatchResult], None] | None = None,
    into=None,
    users: ExportUsers | None = None,
) -> None:
    """Import export folders; with ``into`` (a SourceSet: an owner's upload) every folder must
    write into that set only (see ``neuronpedia_meta.check_into``)."""
    users = users or ExportUsers()
    sources: dict[Path, Source] = {}
    ids: dict[int, dict[int, int]] = {}
    for folder, kind, _n, path in plan(
        source_dirs=source_dirs, explanations_only=explanations_only, from_batch=from_batch
    ):
        if folder not in sources:
            sources[folder] = source_meta_import(source_dir=folder, users=users, into=into)
        source = sources[folder]
        if kind != "features" and source.pk not in ids:
            ids[source.pk] = _feature_ids(source)
        if kind == "features":
            ids.pop(source.pk, None)
        result = batch_file_import(
            path=path, kind=kind, source=source, users=users, feature_ids=ids.get(source.pk)
        )
        if on_batch:
            on_batch(result)
