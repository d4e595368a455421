"""manage.py export_neuronpedia --model M [--source S] OUT_DIR — Neuronpedia's export layout."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from features.importers.neuronpedia_export import source_export
from features.importers.progress import ImportProgress
from models_app.models import Model, Source


class Command(BaseCommand):
    help = (
        "Export a model's sources (features, activations, explanations and their model / source set / "
        "source / release rows) in Neuronpedia's layout: OUT_DIR/{model}/{source}/..., importable with "
        "import_neuronpedia (and by Neuronpedia)."
    )

    def add_arguments(self, parser):
        parser.add_argument("out_dir")
        parser.add_argument("--model", required=True, help="model id")
        parser.add_argument(
            "--source", action="append", help='source id, e.g. "6-res-jb" (repeatable; default all)'
        )
        parser.add_argument("--batch-size", type=int, default=1024, help="features per batch file")

    def handle(self, *args, **opts):
        model = Model.objects.filter(name=opts["model"]).first()
        if model is None:
            raise CommandError(f"Unknown model '{opts['model']}' (--model).")
        if opts["batch_size"] <= 0:
            raise CommandError("--batch-size must be positive.")
        sources = Source.objects.filter(model=model).order_by("layer", "name")
        if opts["source"]:
            names = set(opts["source"])
            sources = sources.filter(name__in=names)
            missing = names - set(sources.values_list("name", flat=True))
            if missing:
                raise CommandError(
                    f"Unknown source(s) of {model.name} (--source): {', '.join(sorted(missing))}."
                )
        out_dir = Path(opts["out_dir"])
        out_dir.mkdir(parents=True, exist_ok=True)
        progress = ImportProgress(total=None, desc="export_neuronpedia", enabled=opts["verbosity"] > 0)
        try:
            for source in sources:
                source_export(
                    source=source,
                    out_dir=out_dir,
                    batch_size=opts["batch_size"],
                    on_batch=lambda f, a, e: progress.update(features=f, activations=a, explanations=e),
                )
        finally:
            progress.close()
        self.stdout.write(progress.summary("Exported") + f" Written to {out_dir / model.name}.")
