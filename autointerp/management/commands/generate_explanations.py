"""Explain the features of a source with an LLM (or the offline top-tokens explainer).

    manage.py generate_explanations --model M --source S [--features a:b] --type T --llm NAME --concurrency N

Resumable: features that already have an explanation of this type and model are skipped.
Per-feature failures are reported, not fatal.
"""

from django.core.management.base import BaseCommand

from autointerp import batch
from autointerp.management.commands._batch import add_common_arguments, enqueue, progress_bar, summary
from neuronsite.errors import ApplicationError


class Command(BaseCommand):
    help = "Generate explanations for a source's features (resumable; failures recorded)."

    def add_arguments(self, parser):
        add_common_arguments(parser)
        parser.add_argument("--type", required=True, dest="type_name", help="e.g. eleuther_acts_top20")

    def handle(self, *args, **o):
        if o["enqueue"]:
            try:
                enqueue(self, o, kind="explain", type_name=o["type_name"])
            except ApplicationError as exc:
                raise exc.as_command_error() from exc
            return
        progress, close = progress_bar(self, o.get("verbosity", 1))
        try:
            run = batch.explanations_generate_batch(
                model_id=o["model"],
                source_id=o["source"],
                type_name=o["type_name"],
                llm_model=o["llm"],
                features=batch.IndexRange.parse(o["features"]),
                concurrency=o["concurrency"],
                limit=o["limit"],
                progress=progress,
            )
        except ApplicationError as exc:
            raise exc.as_command_error() from exc
        finally:
            close()
        self.stdout.write(summary(run))
