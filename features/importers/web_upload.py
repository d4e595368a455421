"""Imports from the web: SAEDashboard ``batch-N.json`` files dropped on the Jobs page (or posted to
``/api/jobs/upload-saedashboard``) onto a source set the user owns (created private when new). The
files are kept under ``DATA_DIR/uploads/<id>/`` and imported by a job (``features.tasks``) through
the same per-file path, validation and messages as ``manage.py import_saedashboard``."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

from django.conf import settings
from django.db import transaction

from models_app.models import Model, SourceSet
from models_app.services import source_set_check_owner, source_set_create
from neuronsite.errors import NotFound, PayloadTooLarge, ValidationFailed
from neuronsite.fields import Visibility

FILE_RE = re.compile(r"^batch-\d+\.json$")
TASK = "features.import_saedashboard"


def upload_dir(upload_id: str) -> Path:
    return Path(settings.DATA_DIR) / "uploads" / upload_id


@transaction.atomic
def saedashboard_upload_job_create(*, user, model: str, source_set: str, files: list):
    """Check the target and the files, store them, and queue the import job (queue ``JOBS_CPU_QUEUE``)."""
    from neuronsite.jobs.services import job_create

    if not model:
        raise ValidationFailed("required", field="model")
    if not source_set:
        raise ValidationFailed("required", field="sourceSet")
    model_row = Model.objects.filter(name=model).first()
    if model_row is None:
        raise NotFound(f"Model '{model}' not found.")
    if not files:
        raise ValidationFailed("drop at least one batch-N.json file", field="files")
    names = [Path(f.name).name for f in files]
    bad = [n for n in names if not FILE_RE.match(n)]
    if bad:
        raise ValidationFailed(f"{bad[0]}: not a SAEDashboard batch-N.json file", field="files")
    if len(set(names)) != len(names):
        raise ValidationFailed("the same batch file name appears twice", field="files")
    size = sum(int(f.size or 0) for f in files)
    if size > settings.JOBS_UPLOAD_MAX_BYTES:
        raise PayloadTooLarge(f"files: {size} bytes is over the {settings.JOBS_UPLOAD_MAX_BYTES} byte limit")
    existing = SourceSet.objects.select_related("model").filter(model=model_row, name=source_set).first()
    if existing is not None:
        source_set_check_owner(source_set=existing, user=user)
    else:
        source_set_create(
            model=model_row, name=source_set, owner=user, visibility=Visibility.PRIVATE, type="sae"
        )
    upload_id = uuid.uuid4().hex
    folder = upload_dir(upload_id)
    folder.mkdir(parents=True)
    for f, name in zip(files, names, strict=True):
        with open(folder / name, "wb") as out:
            for chunk in f.chunks():
                out.write(chunk)
    return job_create(
        kind="import",
        title=f"Import {len(files)} SAEDashboard file(s) into {model}/{source_set}",
        parts=[
            {
                "task": TASK,
                "queue": settings.JOBS_CPU_QUEUE,
                "kwargs": {
                    "upload_id": upload_id,
                    "model": model,
                    "source_set": source_set,
                    "user_id": user.pk,
                },
                "total": len(files),
            }
        ],
        owner=user,
        unit="files",
    )


ARCHIVE_TASK = "features.import_neuronpedia"


def _extract(archive, folder: Path) -> None:
    """Unpack a .zip or .tar(.gz) upload into ``folder``; members that would land outside it are refused."""
    import tarfile
    import zipfile

    name = Path(archive.name).name.lower()
    root = folder.resolve()
    if name.endswith(".zip"):
        with zipfile.ZipFile(archive) as zf:
            for member in zf.namelist():
                if not (root / member).resolve().is_relative_to(root):
                    raise ValidationFailed(f"{member}: a path outside the archive", field="archive")
            zf.extractall(folder)
    elif name.endswith((".tar", ".tar.gz", ".tgz")):
        with tarfile.open(fileobj=archive, mode="r:*") as tf:
            try:
                tf.extractall(folder, filter="data")
            except tarfile.FilterError as exc:
                raise ValidationFailed(f"{exc}", field="archive") from None
    else:
        raise ValidationFailed(f"{archive.name}: expected a .zip, .tar or .tar.gz archive", field="archive")


def _target_set(*, user, model: str, source_set: str):
    """The source set an upload goes into: the user's own (staff: any), or a new private one."""
    model_row = Model.objects.filter(name=model).first()
    if model_row is None:
        raise NotFound(f"Model '{model}' not found.")
    existing = SourceSet.objects.select_related("model").filter(model=model_row, name=source_set).first()
    if existing is not None:
        source_set_check_owner(source_set=existing, user=user)
        return existing
    created = source_set_create(
        model=model_row, name=source_set, owner=user, visibility=Visibility.PRIVATE, type="sae"
    )
    return SourceSet.objects.select_related("model").get(pk=created.pk)


