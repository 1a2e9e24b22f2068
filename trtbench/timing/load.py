"""Queries in flight: the closed-loop and open-loop schedulers, the same for every timer.

A **lane** is one slot (its own buffers and compute state) driven by a timer: ``issue()`` starts a query
now and returns at once, ``ready()`` says without blocking whether it has finished, ``wait()`` blocks until
it has, ``collect()`` returns its ``QueryTimes``: the three stage times, the host time of the compute call,
and its start (H2D start) and end (D2H end) on the lanes' common timeline, in milliseconds (CUDA events
against one reference event for GPU lanes, the host clock for thread lanes).

- **closed loop**, concurrency N: N queries always in flight. Each lane re-issues as soon as its query is
  collected; the lanes are visited in turn with a blocking wait each (as trtexec's ``--infStreams`` and
  ``bench/bare_trt_multistream.py`` do). A query's ``response`` is its end-to-end time under that load.
- **open loop**, request rate R: arrivals form a Poisson process (exponential gaps from ``random.Random(seed)``,
  so a seed gives the same arrivals everywhere). An arrival waits in a FIFO queue for a free lane. Its
  ``queue`` time is dispatch minus its *scheduled* arrival (so the harness's own lateness counts too) and its
  ``response`` time is queue + end-to-end: latency measured from the arrival, queueing included. Arrivals
  stop once both the minimum queries and the duration are reached; the backlog is then served, for at most
  ``drain_limit_s``; what is left is counted as ``unserved`` (never silently dropped).

Throughput is trtexec's: completed queries over the span from the first query's start to the last query's
end on the lanes' timeline (GPU time for CUDA lanes). The clock (``timing.clock``) is the schedulers' only
time source, so a fake clock drives every decision in the tests.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Any, Deque, Iterator, List, Optional, Protocol, Sequence, Tuple

from trtbench.timing.clock import SleepingClock
from trtbench.timing.samples import RawSamples

NS_PER_MS = 1e6
#: a variant whose throughput reaches this share of the harness ceiling is flagged harness_bound
HARNESS_BOUND_SHARE = 0.8
#: GPU load runs spin on their queries' end events whatever ``--spin-wait`` says: a blocking wait's wake-up
#: leaves its slot idle (93% of a bare spinning 4-stream loop blocking, 99.75% spinning, on an H200:
#: results/h200-2026-11-26b/m2/followup/load-compare and m3/load-compare)
GPU_LOAD_SPIN_WAIT = True
#: how long the no-op pass that measures the harness ceiling runs (and at least this many queries)
CEILING_S = 0.1
CEILING_MIN_QUERIES = 50


@dataclass(frozen=True)
class LoadPlan:
    """How one load measurement runs. ``rate`` None: closed loop; else open loop at ``rate`` arrivals/s."""

    concurrency: int
    warmup_s: float
    min_iterations: int
    min_duration_s: float
    max_iterations: int
    rate: Optional[float] = None
    seed: int = 0
    ceiling_s: float = CEILING_S  # 0: do not measure the harness ceiling
    poll_us: float = 20.0  # open loop: how often busy lanes are polled while no arrival is due
    drain_limit_s: float = 2.0  # open loop: how long the backlog is served after the last arrival

    def done(self, queries: int, elapsed_s: float) -> bool:
        if queries >= self.max_iterations:
            return True
        return queries >= self.min_iterations and elapsed_s >= self.min_duration_s


@dataclass(frozen=True)
class QueryTimes:
    h2d: float
    compute: float
    d2h: float
    enqueue: float  # host time of the compute call
    start: float  # H2D start on the lanes' timeline (ms)
    end: float  # D2H end on the lanes' timeline (ms)


class Lane(Protocol):
    def issue(self) -> None: ...

    def ready(self) -> bool: ...

    def wait(self) -> None: ...

    def collect(self) -> QueryTimes: ...


class NoopCompute:
    """A slot's copies with a compute stage that does nothing: how fast the harness alone goes."""

    def __init__(self, calls) -> None:
        self.h2d, self.d2h = calls.h2d, calls.d2h

    def compute(self, stream) -> None:
        pass


