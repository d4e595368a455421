"""manage.py import_saedashboard PATH... — SAEDashboard batch-N.json files into features."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from features.importers.progress import ImportProgress
from features.importers.saedashboard import (
    BatchFileError,
    batch_files_prepared,
    discover_batch_files,
    saedashboard_batch_import,
)
from models_app.models import Model
from neuronsite.errors import ApplicationError


class Command(BaseCommand):
    help = (
        "Import SAEDashboard batch-N.json files (files or folders). Creates the model, source set and "
        'source ("{layer}-{set}") when missing. Each file is one transaction, recorded in the import '
        "ledger: a re-run skips finished files, so an interrupted import can simply be run again."
    )

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", help="batch-N.json files or folders holding them")
        parser.add_argument("--model", help="existing model id to import into (default: the file's model_id)")
        parser.add_argument("--source-set", help="source set name (default: the file's sae_set)")
        parser.add_argument("--hook", help="hook name for created sources (default: from the folder name)")
        parser.add_argument(
            "--d-sae", type=int, help="number of features of the SAE (bounds feature indices)"
        )
        parser.add_argument(
            "--zero-bos", action="store_true", help="set the activation of a leading BOS token to 0"
        )
        parser.add_argument("--dry-run", action="store_true", help="list the files that would be imported")
        parser.add_argument(
            "--workers",
            type=int,
            default=2,
            help="processes that parse and encode the next files while one is written (0: none)",
        )

    def handle(self, *args, **opts):
        try:
            files = discover_batch_files(opts["paths"])
        except BatchFileError as exc:
            raise CommandError(str(exc)) from None
        if not files:
            raise CommandError(f"No batch-N.json files found in {', '.join(opts['paths'])}.")
        if opts["model"] and not Model.objects.filter(name=opts["model"]).exists():
            raise CommandError(
                f"Unknown model '{opts['model']}' (--model). Create it first (POST /api/model/new or the admin), "
                "or leave out --model to use the model_id written in the files."
            )
        if opts["d_sae"] is not None and opts["d_sae"] <= 0:
            raise CommandError(f"--d-sae must be positive, got {opts['d_sae']}.")
        if opts["dry_run"]:
            for path in files:
                self.stdout.write(str(path))
            self.stdout.write(f"{len(files)} file(s) would be imported.")
            return
        sources: dict = {}  # looked up once per import, not once per file
        progress = ImportProgress(total=len(files), desc="import_saedashboard", enabled=opts["verbosity"] > 0)
        try:
            prepared_files = batch_files_prepared(files, zero_bos=opts["zero_bos"], workers=opts["workers"])
            for prepared in prepared_files:
                path = prepared.path
                try:
                    result = saedashboard_batch_import(
                        path=path,
                        prepared=prepared,
                        model=opts["model"],
                        source_set=opts["source_set"],
                        hook=opts["hook"],
                        d_sae=opts["d_sae"],
                        zero_bos=opts["zero_bos"],
                        sources=sources,
                    )
                except BatchFileError as exc:
                    raise CommandError(str(exc)) from None
                except ApplicationError as exc:
                    raise exc.as_command_error(f"{path}: ") from None
                progress.update(
                    skipped=result.skipped, features=result.features, activations=result.activations
                )
        finally:
            progress.close()
        self.stdout.write(progress.summary())
