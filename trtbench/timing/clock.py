"""The host clock seam."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now_ns(self) -> int:
        """Monotonic time in nanoseconds."""


class PerfCounterClock:
    """``time.perf_counter_ns``: the host's highest-resolution monotonic clock."""

    name = "perf_counter_ns"

    def now_ns(self) -> int:
        return time.perf_counter_ns()
