"""Store each feature's nearest neighbours by decoder cosine similarity, for the dashboard."""

from django.core.management.base import BaseCommand, CommandError

from inference.loading import LoadError
from inference.services import source_neighbours_compute
from models_app.models import Source
from neuronsite.errors import ApplicationError


class Command(BaseCommand):
    help = "Compute topk_cos_sim_indices/values for every stored feature of a source (its SAE's decoder)."

    def add_arguments(self, parser):
        parser.add_argument("--source", required=True, help="source id, e.g. 6-res-jb")
        parser.add_argument("--model", help="model id (needed when several models have that source id)")
        parser.add_argument("-k", type=int, default=10, help="neighbours per feature (default 10)")

    def handle(self, *args, source, model=None, k=10, **options):
        if k < 1:
            raise CommandError("-k must be at least 1")
        qs = Source.objects.select_related("model").filter(name=source)
        if model:
            qs = qs.filter(model__name=model)
        rows = list(qs[:2])
        if not rows:
            raise CommandError(f"Source {source!r} not found" + (f" on model {model!r}" if model else ""))
        if len(rows) > 1:
            raise CommandError(f"Several models have a source {source!r}; pass --model")
        try:
            count = source_neighbours_compute(source=rows[0], k=k)
        except ApplicationError as exc:
            raise exc.as_command_error() from exc
        except LoadError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"Stored {k} nearest neighbours for {count} features of {rows[0].model.name}/{source}."
        )
