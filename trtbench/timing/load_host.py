"""Load on the host: one thread per query in flight, each running its slot's synchronous stages.

A CPU runtime computes inside the call (onnxruntime's ``run_with_iobinding`` and the host buffers' copies
release the GIL), so N threads give N queries in flight. Each lane's thread waits for ``issue``, times
H2D, compute and D2H with the clock, and signals completion; the scheduler (``timing.load``) decides when
to issue. The threads start with the timer and end with it. Python's thread hand-over costs tens of
microseconds per query: the harness ceiling (a no-op compute through the same lanes) measures it.
"""

from __future__ import annotations

import threading
from typing import List, Optional, Sequence

from trtbench.timing.clock import PerfCounterClock, SleepingClock
from trtbench.timing.load import NS_PER_MS, LoadTimer, NoopCompute, QueryTimes


class HostLane:
    """One query in flight on its own thread."""

    def __init__(self, calls, clock: SleepingClock, data_transfers: bool, name: str) -> None:
        self._calls = calls
        self._clock = clock
        self._transfers = data_transfers
        self._go = threading.Event()
        self._done = threading.Event()
        self._done.set()
        self._stop = False
        self._times = (0, 0, 0, 0)
        self._error: Optional[BaseException] = None
        self.origin = 0
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        now, calls, transfers = self._clock.now_ns, self._calls, self._transfers
        while True:
            self._go.wait()
            self._go.clear()
            if self._stop:
                return
            try:
                a = now()
                if transfers:
                    calls.h2d(None)
                b = now()
                calls.compute(None)
                c = now()
                if transfers:
                    calls.d2h(None)
                d = now()
                self._times = (a, b, c, d)
            except BaseException as exc:  # noqa: B902 - handed to the scheduler's thread by collect()
                self._error = exc
            self._done.set()

    def issue(self) -> None:
        self._done.clear()
        self._go.set()

    def ready(self) -> bool:
        return self._done.is_set()

    def wait(self) -> None:
        self._done.wait()

    def collect(self) -> QueryTimes:
        if self._error is not None:
            exc, self._error = self._error, None
            raise exc
        a, b, c, d = self._times
        o = self.origin
        return QueryTimes((b - a) / NS_PER_MS, (c - b) / NS_PER_MS, (d - c) / NS_PER_MS, (c - b) / NS_PER_MS,
                          (a - o) / NS_PER_MS, (d - o) / NS_PER_MS)

    def close(self) -> None:
        self._done.wait(30)
        self._stop = True
        self._go.set()
        self._thread.join(30)


class HostLoadTimer(LoadTimer):
    """Lanes on threads over ``slots`` (their stages take ``None`` for the stream)."""

    name = "load:host-threads"
    compute_timing = "host"

    def __init__(self, slots: Sequence, data_transfers: bool = True, clock: Optional[SleepingClock] = None) -> None:
        super().__init__(clock or PerfCounterClock())
        self.slots = list(slots)
        self.data_transfers = data_transfers

    def _lanes(self, calls: Sequence, tag: str) -> List[HostLane]:
        return [HostLane(c, self.clock, self.data_transfers, f"trtbench-{tag}-{i}") for i, c in enumerate(calls)]

    def _open(self) -> None:
        self.lanes = self._lanes(self.slots, "slot")

    def _close(self) -> None:
        self._drop_lanes(self.lanes)
        self.lanes = []

    def _noop_lanes(self, n: int) -> List[HostLane]:
        return self._lanes([NoopCompute(s) for s in self.slots[:n]], "noop")

    def _drop_lanes(self, lanes: List[HostLane]) -> None:
        for lane in lanes:
            lane.close()

    def _new_timeline(self, lanes: Sequence[HostLane]) -> None:
        origin = self.clock.now_ns()
        for lane in lanes:
            lane.origin = origin
