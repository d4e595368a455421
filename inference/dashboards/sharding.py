"""Dashboard generation as a job: a source's feature range split into shards along ledger-batch
boundaries, each shard its own Procrastinate task (``inference.tasks.dashboards_shard``) written
through the resumable path (``dashboards_generate``), so shards run in parallel on as many
workers as there are and a re-run skips what is written."""

from __future__ import annotations

import math

from django.conf import settings

from inference.dashboards.services import GenerationError, parse_feature_range
from neuronsite.errors import ValidationFailed

TASK = "inference.dashboards_shard"


def shard_ranges(start: int, stop: int, *, unit: int, shards: int) -> list[tuple[int, int]]:
    """``shards`` contiguous ranges covering ``start:stop``, cut on multiples of ``unit`` from
    ``start``. With ``unit`` = the generation's pass window (``features_per_pass`` rounded down to
    whole batches) every shard computes its features exactly as one full run does (same ledger
    keys, same passes, hence the same sampled snippets)."""
    n_units = math.ceil((stop - start) / unit)
    shards = max(1, min(shards, n_units))
    base, extra = divmod(n_units, shards)
    out, u = [], 0
    for i in range(shards):
        n = base + (1 if i < extra else 0)
        out.append((start + u * unit, min(stop, start + (u + n) * unit)))
        u += n
    return out


def dashboards_job_create(
    *,
    source,
    owner=None,
    corpus: str = "pydoc",
    n_prompts: int = 1024,
    ctx_len: int | None = None,
    features: str | None = None,
    shards: int = 1,
    batch_size: int = 256,
    features_per_pass: int = 4096,
    prompt_batch_size: int = 32,
    umap: bool = True,
    seed: int = 0,
    public: bool = False,
):
    """Create the job and defer one task per shard (queue ``JOBS_GPU_QUEUE``)."""
    from neuronsite.jobs.services import job_create

    if not source.d_sae:
        raise ValidationFailed(f"source {source.name} has no d_sae: cannot plan its shards", field="source")
    if shards < 1 or batch_size < 1 or prompt_batch_size < 1 or features_per_pass < 1:
        raise ValidationFailed("shards, batch sizes and features per pass must be at least 1", field="shards")
    try:
        start, stop = parse_feature_range(features, int(source.d_sae))
    except GenerationError as exc:
        raise ValidationFailed(str(exc), field="features") from exc
    window = max(1, features_per_pass // batch_size) * batch_size
    common = {
        "model": source.model.name,
        "source": source.name,
        "corpus": corpus,
        "n_prompts": n_prompts,
        "ctx_len": ctx_len,
        "batch_size": batch_size,
        "features_per_pass": features_per_pass,
        "prompt_batch_size": prompt_batch_size,
        "umap": umap,
        "seed": seed,
    }
    parts = [
        {
            "task": TASK,
            "queue": settings.JOBS_GPU_QUEUE,
            "kwargs": {**common, "features": f"{a}:{b}"},
            "total": math.ceil((b - a) / batch_size),
        }
        for a, b in shard_ranges(start, stop, unit=window, shards=shards)
    ]
    return job_create(
        kind="dashboards",
        title=f"Dashboards for {source.model.name}/{source.name} ({start}:{stop}, {len(parts)} shard(s))",
        parts=parts,
        owner=owner,
        unit="batches",
        public=public,
    )
