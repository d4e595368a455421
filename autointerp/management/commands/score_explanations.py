"""Score the explanations of a source's features.

    manage.py score_explanations --model M --source S [--features a:b] --scorer T [--type T] --llm NAME --concurrency N

Resumable: explanations that already have a score of this type and model are skipped.
"""

from functools import partial

from django.core.management.base import BaseCommand

from autointerp import batch
from autointerp.management.commands._batch import add_common_arguments, run_or_enqueue


class Command(BaseCommand):
    help = "Score explanations of a source's features (resumable; failures recorded)."

    def add_arguments(self, parser):
        add_common_arguments(parser)
        parser.add_argument(
            "--scorer", required=True, help="eleuther_fuzz, eleuther_recall, eleuther_embedding, recall_alt"
        )
        parser.add_argument("--type", default=None, dest="type_name", help="only explanations of this type")

    def handle(self, *args, **o):
        run_or_enqueue(
            self,
            o,
            kind="score",
            type_name=o["scorer"],
            explanation_type=o["type_name"],
            run_batch=partial(
                batch.explanations_score_batch,
                model_id=o["model"],
                source_id=o["source"],
                scorer_type=o["scorer"],
                llm_model=o["llm"],
                explanation_type=o["type_name"],
                concurrency=o["concurrency"],
                limit=o["limit"],
            ),
        )
