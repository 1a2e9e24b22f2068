"""Stage timing with a host clock, for backends whose stages are synchronous (CPU runtimes)."""

from __future__ import annotations

import os
from typing import Optional

import numpy as np

from trtbench.timing.clock import Clock, PerfCounterClock
from trtbench.timing.samples import LoopPlan, RawSamples, StageCalls

NS_PER_MS = 1e6


def last_level_cache_bytes() -> int:
    """The CPU's last-level cache size from sysfs (64 MiB when it cannot be read)."""
    base = "/sys/devices/system/cpu/cpu0/cache"
    best = 0
    try:
        for entry in os.listdir(base):
            try:
                with open(os.path.join(base, entry, "size"), encoding="ascii") as f:
                    text = f.read().strip().upper()
            except OSError:
                continue
            unit = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:], 1)
            digits = text[:-1] if text[-1:] in "KMG" else text
            if digits.isdigit():
                best = max(best, int(digits) * unit)
    except OSError:
        pass
    return best or 64 << 20


class HostStageTimer:
    """Times each synchronous stage call with ``clock``. Enqueue time equals compute time here: the
    compute call returns when the work is done. ``cold``: before each query (untimed) a buffer of twice
    the last-level cache is written, and the backend's host inputs rotate when it can."""

    name = "host"

    def __init__(self, clock: Optional[Clock] = None) -> None:
        self.clock = clock or PerfCounterClock()

    def run(self, calls: StageCalls, plan: LoopPlan) -> RawSamples:
        now = self.clock.now_ns
        s = RawSamples(timer=f"host:{getattr(self.clock, 'name', type(self.clock).__name__)}"
                             f"{':cold' if plan.cold else ''}", compute_timing="host")
        transfers = plan.data_transfers
        flush = np.zeros(2 * last_level_cache_bytes() // 8) if plan.cold else None
        rotate = getattr(calls, "next_inputs", None) if plan.cold else None
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
            if flush is not None:  # untimed: evict the caches before the query
                flush += 1.0
                if rotate is not None:
                    rotate()
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
        if not transfers:  # no copies ran: no H2D/D2H figures (not ~0 ms ones)
            s.h2d.clear()
            s.d2h.clear()
        return s
