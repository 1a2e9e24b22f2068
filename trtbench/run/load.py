"""One trial of a variant under load: queries in flight (closed loop), open-loop arrivals, or the latency-budget
search. The backend opens one slot per query in flight and gives the timer that fits where it runs (CUDA
events on a GPU, threads on the host); the timer's ``measure`` does the rest (``timing.load``).

Seeds: the arrivals of trial ``k``, probe ``p`` come from ``random.Random(f"{seed}:{k}:{p}")`` with
``RunSettings.seed``, recorded with the trial; two variants measured with the same seed see the same
arrival pattern at the same rate.
"""

from __future__ import annotations

import random
from dataclasses import replace
from typing import Optional

from trtbench.config.settings import RunSettings
from trtbench.matrix.spec import Variant
from trtbench.run.search import search
from trtbench.timing.load import HARNESS_BOUND_SHARE, LoadPlan
from trtbench.timing.samples import RawSamples

#: warm-up before each probe of a budget search after the first (the lanes are warm already)
PROBE_WARMUP_S = 0.05


def arrival_seed(settings: RunSettings, trial: int, probe: int = 0) -> int:
    return random.Random(f"{settings.seed}:{trial}:{probe}").randrange(1 << 31)


def load_plan(settings: RunSettings, variant: Variant, trial: int, rate: Optional[float] = None,
              probe: int = 0) -> LoadPlan:
    return LoadPlan(concurrency=variant.concurrency, warmup_s=settings.warmup_ms / 1000.0,
                    min_iterations=settings.iterations, min_duration_s=settings.duration_s,
                    max_iterations=max(settings.max_iterations, settings.iterations), rate=rate,
                    seed=arrival_seed(settings, trial, probe), drain_limit_s=max(2.0, 2 * settings.duration_s))


def measure_load(backend, settings: RunSettings, trial: int) -> RawSamples:
    """The raw samples of one load trial of ``backend``'s variant (see the module docstring)."""
    v = backend.variant
    slots = backend.open_slots(v.concurrency)
    with backend.load_timer(slots) as timer:
        if v.latency_budget_ms is None:
            return timer.measure(load_plan(settings, v, trial, v.request_rate))
        closed = timer.measure(load_plan(settings, v, trial))
        capacity = float((closed.load or {}).get("achieved_qps") or 0.0)
        count = [0]

        def probe(rate: float) -> RawSamples:
            count[0] += 1
            plan = load_plan(settings, v, trial, rate, probe=count[0])
            return timer.measure(replace(plan, warmup_s=min(plan.warmup_s, PROBE_WARMUP_S), ceiling_s=0.0))

        found = search(probe, v.latency_budget_ms, capacity)
        samples = found.samples or closed
        load = dict(samples.load or {})
        load.update(loop="budget", harness_ceiling_qps=(closed.load or {}).get("harness_ceiling_qps"),
                    search=found.to_dict())
        ceiling = load["harness_ceiling_qps"]
        load["harness_bound"] = bool(ceiling and load.get("achieved_qps", 0) >= HARNESS_BOUND_SHARE * ceiling)
        samples.load = load
        samples.timer = samples.timer.replace(":open:", ":budget:")
        return samples
