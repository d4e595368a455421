"""torch's OpenMP threads in the processes that run engine work in the background."""

from __future__ import annotations

import os


def prefer_sleeping_threads() -> None:
    """torch's OpenMP threads sleep between operations instead of spinning
    (``OMP_WAIT_POLICY=PASSIVE``), unless the environment already says otherwise. The OpenMP
    runtime reads it once, when torch loads: call this before anything imports torch.

    Threads that spin while they wait, on a core another process needs (PostgreSQL, the web
    server, another worker), made graph jobs ~5x slower (bench/graphs) and the forward + encode
    of a dashboard generation 5-40x slower at random (bench/dashboards)."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
