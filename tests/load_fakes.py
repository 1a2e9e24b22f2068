"""Fakes for the load scheduler's logic: a clock that moves only when told, and lanes whose queries take a
fixed service time on it. They test *our* scheduling, queueing and search logic; they are never evidence
that a GPU, a runtime or a thread does anything."""

from __future__ import annotations

from typing import List, Optional

from trtbench.timing.load import LoadTimer, QueryTimes


class FakeTimeline:
    """A clock at ``t`` ns: ``now_ns`` reads it, ``sleep_ns`` and ``advance_to`` move it (never backwards)."""

    name = "fake-timeline"

    def __init__(self) -> None:
        self.t = 1_000_000_000
        self.sleeps = 0

    def now_ns(self) -> int:
        return self.t

    def sleep_ns(self, ns: int) -> None:
        self.sleeps += 1
        self.t += int(ns)

    def advance_to(self, t: int) -> None:
        self.t = max(self.t, int(t))


class FakeDevice:
    """One server shared by lanes: queries run one at a time in issue order (a GPU that is the bottleneck)."""

    def __init__(self) -> None:
        self.free_at = 0


class FakeLane:
    """A query issued at ``t`` ends at ``t + service`` (its own server), or after the queries already on a shared
    ``FakeDevice``. ``issued`` keeps every issue time, for checks."""

    def __init__(self, clock: FakeTimeline, service_ms: float, device: Optional[FakeDevice] = None) -> None:
        self.clock, self.service = clock, int(service_ms * 1e6)
        self.device = device
        self.origin = 0
        self.issued: List[int] = []
        self._start = self._end = 0
        self.busy = False

    def issue(self) -> None:
        assert not self.busy, "a lane was issued while its query was in flight"
        t = self.clock.now_ns()
        self.issued.append(t)
        begin = t if self.device is None else max(t, self.device.free_at)
        self._start, self._end = t, begin + self.service
        if self.device is not None:
            self.device.free_at = self._end
        self.busy = True

    def ready(self) -> bool:
        return self.clock.now_ns() >= self._end

    def wait(self) -> None:
        self.clock.advance_to(self._end)

    def collect(self) -> QueryTimes:
        assert self.clock.now_ns() >= self._end, "collected before the query ended"
        self.busy = False
        ms = self.service / 1e6
        return QueryTimes(0.0, ms, 0.0, 0.001, (self._start - self.origin) / 1e6, (self._end - self.origin) / 1e6)


class FakeLoadTimer(LoadTimer):
    """``LoadTimer`` over fake lanes: ``service_ms`` per query, ``noop_ms`` per query of the no-op pass (the
    harness's own cost), on one shared device or on independent servers."""

    name = "load:fake"

    def __init__(self, slots: int, service_ms: float, noop_ms: float, shared: bool = False,
                 clock: Optional[FakeTimeline] = None) -> None:
        super().__init__(clock or FakeTimeline())
        self.n, self.service_ms, self.noop_ms, self.shared = slots, service_ms, noop_ms, shared
        self.opened = self.closed = 0

    def _lanes(self, n: int, ms: float) -> List[FakeLane]:
        device = FakeDevice() if self.shared else None
        return [FakeLane(self.clock, ms, device) for _ in range(n)]

    def _open(self) -> None:
        self.opened += 1
        self.lanes = self._lanes(self.n, self.service_ms)

    def _close(self) -> None:
        self.closed += 1
        self.lanes = []

    def _noop_lanes(self, n: int) -> List[FakeLane]:
        return self._lanes(n, self.noop_ms)

    def _drop_lanes(self, lanes) -> None:
        pass

    def _new_timeline(self, lanes) -> None:
        for lane in lanes:
            assert not lane.busy
            lane.origin = self.clock.now_ns()


class FakeLoadBackend:
    """What ``run.load.measure_load`` asks of a backend: its variant, slots and a load timer."""

    def __init__(self, variant, timer: FakeLoadTimer) -> None:
        self.variant, self.timer = variant, timer

    def open_slots(self, n: int) -> List[int]:
        return list(range(n))

    def load_timer(self, slots) -> FakeLoadTimer:
        assert len(slots) == self.variant.concurrency
        return self.timer
