"""The host clock seam."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now_ns(self) -> int:
        """Monotonic time in nanoseconds."""


class SleepingClock(Clock, Protocol):
    """A clock a scheduler can also wait on (the open-loop load scheduler sleeps until the next arrival)."""

    def sleep_ns(self, ns: int) -> None:
        """Let at least ``ns`` nanoseconds pass (other threads run meanwhile)."""


class PerfCounterClock:
    """``time.perf_counter_ns``: the host's highest-resolution monotonic clock; ``sleep_ns`` is ``time.sleep``
    (it releases the GIL; Linux wakes it some tens of microseconds late)."""

    name = "perf_counter_ns"

    def now_ns(self) -> int:
        return time.perf_counter_ns()

    def sleep_ns(self, ns: int) -> None:
        time.sleep(ns / 1e9)
