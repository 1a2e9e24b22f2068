"""The latency-budget search: the highest request rate whose p99 latency stays within a budget.

A bounded search, like perf_analyzer's, over open-loop request rates at the variant's concurrency; every
probe is a short open-loop run, and latency is measured from each query's scheduled arrival (queueing
counts). With ``X`` the closed-loop throughput at that concurrency (the capacity, measured first):

1. probe ``LIGHT_SHARE * X`` (light load). If its p99 is already above the budget, no rate meets it: the
   answer is **not reachable** (the budget is below what one query costs at this concurrency), said with
   the measured p99; never an error.
2. probe ``TOP_SHARE * X``. If it meets the budget, it is the answer (an open loop at or above capacity
   queues without bound, so nothing higher can be sustained).
3. otherwise bisect between the highest rate that met the budget and the lowest that did not, for the
   remaining probes (``STEPS`` in all), and answer the highest rate that met it.

A probe meets the budget when its p99 response time (arrival to D2H end) is at or below the budget and
every arrival was served. The record names every probe (offered and achieved rate, p50, p99, queries) and
the bracket left at the end, so what was searched is explicit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, List, Optional

from trtbench.timing.samples import RawSamples
from trtbench.timing.stats import median, nearest_rank

LIGHT_SHARE = 0.1
TOP_SHARE = 0.95
STEPS = 7  # probes in all: light, top, then five bisections (the bracket ends at about 3% of the capacity)


@dataclass(frozen=True)
class Probe:
    rate: float  # offered arrivals per second
    achieved: float  # completed queries per second over the span
    p50: float  # response time (ms), arrival to D2H end
    p99: float
    queries: int
    unserved: int
    budget_ms: float

    @property
    def passed(self) -> bool:
        return self.p99 <= self.budget_ms and self.unserved == 0

    @classmethod
    def of(cls, rate: float, samples: RawSamples, budget_ms: float) -> "Probe":
        xs = sorted(samples.response)
        load = samples.load or {}
        return cls(rate, float(load.get("achieved_qps") or 0.0), median(xs) if xs else float("inf"),
                   nearest_rank(xs, 99) if xs else float("inf"), len(xs), int(load.get("unserved") or 0), budget_ms)

    def to_dict(self) -> dict:
        return {"offered_qps": self.rate, "achieved_qps": self.achieved, "p50_ms": self.p50, "p99_ms": self.p99,
                "queries": self.queries, "unserved": self.unserved, "within_budget": self.passed}


@dataclass
class SearchResult:
    budget_ms: float
    capacity_qps: float
    probes: List[Probe] = field(default_factory=list)
    answer: Optional[Probe] = None  # the highest probe that met the budget
    not_met_above: Optional[float] = None  # the lowest rate that did not (the bracket's top)
    samples: Optional[RawSamples] = None  # the answer's (or, when not reachable, the light probe's) samples

    @property
    def reachable(self) -> bool:
        return self.answer is not None

    @property
    def reason(self) -> str:
        if self.answer is not None:
            return (f"{self.answer.rate:.1f} q/s offered ({self.answer.achieved:.1f} achieved) keeps p99 at "
                    f"{self.answer.p99:.3f} ms within the {self.budget_ms:g} ms budget")
        light = self.probes[0] if self.probes else None
        if light is None:
            return "not reachable: no probe ran (the closed loop measured no throughput)"
        return (f"not reachable: p99 {light.p99:.3f} ms already at light load ({light.rate:.1f} q/s, "
                f"{LIGHT_SHARE:.0%} of the {self.capacity_qps:.1f} q/s capacity) is above the {self.budget_ms:g} ms "
                f"budget")

    def to_dict(self) -> dict:
        return {"budget_ms": self.budget_ms, "capacity_qps": self.capacity_qps, "reachable": self.reachable,
                "answer_qps": self.answer.rate if self.answer else None,
                "answer_achieved_qps": self.answer.achieved if self.answer else None,
                "answer_p99_ms": self.answer.p99 if self.answer else None,
                "not_met_above_qps": self.not_met_above, "reason": self.reason,
                "probes": [p.to_dict() for p in self.probes],
                "method": f"bounded search of {STEPS} open-loop probes: {LIGHT_SHARE:g} and {TOP_SHARE:g} x the "
                          f"closed-loop capacity, then bisection; a probe meets the budget when its p99 response "
                          f"time (scheduled arrival to D2H end) is within it and every arrival was served"}


def search(probe: Callable[[float], RawSamples], budget_ms: float, capacity_qps: float,
           steps: int = STEPS) -> SearchResult:
    """Run the search with ``probe(rate) -> samples`` (one open-loop measurement at ``rate``)."""
    result = SearchResult(budget_ms, capacity_qps)
    if capacity_qps <= 0:
        return result

    def run(rate: float) -> Probe:
        samples = probe(rate)
        p = Probe.of(rate, samples, budget_ms)
        result.probes.append(p)
        if p.passed and (result.answer is None or rate > result.answer.rate):
            result.answer, result.samples = p, samples
        elif not p.passed and (result.not_met_above is None or rate < result.not_met_above):
            result.not_met_above = rate
        if result.samples is None:
            result.samples = samples
        return p

    lo = run(LIGHT_SHARE * capacity_qps)
    if not lo.passed:
        return result
    hi = run(TOP_SHARE * capacity_qps)
    if hi.passed:
        return result
    low, high = lo.rate, hi.rate
    for _ in range(max(steps - 2, 0)):
        mid = (low + high) / 2.0
        if run(mid).passed:
            low = mid
        else:
            high = mid
    return result