@dataclass
class LoopOutcome:
    times: List[QueryTimes] = field(default_factory=list)
    queue: List[float] = field(default_factory=list)  # ms per query, open loop only (same order as times)
    arrivals: int = 0
    unserved: int = 0
    host_wall_s: float = 0.0

    @property
    def span_s(self) -> float:
        if not self.times:
            return 0.0
        return (max(t.end for t in self.times) - min(t.start for t in self.times)) / 1e3

    @property
    def qps(self) -> float:
        span = self.span_s
        return len(self.times) / span if span > 0 else 0.0


def poisson_gaps(rate: float, seed: int) -> Iterator[int]:
    """Exponential inter-arrival gaps (ns) of a Poisson process at ``rate`` per second, seeded."""
    rng = random.Random(seed)
    while True:
        yield max(int(rng.expovariate(rate) * 1e9), 1)


def closed_loop(lanes: Sequence[Lane], plan: LoadPlan, clock: SleepingClock) -> LoopOutcome:
    """Every lane busy until ``plan.done``, then drained; the lanes are visited in turn."""
    now = clock.now_ns
    out = LoopOutcome()
    t0 = now()
    busy = [False] * len(lanes)
    issued = 0
    for i, lane in enumerate(lanes):
        if issued >= plan.max_iterations:
            break
        lane.issue()
        busy[i] = True
        issued += 1
    i, active = 0, issued
    while active:
        k = i % len(lanes)
        i += 1
        if not busy[k]:
            continue
        lanes[k].wait()
        out.times.append(lanes[k].collect())
        busy[k] = False
        active -= 1
        if not plan.done(issued, (now() - t0) / 1e9):
            lanes[k].issue()
            busy[k] = True
            issued += 1
            active += 1
    out.arrivals = issued
    out.host_wall_s = (now() - t0) / 1e9
    return out


def open_loop(lanes: Sequence[Lane], plan: LoadPlan, clock: SleepingClock) -> LoopOutcome:
    """Poisson arrivals at ``plan.rate`` into a FIFO queue served by ``lanes``."""
    if not plan.rate or plan.rate <= 0:
        raise ValueError("open_loop needs a positive request rate")
    now = clock.now_ns
    gaps = poisson_gaps(plan.rate, plan.seed)
    poll = max(int(plan.poll_us * 1e3), 1)
    drain_ns = int(plan.drain_limit_s * 1e9)
    out = LoopOutcome()
    free: Deque[Lane] = deque(lanes)
    busy: List[Tuple[Lane, int, int]] = []  # (lane, scheduled arrival, dispatch), in dispatch order
    pending: Deque[int] = deque()  # scheduled arrival times waiting for a lane
    t0 = now()
    next_arrival = t0 + next(gaps)
    accepting, stopped_at = True, 0
    while True:
        t = now()
        if busy:
            still = []
            for entry in busy:
                if entry[0].ready():
                    out.times.append(entry[0].collect())
                    out.queue.append((entry[2] - entry[1]) / NS_PER_MS)
                    free.append(entry[0])
                else:
                    still.append(entry)
            busy = still
        while accepting and next_arrival <= t:
            pending.append(next_arrival)
            out.arrivals += 1
            if plan.done(out.arrivals, (next_arrival - t0) / 1e9):
                accepting, stopped_at = False, t
            else:
                next_arrival += next(gaps)
        while pending and free:
            lane = free.popleft()
            arrival = pending.popleft()
            dispatch = now()
            lane.issue()
            busy.append((lane, arrival, dispatch))
        if not accepting:
            if pending and now() - stopped_at > drain_ns:  # overloaded: say how much was never served
                out.unserved += len(pending)
                pending.clear()
            if not pending and not busy:
                break
        wait = poll if busy else None
        if accepting:
            gap = next_arrival - now()
            wait = gap if wait is None else min(wait, gap)
        if wait is not None and wait > 0:
            clock.sleep_ns(wait)
    out.host_wall_s = (now() - t0) / 1e9
    return out


