"""The threads the generator's kernels run on (by feature range)."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

PARALLEL_FROM = 1 << 14  # features x prompts per batch from which the kernels split over threads


class KernelPool:
    """Runs a kernel over feature ranges, one per thread (the numba kernels release the GIL).

    The call waits for every range: run in the background while the next batch goes through the
    model (tried), the kernels' threads and torch's OpenMP threads (which spin between
    operations) fought over the cores and the whole took longer, most of all on a busy machine."""

    def __init__(self, n_feat: int, n_threads: int):
        self.n_feat = n_feat
        self.n = max(1, min(n_threads, n_feat))
        self.pool = ThreadPoolExecutor(self.n - 1, thread_name_prefix="dashboards") if self.n > 1 else None

    def run(self, fn: Callable[[int, int], object], lo: int = 0, hi: int | None = None) -> list:
        """``fn(f0, f1)`` for every range of ``lo:hi`` (all features by default; the first range
        on this thread), in range order."""
        hi = self.n_feat if hi is None else hi
        if hi <= lo:
            return []
        n = min(self.n, hi - lo)
        cuts = [lo + (hi - lo) * i // n for i in range(n + 1)]
        ranges = [(cuts[i], cuts[i + 1]) for i in range(n)]
        others = [self.pool.submit(fn, f0, f1) for f0, f1 in ranges[1:]] if self.pool else []
        try:
            first = fn(*ranges[0])
        finally:
            rest = [f.result() for f in others]
        return [first, *rest]

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True)
