"""Procrastinate tasks of the graphs app (found by ``procrastinate.contrib.django``'s autodiscovery).

Light at import: torch and circuit-tracer load inside the task body only.
"""

from __future__ import annotations

from django.conf import settings
from procrastinate.contrib.django import app

from neuronsite.jobs.runner import run_part


@app.task(name="graphs.generate", queue=settings.JOBS_GPU_QUEUE)
def graph_generate_task(*, job_id: int, part: int, user_id: int | None, request: dict) -> None:
    """Generate and store one attribution graph (``graphs.services.jobs``)."""
    from graphs.services.jobs import graph_job_work

    run_part(
        job_id=job_id,
        part=part,
        work=lambda reporter: graph_job_work(reporter, user_id=user_id, request=request),
    )
