"""Progress bar and summary line shared by the import and export commands."""

from __future__ import annotations

import time

from tqdm import tqdm


class ImportProgress:
    """A tqdm bar over batches with features/s and activations/s, and a summary line."""

    def __init__(self, *, total: int, desc: str, enabled: bool = True):
        self.started = time.perf_counter()
        self.batches = self.skipped = self.features = self.activations = self.explanations = 0
        self.bar = tqdm(total=total, desc=desc, unit="batch", disable=not enabled, dynamic_ncols=True)

    def update(
        self, *, skipped: bool = False, features: int = 0, activations: int = 0, explanations: int = 0
    ):
        self.batches += 1
        self.skipped += int(skipped)
        self.features += features
        self.activations += activations
        self.explanations += explanations
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        self.bar.set_postfix(
            {
                "features/s": f"{self.features / elapsed:,.0f}",
                "activations/s": f"{self.activations / elapsed:,.0f}",
            },
            refresh=False,
        )
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()

    def summary(self, verb: str = "Imported") -> str:
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        text = (
            f"{verb} {self.batches - self.skipped} batch(es) ({self.skipped} already done, skipped): "
            f"{self.features:,} features, {self.activations:,} activations"
        )
        if self.explanations:
            text += f", {self.explanations:,} explanations"
        return (
            f"{text} in {elapsed:.1f} s ({self.features / elapsed:,.0f} features/s, "
            f"{self.activations / elapsed:,.0f} activations/s)."
        )
