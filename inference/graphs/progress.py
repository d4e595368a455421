"""Live progress for circuit-tracer's ``attribute`` (which only offers a tqdm bar and log lines).

``attribution_progress(model, report, …)`` wraps, on this one ``ReplacementModel`` instance and
only for the duration of the ``with`` block, the three calls ``attribute`` makes through the model
(``setup_attribution`` → ``run_forward_pass`` → ``ctx.compute_batch`` per batch of source nodes),
so each phase and each attribution batch reports ``report(stage, fraction, detail)``. Nothing in
circuit-tracer's computation changes: the wrappers call the originals with the same arguments.
If ``report`` raises (a cancelled job), the exception leaves ``attribute`` at that batch.

Fractions of the whole generation (attribution dominates; the rest are short):
precompute 0.02 → forward pass 0.08 → logit rows 0.10 → feature rows up to 0.85 → prune 0.85 →
graph files 0.92 → done 1.0 (``generate_graph`` reports the last three).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

Report = Callable[[str, float, str], None]

PRECOMPUTED = 0.02
FORWARD_DONE = 0.08
LOGITS_DONE = 0.10
FEATURES_DONE = 0.85


@contextlib.contextmanager
def attribution_progress(model, report: Report, *, max_feature_nodes: int | None):
    """Report circuit-tracer's phases and attribution batches while ``attribute`` runs."""
    setup_original = model.setup_attribution
    forward_original = model.run_forward_pass
    state = {"planned": 0, "visited": 0, "n_layers": int(model.cfg.n_layers)}

    def setup_attribution(inputs):
        ctx = setup_original(inputs)
        total_active = int(ctx.activation_matrix._nnz())
        planned = min(max_feature_nodes or total_active, total_active)
        state["planned"] = planned
        report("precomputed", PRECOMPUTED, f"{total_active} active features, {planned} to attribute")
        batch_original = ctx.compute_batch

        def compute_batch(layers, positions, inject_values, retain_graph=True):
            rows = batch_original(layers, positions, inject_values, retain_graph=retain_graph)
            if len(layers) and int(layers[0]) == state["n_layers"]:  # logit rows come first
                report("logit attribution", LOGITS_DONE, f"{len(layers)} logits")
            else:
                state["visited"] += len(layers)
                share = state["visited"] / max(1, state["planned"])
                fraction = LOGITS_DONE + (FEATURES_DONE - LOGITS_DONE) * min(1.0, share)
                report(
                    "feature attribution", fraction, f"{state['visited']}/{state['planned']} feature nodes"
                )
            return rows

        ctx.compute_batch = compute_batch
        return ctx

    def run_forward_pass(input_ids, batch_size, ctx):
        forward_original(input_ids, batch_size, ctx)
        report("forward pass", FORWARD_DONE, "")

    model.setup_attribution = setup_attribution
    model.run_forward_pass = run_forward_pass
    try:
        yield
    finally:  # the cached model goes back to its own methods
        del model.setup_attribution
        del model.run_forward_pass
