"""A Procrastinate worker for Neuronsite's jobs (any machine that reaches the database)."""

from __future__ import annotations

import asyncio
import logging

from django.conf import settings
from django.core.management.base import BaseCommand

from neuronsite.openmp import prefer_sleeping_threads

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = (
        "Run a job worker: takes tasks from the queues (default JOBS_WORKER_QUEUES), one at a time "
        "(JOBS_WORKER_CONCURRENCY), and queues again the tasks of workers that stopped answering."
    )

    def add_arguments(self, parser):
        parser.add_argument("--queues", help="comma-separated queues (default: JOBS_WORKER_QUEUES)")
        parser.add_argument("--concurrency", type=int, default=settings.JOBS_WORKER_CONCURRENCY)
        parser.add_argument("--name", default=None, help="worker name shown in logs")

    def handle(self, *args, **opt):
        prefer_sleeping_threads()  # before torch loads (the first task imports it)
        queues = [
            q.strip()
            for q in (opt["queues"] or ",".join(settings.JOBS_WORKER_QUEUES)).split(",")
            if q.strip()
        ]
        if opt["verbosity"] > 0:
            self.stdout.write(f"Job worker on queues {', '.join(queues)} (concurrency {opt['concurrency']})")
        asyncio.run(self._run(queues=queues, concurrency=opt["concurrency"], name=opt["name"]))

    async def _run(self, *, queues: list[str], concurrency: int, name: str | None) -> None:
        from procrastinate.contrib.django import app

        from neuronsite.jobs.worker_db import worker_connector

        with app.replace_connector(worker_connector()) as worker_app:
            async with worker_app.open_async():
                requeue = asyncio.create_task(_requeue_stalled(worker_app, queues))
                try:
                    await worker_app.run_worker_async(
                        queues=queues,
                        concurrency=concurrency,
                        name=name,
                        update_heartbeat_interval=settings.JOBS_HEARTBEAT_SECONDS,
                        stalled_worker_timeout=settings.JOBS_STALLED_SECONDS,
                        install_signal_handlers=True,
                    )
                finally:
                    requeue.cancel()


async def _requeue_stalled(app, queues: list[str]) -> None:
    """Tasks held by a worker whose heartbeat stopped (killed, machine lost) go back to ``todo``;
    they resume through the ledger, so nothing is written twice."""
    while True:
        for queue in queues:
            try:
                stalled = await app.job_manager.get_stalled_jobs(
                    queue=queue, seconds_since_heartbeat=settings.JOBS_STALLED_SECONDS
                )
                for job in stalled:
                    logger.warning("re-queueing stalled task %s (%s)", job.id, job.task_name)
                    await app.job_manager.retry_job(job)
            except Exception:  # keep the worker alive: the next pass tries again
                logger.exception("checking for stalled tasks failed")
        await asyncio.sleep(max(1.0, settings.JOBS_HEARTBEAT_SECONDS))
