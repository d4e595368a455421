"""manage.py import_neuronpedia DIR — Neuronpedia's export layout into this site."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from features.importers.neuronpedia_import import ExportImportError, export_folder_import, plan
from features.importers.neuronpedia_layout import source_dirs
from features.importers.progress import ImportProgress


class Command(BaseCommand):
    help = (
        "Import a Neuronpedia export folder ({model}/{source}/features|activations|explanations/batch-N.jsonl.gz "
        "plus model.jsonl, sourceset.jsonl, source.jsonl, release.jsonl). DIR may be the export root, a model "
        "folder or one source folder. Each batch file is one transaction recorded in the import ledger: "
        "re-runs skip finished files."
    )

    def add_arguments(self, parser):
        parser.add_argument("dir", help="export folder")
        parser.add_argument("--explanations-only", action="store_true", help="import only explanations")
        parser.add_argument("--from-batch", type=int, default=0, help="skip batch files numbered below N")
        parser.add_argument("--dry-run", action="store_true", help="list the files that would be imported")

    def handle(self, *args, **opts):
        root = Path(opts["dir"])
        if not root.is_dir():
            raise CommandError(f"{root}: no such folder.")
        if opts["from_batch"] < 0:
            raise CommandError(f"--from-batch must be >= 0, got {opts['from_batch']}.")
        folders = source_dirs(root)
        if not folders:
            raise CommandError(
                f"{root}: no source folders found (expected {{model}}/{{source}}/features/batch-N.jsonl.gz)."
            )
        steps = plan(
            source_dirs=folders, explanations_only=opts["explanations_only"], from_batch=opts["from_batch"]
        )
        if opts["dry_run"]:
            for _folder, _kind, _n, path in steps:
                self.stdout.write(str(path))
            self.stdout.write(f"{len(steps)} file(s) would be imported.")
            return
        progress = ImportProgress(total=len(steps), desc="import_neuronpedia", enabled=opts["verbosity"] > 0)

        def on_batch(result):
            progress.update(
                skipped=result.skipped,
                features=result.features,
                activations=result.activations,
                explanations=result.explanations,
            )

        try:
            export_folder_import(
                source_dirs=folders,
                explanations_only=opts["explanations_only"],
                from_batch=opts["from_batch"],
                on_batch=on_batch,
            )
        except ExportImportError as exc:
            raise CommandError(str(exc)) from None
        finally:
            progress.close()
        self.stdout.write(progress.summary())
