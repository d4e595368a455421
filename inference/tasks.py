"""Procrastinate tasks of the inference app (found by ``procrastinate.contrib.django``'s autodiscovery).

Light at import: torch and the engines load inside the task bodies only.
"""

from __future__ import annotations

from django.conf import settings
from procrastinate.contrib.django import app

from neuronsite.errors import NotFound, ValidationFailed
from neuronsite.jobs.runner import run_part


@app.task(name="inference.dashboards_shard", queue=settings.JOBS_GPU_QUEUE)
def dashboards_shard(*, job_id: int, part: int, model: str, source: str, **options) -> None:
    """One shard (feature range) of a dashboard generation job."""

    def work(reporter):
        from inference.dashboards.services import GenerationError, dashboards_generate
        from models_app.models import Source

        row = Source.objects.select_related("model").filter(model__name=model, name=source).first()
        if row is None:
            raise NotFound(f"Source {source!r} of model {model!r} not found")
        reporter.log(f"features {options['features']} of {model}/{source}")
        try:
            result = dashboards_generate(
                source=row,
                progress=lambda phase, done, total: reporter.progress(done, total),
                check=reporter.check,
                **options,
            )
        except GenerationError as exc:
            raise ValidationFailed(str(exc)) from exc
        reporter.log(
            f"{result.batches_written} batches written ({result.features_written} features), "
            f"{result.batches_skipped} already done"
        )
        return [{"label": f"{model}/{source}", "url": f"/{model}/{source}"}]

    run_part(job_id=job_id, part=part, work=work)


@app.task(name="inference.demo_seed", queue=settings.JOBS_GPU_QUEUE)
def demo_seed_task(*, job_id: int, part: int, spec: dict | None = None, data_dir: str | None = None) -> None:
    """Build the offline demo (see ``inference.demo.seed``) with its progress on the home page."""

    def work(reporter):
        from pathlib import Path

        from inference.demo.seed import MODEL_NAME, DemoSpec, demo_seed

        values = dict(spec or {})
        if "layers" in values:
            values["layers"] = tuple(values["layers"])
        result = demo_seed(
            spec=DemoSpec(**values),
            data_dir=Path(data_dir) if data_dir else None,
            log=reporter.log,
            progress=reporter.progress,
        )
        if not result.skipped:
            reporter.log(f"demo seeded: {result.features} features, {result.explanations} explanations")
        return [{"label": MODEL_NAME, "url": f"/{MODEL_NAME}"}]

    run_part(job_id=job_id, part=part, work=work)


def demo_job_create(*, spec: dict | None = None, data_dir: str | None = None):
    """Enqueue the demo seeding (a public job: its progress shows on the home page)."""
    from neuronsite.jobs.services import job_create

    return job_create(
        kind="demo",
        title="Building the demo model, SAEs and dashboards",
        parts=[
            {
                "task": "inference.demo_seed",
                "queue": settings.JOBS_GPU_QUEUE,
                "kwargs": {"spec": spec or {}, "data_dir": data_dir},
                "total": 0,
            }
        ],
        unit="steps",
        public=True,
    )
