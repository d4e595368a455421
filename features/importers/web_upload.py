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
