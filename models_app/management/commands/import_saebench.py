"""Import SAEBench result files (``{release}_{sae_id}_eval_results.json``, one eval output per
file, or ``run_eval``'s results keyed by ``{release}_{sae_id}``) as the eval results of a source: ``manage.py import_saebench --model gpt2-small [--source 6-res-jb] FILE...``.
Without ``--source`` each file is matched to the source whose sae_lens release and id equal the
file's ``sae_lens_release_id`` / ``sae_lens_id``."""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from models_app import services
from models_app.models import Model, Source
from neuronsite.errors import ApplicationError


class Command(BaseCommand):
    help = "Import SAEBench eval results (JSON files) for the sources of a model."

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="+", help="SAEBench result JSON files")
        parser.add_argument("--model", required=True, help="model id, e.g. gpt2-small")
        parser.add_argument("--source", help="source id, e.g. 6-res-jb (default: matched from each file)")

    def handle(self, *args, files, model, source, **options):
        model_obj = Model.objects.filter(name=model).first()
        if model_obj is None:
            raise CommandError(f"Model '{model}' not found.")
        source_obj = None
        if source:
            source_obj = Source.objects.filter(model=model_obj, name=source).first()
            if source_obj is None:
                raise CommandError(f"Source '{model}/{source}' not found.")
        parsed = []
        for name in files:  # read and check every file before writing any
            path = Path(name)
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except OSError as exc:
                raise CommandError(f"{name}: cannot read ({exc.strerror or exc}).") from exc
            except ValueError as exc:
                raise CommandError(f"{name}: not valid JSON ({exc}).") from exc
            parsed.append((name, data))
        with transaction.atomic():
            for name, data in parsed:
                try:
                    evals = services.evals_import(model=model_obj, data=data, source=source_obj)
                except ApplicationError as exc:
                    raise CommandError(f"{name}: {exc.message}") from exc
                for ev in evals:
                    self.stdout.write(f"{name}: {ev.type.name} for {model_obj.name}/{ev.source.name}")
