"""Embed explanations for semantic search: those without an embedding or embedded by another
model (``--force``: all). Uses EXPLANATION_EMBEDDER (local all-MiniLM-L6-v2 by default)."""

from django.core.management.base import BaseCommand

from autointerp import services
from neuronsite.errors import ApplicationError


class Command(BaseCommand):
    help = "Embed explanations (missing or from another model; --force re-embeds all)."

    def add_arguments(self, parser):
        parser.add_argument("--force", action="store_true", help="re-embed every explanation")
        parser.add_argument("--batch-size", type=int, default=256)
        parser.add_argument(
            "--enqueue", action="store_true", help="queue a job for the job workers instead of running here"
        )

    def handle(self, *args, force=False, batch_size=256, enqueue=False, **options):
        from django.core.management.base import CommandError
        from tqdm import tqdm

        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        if enqueue:
            from autointerp.jobs import embeddings_job_create

            job = embeddings_job_create(force=force, batch_size=batch_size)
            self.stdout.write(
                f"Queued job {job.pk}: {job.title}. Run `manage.py run_jobs_worker` to process it."
            )
            return
        bar = None

        def progress(done, total):
            nonlocal bar
            if bar is None:
                bar = tqdm(
                    total=total, unit="expl", disable=options.get("verbosity", 1) < 1, file=self.stderr
                )
            bar.n = done
            bar.refresh()

        try:
            written = services.explanations_embed(force=force, batch_size=batch_size, progress=progress)
        except ApplicationError as exc:
            raise exc.as_command_error() from exc
        finally:
            if bar is not None:
                bar.close()
        self.stdout.write(f"Embedded {written} explanation(s).")
