"""Explain the features of a source with an LLM (or the offline top-tokens explainer).

    manage.py generate_explanations --model M --source S [--features a:b] --type T --llm NAME --concurrency N

Resumable: features that already have an explanation of this type and model are skipped.
Per-feature failures are reported, not fatal.
"""

from functools import partial

from django.core.management.base import BaseCommand

from autointerp import batch
from autointerp.management.commands._batch import add_common_arguments, run_or_enqueue


class Command(BaseCommand):
    help = "Generate explanations for a source's features (resumable; failures recorded)."

    def add_arguments(self, parser):
        add_common_arguments(parser)
        parser.add_argument("--type", required=True, dest="type_name", help="e.g. eleuther_acts_top20")

    def handle(self, *args, **o):
        run_or_enqueue(
            self,
            o,
            kind="explain",
            type_name=o["type_name"],
            run_batch=partial(
                batch.explanations_generate_batch,
                model_id=o["model"],
                source_id=o["source"],
                type_name=o["type_name"],
                llm_model=o["llm"],
                concurrency=o["concurrency"],
                limit=o["limit"],
            ),
        )