def to_samples(out: LoopOutcome, plan: LoadPlan, *, timer: str, compute_timing: str, data_transfers: bool,
               warmup_queries: int, ceiling_qps: Optional[float]) -> RawSamples:
    """A loop's queries as the raw samples every reader knows, plus the ``queue``/``response`` series and the
    ``load`` facts. ``walltime_s`` is the span, so ``queries / walltime_s`` is trtexec's throughput."""
    s = RawSamples(timer=timer, compute_timing=compute_timing, warmup_queries=warmup_queries)
    queue = out.queue if plan.rate is not None else [0.0] * len(out.times)
    for q, wait in zip(out.times, queue):
        e2e = q.end - q.start
        s.h2d.append(q.h2d)
        s.compute.append(q.compute)
        s.d2h.append(q.d2h)
        s.enqueue.append(q.enqueue)
        s.latency.append(q.h2d + q.compute + q.d2h)
        s.e2e.append(e2e)
        s.response.append(wait + e2e)
    if plan.rate is not None:
        s.queue = list(out.queue)
    if not data_transfers:
        s.h2d.clear()
        s.d2h.clear()
    s.walltime_s = out.span_s
    achieved = out.qps
    s.load = {"loop": "open" if plan.rate is not None else "closed", "concurrency": plan.concurrency,
              "offered_qps": plan.rate, "achieved_qps": achieved, "arrivals": out.arrivals,
              "completed": len(out.times), "unserved": out.unserved, "span_s": out.span_s,
              "host_wall_s": out.host_wall_s, "seed": plan.seed if plan.rate is not None else None,
              "harness_ceiling_qps": ceiling_qps,
              "harness_bound": bool(ceiling_qps and achieved >= HARNESS_BOUND_SHARE * ceiling_qps)}
    return s


class LoadTimer:
    """The part of a load timer that does not depend on where the lanes run: warm-up, the harness ceiling
    (the same loop over lanes whose compute is a no-op), then the measured closed or open loop.

    Subclasses make the lanes (``_open``/``_close``), lanes over the same slots with a no-op compute
    (``_noop_lanes``), and the common timeline's origin (``_new_timeline``, called with every lane idle).
    Used as a context manager: ``with timer: timer.measure(plan)`` (several measurements may follow).
    """

    name = "load"
    compute_timing = "eager"
    data_transfers = True

    def __init__(self, clock: SleepingClock) -> None:
        self.clock = clock
        self.lanes: List[Any] = []

    def __enter__(self) -> "LoadTimer":
        try:
            self._open()
        except BaseException:
            self._close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self._close()

    def _open(self) -> None:
        raise NotImplementedError

    def _close(self) -> None:
        raise NotImplementedError

    def _noop_lanes(self, n: int) -> List[Any]:
        raise NotImplementedError

    def _drop_lanes(self, lanes: List[Any]) -> None:
        raise NotImplementedError

    def _new_timeline(self, lanes: Sequence[Any]) -> None:
        raise NotImplementedError

    def ceiling(self, plan: LoadPlan) -> Optional[float]:
        """Completed queries per second of the closed loop with a no-op compute at ``plan.concurrency``."""
        if plan.ceiling_s <= 0:
            return None
        lanes = self._noop_lanes(plan.concurrency)
        try:
            self._new_timeline(lanes)
            quick = replace(plan, rate=None, min_iterations=CEILING_MIN_QUERIES, min_duration_s=plan.ceiling_s,
                            max_iterations=max(plan.max_iterations, CEILING_MIN_QUERIES))
            out = closed_loop(lanes, quick, self.clock)
        finally:
            self._drop_lanes(lanes)
        return out.qps or None

    def measure(self, plan: LoadPlan) -> RawSamples:
        lanes = self.lanes[:plan.concurrency]
        if len(lanes) < plan.concurrency:
            raise ValueError(f"{plan.concurrency} queries in flight need as many slots; the timer has {len(self.lanes)}")
        self._new_timeline(lanes)
        warm = closed_loop(lanes, replace(plan, rate=None, min_iterations=len(lanes), min_duration_s=plan.warmup_s,
                                          max_iterations=max(plan.max_iterations, len(lanes))), self.clock)
        ceiling = self.ceiling(plan)
        self._new_timeline(lanes)
        out = open_loop(lanes, plan, self.clock) if plan.rate is not None else closed_loop(lanes, plan, self.clock)
        loop = "open" if plan.rate is not None else "closed"
        return to_samples(out, plan, timer=f"{self.name}:{loop}:c{plan.concurrency}",
                          compute_timing=self.compute_timing, data_transfers=self.data_transfers,
                          warmup_queries=len(warm.times), ceiling_qps=ceiling)


__all__ = ["LoadPlan", "QueryTimes", "Lane", "LoopOutcome", "LoadTimer", "NoopCompute", "closed_loop", "open_loop",
           "poisson_gaps", "to_samples", "HARNESS_BOUND_SHARE"]
