"""Procrastinate tasks of the features app (autodiscovered): imports from the web."""

from __future__ import annotations

from django.conf import settings
from procrastinate.contrib.django import app

from neuronsite.errors import ValidationFailed
from neuronsite.jobs.runner import run_part


@app.task(name="features.import_saedashboard", queue=settings.JOBS_CPU_QUEUE)
def import_saedashboard_task(
    *, job_id: int, part: int, upload_id: str, model: str, source_set: str, user_id: int
):
    """Import an upload's batch files one by one (each file one transaction, resumable)."""

    def work(reporter):
        from accounts.models import User
        from features.importers.saedashboard import (
            BatchFileError,
            discover_batch_files,
            saedashboard_batch_import,
        )
        from features.importers.web_upload import upload_dir

        owner = User.objects.get(pk=user_id)
        files = discover_batch_files([upload_dir(upload_id)])
        sources: dict = {}
        reporter.progress(0, len(files))
        for i, path in enumerate(files, start=1):
            try:
                result = saedashboard_batch_import(
                    path=path, model=model, source_set=source_set, owner=owner, sources=sources
                )
            except BatchFileError as exc:
                raise ValidationFailed(str(exc).replace(str(path.parent) + "/", "")) from None
            reporter.log(f"{path.name}: {result.features} features, {result.activations} snippets")
            reporter.progress(i, len(files))
        return [{"label": f"{model}/{source_set}", "url": f"/{model}/{source_set}"}]

    run_part(job_id=job_id, part=part, work=work)


@app.task(name="features.import_neuronpedia", queue=settings.JOBS_CPU_QUEUE)
def import_neuronpedia_task(
    *,
    job_id: int,
    part: int,
    upload_id: str,
    model: str | None = None,
    source_set: str | None = None,
    user_id: int | None = None,
):
    """Import an uploaded Neuronpedia export (each batch file one transaction, resumable); with
    ``model`` / ``source_set``, an owner's upload into that one source set only."""

    def work(reporter):
        from features.importers.neuronpedia_import import ExportImportError, export_folder_import, plan
        from features.importers.neuronpedia_layout import source_dirs
        from features.importers.neuronpedia_meta import UploaderUsers
        from features.importers.web_upload import upload_dir
        from models_app.models import SourceSet

        into = users = None
        if model:
            into = SourceSet.objects.select_related("model").get(model__name=model, name=source_set)
            users = UploaderUsers(user_id)

        found = source_dirs(upload_dir(upload_id))
        total = len(plan(source_dirs=found, explanations_only=False, from_batch=0))
        done = 0
        reporter.progress(0, total)

        def on_batch(result):
            nonlocal done
            done += 1
            reporter.progress(done, total)

        try:
            export_folder_import(source_dirs=found, on_batch=on_batch, into=into, users=users)
        except ExportImportError as exc:
            raise ValidationFailed(str(exc).replace(str(upload_dir(upload_id)) + "/", "")) from None
        models = sorted({d.parent.name for d in found})
        return [{"label": m, "url": f"/{m}"} for m in models]

    run_part(job_id=job_id, part=part, work=work)
