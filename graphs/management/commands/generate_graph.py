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
        parser.add_argument(
            "--enqueue", action="store_true", help="queue it as a job for a worker (graphs.generate) and exit"
        )

    def handle(self, *args, **opt):
        from graphs.services import graph_generate
        from graphs.services.jobs import graph_job_create

        fields = {
            "user": None,
            "model_name": opt["model"],
            "prompt": opt["prompt"],
            "source_set_name": opt["source_set"],
            "slug": opt["slug"],
            "params": {
                "maxNLogits": opt["max_n_logits"],
                "desiredLogitProb": opt["desired_logit_prob"],
                "nodeThreshold": opt["node_threshold"],
                "edgeThreshold": opt["edge_threshold"],
                "maxFeatureNodes": opt["max_feature_nodes"],
            },
        }
        try:
            if opt["enqueue"]:
                job = graph_job_create(**fields)
                self.stdout.write(f"Queued job {job.pk}: {job.title} (follow it at /jobs/).")
                return
            graph = self._run(graph_generate, fields, quiet=opt["verbosity"] < 1)
        except ApplicationError as exc:
            message = exc.as_dict().get("message")
            raise exc.as_command_error() if not message else exc.as_command_error(f"{message} — ") from exc
        self.stdout.write(
            f"Graph {graph.model.name}/{graph.slug}: {graph.num_nodes} nodes, {graph.num_links} links "
            f"(view at /{graph.model.name}/graph?slug={graph.slug})."
        )

    def _run(self, generate, fields: dict, *, quiet: bool):
        """Inline, with a terminal progress bar over circuit-tracer's phases (in ‰)."""
        from tqdm import tqdm

        with tqdm(total=1000, unit="‰", disable=quiet, file=self.stderr) as bar:

            def progress(stage: str, fraction: float, detail: str = "") -> None:
                bar.set_description(stage)
                bar.update(max(0, int(round(fraction * 1000)) - bar.n))

            return generate(**fields, progress=progress)
