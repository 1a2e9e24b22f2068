"""Stage timing with a host clock, for backends whose stages are synchronous (CPU runtimes)."""

from __future__ import annotations

from typing import Optional

from trtbench.timing.clock import Clock, PerfCounterClock
from trtbench.timing.samples import LoopPlan, RawSamples, StageCalls

NS_PER_MS = 1e6


class HostStageTimer:
    """Times each synchronous stage call with ``clock``. Enqueue time equals compute time here: the
    compute call returns when the work is done."""

    name = "host"

    def __init__(self, clock: Optional[Clock] = None) -> None:
        self.clock = clock or PerfCounterClock()

    def run(self, calls: StageCalls, plan: LoopPlan) -> RawSamples:
        now = self.clock.now_ns
        s = RawSamples(timer=f"host:{getattr(self.clock, 'name', type(self.clock).__name__)}")
        transfers = plan.data_transfers
        start = now()
        while (now() - start) / 1e9 < plan.warmup_s or s.warmup_queries == 0:
            if transfers:
                calls.h2d(None)
            calls.compute(None)
            if transfers:
                calls.d2h(None)
            s.warmup_queries += 1
        first = now()
        last = first
        while not plan.done(s.queries, (last - first) / 1e9):
            a = now()
            if transfers:
                calls.h2d(None)
            b = now()
            calls.compute(None)
            c = now()
            if transfers:
                calls.d2h(None)
            d = now()
            h2d, comp, d2h = (b - a) / NS_PER_MS, (c - b) / NS_PER_MS, (d - c) / NS_PER_MS
            s.h2d.append(h2d)
            s.compute.append(comp)
            s.d2h.append(d2h)
            s.enqueue.append(comp)
            s.latency.append(h2d + comp + d2h)
            s.e2e.append((d - a) / NS_PER_MS)
            last = d
        s.walltime_s = (last - first) / 1e9
        return s
