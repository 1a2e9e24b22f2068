"""Raw per-query samples, as every stage timer produces them. Times are milliseconds."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Protocol

STAGES = ("h2d", "compute", "d2h")
#: every per-query series a timer records: the three stages, the host time of the compute enqueue call,
#: latency as trtexec defines it (h2d + compute + d2h) and end-to-end (H2D start to D2H end).
SERIES = STAGES + ("enqueue", "latency", "e2e")
#: the series only a load trial has (several queries in flight, or open-loop arrivals): ``queue``, the wait from
#: a query's scheduled arrival to its dispatch (open loop), and ``response``, scheduled arrival (closed loop:
#: issue) to D2H end, so queueing counts. Written to files only when measured.
LOAD_SERIES = ("queue", "response")


@dataclass
class RawSamples:
    h2d: List[float] = field(default_factory=list)
    compute: List[float] = field(default_factory=list)
    d2h: List[float] = field(default_factory=list)
    enqueue: List[float] = field(default_factory=list)
    latency: List[float] = field(default_factory=list)
    e2e: List[float] = field(default_factory=list)
    walltime_s: float = 0.0  # from the first measured query's start to the last one's end
    warmup_queries: int = 0
    timer: str = ""
    #: how the compute stage was timed: "graph", "eager", or "eager (graph fallback: why)"; "host" on a CPU
    compute_timing: str = "eager"
    #: a short eager pass (compute incl. launch, and the host's enqueue) when a CUDA graph timed compute
    eager: Optional["RawSamples"] = None
    queue: List[float] = field(default_factory=list)  # load trials only (LOAD_SERIES)
    response: List[float] = field(default_factory=list)
    #: load trials: concurrency, loop (closed/open), offered and achieved rates, GPU span, harness ceiling, ...
    load: Optional[Dict[str, Any]] = None

    @property
    def queries(self) -> int:
        return len(self.compute)

    def series(self) -> Dict[str, List[float]]:
        out = {name: getattr(self, name) for name in SERIES}
        out.update({name: getattr(self, name) for name in LOAD_SERIES if getattr(self, name)})
        return out

    def to_dict(self) -> dict:
        d = {name: [round(x, 6) for x in values] for name, values in self.series().items()}
        d.update(walltime_s=self.walltime_s, queries=self.queries, warmup_queries=self.warmup_queries,
                 timer=self.timer)
        if self.load is not None:
            d["load"] = dict(self.load)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "RawSamples":
        return cls(**{n: list(d.get(n) or []) for n in SERIES + LOAD_SERIES}, walltime_s=d.get("walltime_s", 0.0),
                   warmup_queries=d.get("warmup_queries", 0), timer=d.get("timer", ""),
                   load=dict(d["load"]) if isinstance(d.get("load"), dict) else None)


class StageCalls(Protocol):
    """What a bound backend offers a timer. ``stream`` is a CUDA stream handle, or None on the host."""

    def h2d(self, stream) -> None: ...

    def compute(self, stream) -> None: ...

    def d2h(self, stream) -> None: ...


@dataclass(frozen=True)
class LoopPlan:
    warmup_s: float
    min_iterations: int
    min_duration_s: float
    max_iterations: int
    data_transfers: bool = True
    cold: bool = False  # flush caches and rotate host inputs before each query, outside the timed window

    def done(self, queries: int, elapsed_s: float) -> bool:
        if queries >= self.max_iterations:
            return True
        return queries >= self.min_iterations and elapsed_s >= self.min_duration_s


class StageTimer(Protocol):
    name: str

    def run(self, calls: StageCalls, plan: LoopPlan) -> RawSamples: ...
