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


class SpinSleepClock(PerfCounterClock):
    """``perf_counter_ns`` whose ``sleep_ns`` sleeps all but the last ``spin_ns`` and spins the rest: a wait of
    tens of microseconds ends on time instead of some tens of microseconds late (``time.sleep``'s wake-up).
    For one thread driving GPU streams (it spins only its own core); never for thread lanes, whose workers need
    the GIL the spinning thread would hold."""

    name = "perf_counter_ns+spin"

    def __init__(self, spin_ns: int = 200_000) -> None:
        self.spin_ns = int(spin_ns)

    def sleep_ns(self, ns: int) -> None:
        now = time.perf_counter_ns
        deadline = now() + int(ns)
        if ns > self.spin_ns:
            time.sleep((ns - self.spin_ns) / 1e9)
        while now() < deadline:
            pass
