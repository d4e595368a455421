"""Generate feature dashboards for a source from its model + SAE over a corpus."""

from django.core.management.base import BaseCommand, CommandError

from models_app.models import Source
from neuronsite.openmp import prefer_sleeping_threads


class Command(BaseCommand):
    help = (
        "Compute every feature's dashboard (top snippets, interval groups, density, histograms, logits, "
        "neighbours, quantiles, UMAP) in a streaming pass over a corpus and store it (resumable)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--model", required=True, help="model id, e.g. tiny-pydoc")
        parser.add_argument("--source", required=True, help="source id, e.g. 1-res-demo")
        parser.add_argument(
            "--corpus",
            default="pydoc",
            help="pydoc (offline), a .txt/.jsonl file or folder, or a Hugging Face dataset name",
        )
        parser.add_argument("--n-prompts", type=int, default=1024)
        parser.add_argument("--ctx-len", type=int, help="tokens per prompt (default: min(64, model context))")
        parser.add_argument("--features", help="feature range a:b (default: all)")
        parser.add_argument("--batch-size", type=int, default=256, help="features per written (ledger) batch")
        parser.add_argument("--features-per-pass", type=int, default=4096)
        parser.add_argument("--prompt-batch-size", type=int, default=32)
        parser.add_argument("--no-umap", action="store_true")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument(
            "--enqueue",
            action="store_true",
            help="queue a job for the job workers (manage.py run_jobs_worker) instead of running here",
        )
        parser.add_argument(
            "--shards", type=int, default=1, help="with --enqueue: tasks to split the features into"
        )

    def handle(self, *args, **opt):
        prefer_sleeping_threads()  # before torch loads, as in the job worker
        from inference.dashboards.services import GenerationError, dashboards_generate

        source = (
            Source.objects.select_related("model")
            .filter(model__name=opt["model"], name=opt["source"])
            .first()
        )
        if source is None:
            raise CommandError(f"Source {opt['source']!r} of model {opt['model']!r} not found")
        if opt["enqueue"]:
            return self._enqueue(source, opt)
        bar = None

        def progress(phase: str, done: int, total: int) -> None:
            nonlocal bar
            if bar is None:
                from tqdm import tqdm

                bar = tqdm(total=total, initial=done, desc="feature batches", disable=opt["verbosity"] < 1)
            else:
                bar.update(done - bar.n)

        try:
            result = dashboards_generate(
                source=source,
                corpus=opt["corpus"],
                n_prompts=opt["n_prompts"],
                ctx_len=opt["ctx_len"],
                features=opt["features"],
                batch_size=opt["batch_size"],
                features_per_pass=opt["features_per_pass"],
                prompt_batch_size=opt["prompt_batch_size"],
                umap=not opt["no_umap"],
                seed=opt["seed"],
                progress=progress,
            )
        except GenerationError as exc:
            raise CommandError(str(exc)) from exc
        finally:
            if bar is not None:
                bar.close()
        self.stdout.write(
            f"{source.model.name}/{source.name}: {result.batches_written} batches written "
            f"({result.features_written} features, {result.activations_written} snippets), "
            f"{result.batches_skipped} already done."
        )

    def _enqueue(self, source, opt) -> None:
        from inference.dashboards.sharding import dashboards_job_create
        from neuronsite.errors import ApplicationError

        try:
            job = dashboards_job_create(
                source=source,
                corpus=opt["corpus"],
                n_prompts=opt["n_prompts"],
                ctx_len=opt["ctx_len"],
                features=opt["features"],
                shards=opt["shards"],
                batch_size=opt["batch_size"],
                features_per_pass=opt["features_per_pass"],
                prompt_batch_size=opt["prompt_batch_size"],
                umap=not opt["no_umap"],
                seed=opt["seed"],
            )
        except ApplicationError as exc:
            raise exc.as_command_error() from exc
        self.stdout.write(
            f"Queued job {job.pk}: {job.title}. Run `manage.py run_jobs_worker` to process it; "
            f"progress on /jobs/."
        )
