"""Shared parts of the batch commands: arguments, the run (inline or queued), progress bar, summary."""

from __future__ import annotations

from neuronsite.errors import ApplicationError


def add_common_arguments(parser) -> None:
    parser.add_argument("--model", required=True, help="model id, e.g. gpt2-small")
    parser.add_argument("--source", required=True, help="source id, e.g. 6-res-jb")
    parser.add_argument("--features", default=None, help="index range a:b (b exclusive); default all")
    parser.add_argument("--llm", default=None, help="LLM model name (default: AUTOINTERP_*_MODEL)")
    parser.add_argument("--concurrency", type=int, default=8, help="LLM calls in flight")
    parser.add_argument("--limit", type=int, default=None, help="at most this many not yet done")
    parser.add_argument(
        "--enqueue",
        action="store_true",
        help="queue a job for the job workers (manage.py run_jobs_worker) instead of running here",
    )


def enqueue(command, o, *, kind: str, type_name: str, explanation_type: str | None = None) -> None:
    """Queue the run as a job (``autointerp.jobs``) and say how to follow it."""
    from autointerp.batch import _source
    from autointerp.jobs import autointerp_job_create

    job = autointerp_job_create(
        kind=kind,
        source=_source(model_id=o["model"], source_id=o["source"]),
        type_name=type_name,
        llm_model=o["llm"],
        limit=o["limit"],
        features=o["features"],
        concurrency=o["concurrency"],
        explanation_type=explanation_type,
    )
    command.stdout.write(
        f"Queued job {job.pk}: {job.title}. Run `manage.py run_jobs_worker` to process it; "
        f"progress on /jobs/ and GET /api/jobs/{job.pk}."
    )


def run_or_enqueue(command, o, *, kind: str, type_name: str, run_batch, explanation_type: str | None = None):
    """The batch commands' ``handle``: queue a job with ``--enqueue``, else run inline with a
    progress bar (``run_batch(features=..., progress=...)`` is the batch service with the command's
    own arguments bound) and print the summary; domain errors become ``CommandError``."""
    from autointerp import batch

    try:
        if o["enqueue"]:
            enqueue(command, o, kind=kind, type_name=type_name, explanation_type=explanation_type)
            return
        progress, close = progress_bar(command, o.get("verbosity", 1))
        try:
            run = run_batch(features=batch.IndexRange.parse(o["features"]), progress=progress)
        finally:
            close()
    except ApplicationError as exc:
        raise exc.as_command_error() from exc
    command.stdout.write(summary(run))


def progress_bar(command, verbosity: int):
    from tqdm import tqdm

    state = {"bar": None}

    def progress(run):
        if state["bar"] is None:
            state["bar"] = tqdm(total=run.total, unit="feat", disable=verbosity < 1, file=command.stderr)
        bar = state["bar"]
        bar.n = run.done + run.skipped + run.failed
        bar.set_postfix(done=run.done, failed=run.failed, calls=run.calls)
        bar.refresh()

    def close():
        if state["bar"] is not None:
            state["bar"].close()

    return progress, close


def summary(run) -> str:
    lines = [
        f"Run {run.pk}: {run.done} done, {run.skipped} skipped (already done), {run.failed} failed "
        f"of {run.total}; {run.calls} LLM calls, {run.prompt_tokens} prompt + {run.completion_tokens} "
        "completion tokens."
    ]
    for failure in run.failures[:20]:
        lines.append(f"  feature {failure['index']}: {failure['error']}")
    if len(run.failures) > 20:
        lines.append(f"  … and {len(run.failures) - 20} more (AutointerpRun {run.pk} in the admin)")
    return "\n".join(lines)
