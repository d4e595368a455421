"""Shared parts of the batch commands: arguments, progress bar, summary."""

from __future__ import annotations


def add_common_arguments(parser) -> None:
    parser.add_argument("--model", required=True, help="model id, e.g. gpt2-small")
    parser.add_argument("--source", required=True, help="source id, e.g. 6-res-jb")
    parser.add_argument("--features", default=None, help="index range a:b (b exclusive); default all")
    parser.add_argument("--llm", default=None, help="LLM model name (default: AUTOINTERP_*_MODEL)")
    parser.add_argument("--concurrency", type=int, default=8, help="LLM calls in flight")


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
