"""Generate an attribution graph from the command line (the same service as the API)."""

from django.core.management.base import BaseCommand

from neuronsite.errors import ApplicationError


class Command(BaseCommand):
    help = "Generate an attribution graph with circuit-tracer and store it (like POST /api/graph/generate)."

    def add_arguments(self, parser):
        parser.add_argument("--model", required=True)
        parser.add_argument("--prompt", required=True)
        parser.add_argument("--source-set", default=None)
        parser.add_argument("--slug", default=None)
        parser.add_argument("--max-n-logits", type=int, default=None)
        parser.add_argument("--desired-logit-prob", type=float, default=None)
        parser.add_argument("--node-threshold", type=float, default=None)
        parser.add_argument("--edge-threshold", type=float, default=None)
        parser.add_argument("--max-feature-nodes", type=int, default=None)

    def handle(self, *args, **opt):
        from graphs.services import graph_generate

        def progress(stage: str, fraction: float) -> None:
            if opt["verbosity"] > 1:
                self.stdout.write(f"  {stage} ({fraction:.0%})")

        try:
            graph = graph_generate(
                user=None,
                model_name=opt["model"],
                prompt=opt["prompt"],
                source_set_name=opt["source_set"],
                slug=opt["slug"],
                params={
                    "maxNLogits": opt["max_n_logits"],
                    "desiredLogitProb": opt["desired_logit_prob"],
                    "nodeThreshold": opt["node_threshold"],
                    "edgeThreshold": opt["edge_threshold"],
                    "maxFeatureNodes": opt["max_feature_nodes"],
                },
                progress=progress,
            )
        except ApplicationError as exc:
            message = exc.as_dict().get("message")
            raise exc.as_command_error() if not message else exc.as_command_error(f"{message} — ") from exc
        self.stdout.write(
            f"Graph {graph.model.name}/{graph.slug}: {graph.num_nodes} nodes, {graph.num_links} links "
            f"(view at /{graph.model.name}/graph?slug={graph.slug})."
        )
