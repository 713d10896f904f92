"""Progress lines for long Beam steps: each worker logs its own running count and rate.

Beam counters are only reported at the end on some runners (the DirectRunner among
them), so a step over millions of documents would otherwise say nothing for hours.
"""
from __future__ import annotations

import logging
import time

log = logging.getLogger("pipelines")


class Progress:
    """``add(n)``; logs "<label>: N <unit> by this worker (R <unit>/s)" each ``every`` units.

    Create it in a DoFn's ``setup`` (the clock starts there), not in ``__init__``.
    """

    def __init__(self, label: str, unit: str, every: int):
        if every < 1:
            raise ValueError(f"progress interval must be >= 1, got {every}")
        self.label, self.unit, self.every = label, unit, every
        self.count = 0
        self._started = time.monotonic()

    def add(self, n: int = 1) -> None:
        before = self.count
        self.count += n
        if self.count // self.every > before // self.every:
            rate = self.count / max(time.monotonic() - self._started, 1e-9)
            log.info("%s: %d %s by this worker (%.1f %s/s)", self.label, self.count, self.unit, rate, self.unit)