@transaction.atomic
def neuronpedia_archive_job_create(*, user, archive, model: str = "", source_set: str = ""):
    """A Neuronpedia export archive (``{model}/{source}/features|activations|explanations/…``) →
    an import job.

    With ``model`` and ``source_set``: an import into that one source set, which the user owns
    (created private when new). Every folder of the archive must write into it (checked here, and
    again by the job); the model, releases and other sets are left alone, and the rows the export
    credits to anyone are credited to the uploader. Without them: the whole export, as
    ``manage.py import_neuronpedia`` does (models, releases, sets and owners it describes), which
    needs a staff account."""
    import shutil
    import tarfile
    import zipfile

    from features.importers.neuronpedia_import import plan
    from features.importers.neuronpedia_layout import source_dirs
    from features.importers.neuronpedia_meta import ExportImportError, check_into
    from neuronsite.errors import PermissionDenied
    from neuronsite.jobs.services import job_create

    into = None
    if model or source_set:
        if not model:
            raise ValidationFailed("required (the model of the source set to import into)", field="model")
        if not source_set:
            raise ValidationFailed("required (the source set to import into)", field="sourceSet")
    elif not user.is_staff:
        raise PermissionDenied(
            "Importing a whole Neuronpedia export needs a staff account: it creates the models and source sets "
            "it describes. Give model and sourceSet to import it into a source set you own."
        )
    if archive is None:
        raise ValidationFailed("required", field="archive")
    if int(archive.size or 0) > settings.JOBS_UPLOAD_MAX_BYTES:
        raise PayloadTooLarge(f"archive: over the {settings.JOBS_UPLOAD_MAX_BYTES} byte limit")
    if model:
        into = _target_set(user=user, model=model, source_set=source_set)
    upload_id = uuid.uuid4().hex
    folder = upload_dir(upload_id)
    folder.mkdir(parents=True)
    try:
        _extract(archive, folder)
        found = source_dirs(folder)
        if not found:
            raise ValidationFailed(
                "no source folders found (expected {model}/{source}/features/batch-N.jsonl.gz)",
                field="archive",
            )
        if into is not None:
            for source_dir in found:
                check_into(source_dir=source_dir, into=into, label=str(source_dir.relative_to(folder)))
    except ExportImportError as exc:
        shutil.rmtree(folder, ignore_errors=True)
        raise ValidationFailed(str(exc), field="archive") from None
    except (ValidationFailed, zipfile.BadZipFile, tarfile.TarError, OSError) as exc:
        shutil.rmtree(folder, ignore_errors=True)
        if isinstance(exc, ValidationFailed):
            raise
        raise ValidationFailed(f"{archive.name}: not a readable archive ({exc})", field="archive") from None
    steps = plan(source_dirs=found, explanations_only=False, from_batch=0)
    kwargs = {"upload_id": upload_id}
    title = f"Import the Neuronpedia export {Path(archive.name).name} ({len(found)} source(s))"
    if into is not None:
        kwargs.update(model=into.model.name, source_set=into.name, user_id=user.pk)
        title += f" into {into.model.name}/{into.name}"
    return job_create(
        kind="import",
        title=title,
        parts=[
            {
                "task": ARCHIVE_TASK,
                "queue": settings.JOBS_CPU_QUEUE,
                "kwargs": kwargs,
                "total": len(steps),
            }
        ],
        owner=user,
        unit="files",
    )
