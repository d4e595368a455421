"""Generate feature dashboards for a source from its model + SAE over a corpus."""

import argparse

from django.core.management.base import BaseCommand, CommandError

from models_app.models import Source


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
        # set by the admin: report progress to this job file
        parser.add_argument("--job-file", help=argparse.SUPPRESS)

    def handle(self, *args, **opt):
        from inference.dashboards.services import GenerationError, dashboards_generate

        source = (
            Source.objects.select_related("model")
            .filter(model__name=opt["model"], name=opt["source"])
            .first()
        )
        if source is None:
            raise CommandError(f"Source {opt['source']!r} of model {opt['model']!r} not found")
        job = None
        if opt["job_file"]:
            from inference.dashboards.jobs import JobProgress

            job = JobProgress(opt["job_file"])
            job.update(status="running")
        bar = None

        def progress(phase: str, done: int, total: int) -> None:
            nonlocal bar
            if bar is None:
                from tqdm import tqdm

                bar = tqdm(total=total, initial=done, desc="feature batches", disable=opt["verbosity"] < 1)
            else:
                bar.update(done - bar.n)
            if job:
                job.update(done=done, total=total)

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
            if job:
                job.update(status="failed", error=str(exc))
            raise CommandError(str(exc)) from exc
        except Exception as exc:
            if job:
                job.update(status="failed", error=f"{type(exc).__name__}: {exc}")
            raise
        finally:
            if bar is not None:
                bar.close()
        if job:
            job.update(status="done", done=result.batches_total, total=result.batches_total)
        self.stdout.write(
            f"{source.model.name}/{source.name}: {result.batches_written} batches written "
            f"({result.features_written} features, {result.activations_written} snippets), "
            f"{result.batches_skipped} already done."
        )
