"""The one typed record of a measured variant, in the spirit of torch.utils.benchmark's ``Measurement``.

spec -> backend -> timer -> **record** -> report/gate: the run session builds a ``VariantRecord`` from the
variant's spec, what its backend reported, and its trials; every reader (summary, report, gate, ab,
pytest plugin) reads these objects, never the JSON's nested dicts. ``to_dict``/``from_dict`` are the
only places that know the file layout (schema version 2; version 1 files, which had one sample set per
variant, load as one trial).

A **trial** is one warm-up plus one measured loop of a variant, possibly in its own process. Its raw
per-query samples are kept; statistics are derived from them. A variant's **headline** figure of a
series is the median over its trials of the trial medians, with the between-trial spread beside it:
the spread between trials (processes) is what a second run will see, the spread inside one trial is not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace
from typing import Any, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from trtbench.errors import UserError
from trtbench.matrix.spec import Variant
from trtbench.timing.samples import LOAD_SERIES, SERIES, RawSamples
from trtbench.timing.stats import describe, median_of

#: per-trial statistics a headline is taken over (median of the trials' values)
HEADLINE_STATS = ("median", "mean", "min", "p90", "p95", "p99")


class DamagedResults(UserError):
    """A results file holds something no measurement can produce (a null or negative sample, ...)."""


def _finite(x: Any) -> bool:
    if not isinstance(x, (int, float)) or isinstance(x, bool):
        return False
    try:
        return math.isfinite(x)
    except OverflowError:  # an integer beyond any float
        return False


def _all_times(values: list) -> bool:
    """Every value a finite number >= 0 (no bool, no null, no string): the fast check of a whole series."""
    if not values:
        return True
    if not set(map(type, values)) <= {float, int}:
        return False
    try:
        a = np.asarray(values, dtype=np.float64)
    except OverflowError:
        return False
    return bool(np.isfinite(a).all() and (a >= 0).all())


@dataclass(frozen=True)
class Stats:
    """``timing.stats.describe`` of one series, typed. Times in milliseconds."""

    n: int
    min: float = math.nan
    max: float = math.nan
    mean: float = math.nan
    std: float = math.nan
    median: float = math.nan
    p25: float = math.nan
    p75: float = math.nan
    iqr: float = math.nan
    cv: float = math.nan
    p90: float = math.nan
    p95: float = math.nan
    p99: float = math.nan

    @classmethod
    def of(cls, values: Sequence[float]) -> "Stats":
        return cls(**describe(values))

    def get(self, key: str) -> float:
        return getattr(self, "median" if key == "p50" else key)

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name == "n" or math.isfinite(getattr(self, f.name))}

    @classmethod
    def from_dict(cls, d: Mapping) -> "Stats":
        known = {f.name for f in fields(cls)}
        return cls(**{k: (int(v) if k == "n" else float(v)) for k, v in d.items() if k in known and v is not None})


@dataclass(frozen=True)
class Telemetry:
    """What NVML saw during one trial's window (clocks and throttling are recorded, never controlled)."""

    samples: int
    sm_clock_mhz: Optional[float] = None  # mean
    min_sm_clock_mhz: Optional[float] = None
    mem_clock_mhz: Optional[float] = None
    max_temp_c: Optional[float] = None
    mean_power_w: Optional[float] = None
    throttle_reasons: Tuple[str, ...] = ()
    throttled: bool = False

    def to_dict(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["throttle_reasons"] = list(self.throttle_reasons)
        return d

    @classmethod
    def from_dict(cls, d: Mapping) -> "Telemetry":
        known = {f.name for f in fields(cls)}
        kw = {k: v for k, v in d.items() if k in known}
        kw["throttle_reasons"] = tuple(kw.get("throttle_reasons") or ())
        return cls(**kw)


@dataclass(frozen=True)
class Trial:
    """One warm-up + measured loop of a variant."""

    index: int  # the variant's trial number, from 0
    round: int  # the round of the protocol it ran in
    position: int  # its place in that round's (shuffled) order
    process: str  # "worker pid N" or "inline"
    reloaded: bool  # the backend was loaded for this trial (always with process isolation)
    started: float  # time.monotonic() seconds (system-wide clock, comparable across processes)
    ended: float
    samples: RawSamples
    stats: Mapping[str, Stats]  # per series, derived from ``samples``
    compute_timing: str  # "graph", "eager", "eager (graph fallback: reason)", or "graph (launch gate | in-graph
    #                      events unavailable: reason)"
    eager: Optional[Mapping[str, Stats]] = None  # compute/enqueue of a short eager pass, when a graph timed compute
    telemetry: Optional[Telemetry] = None
    flags: Tuple[str, ...] = ()

    @classmethod
    def measured(cls, samples: RawSamples, **kw) -> "Trial":
        stats = {name: Stats.of(values) for name, values in samples.series().items() if len(values)}
        return cls(samples=samples, stats=stats, **kw)

    @property
    def queries_per_s(self) -> float:
        # a trial from pytest-benchmark JSON carries its statistics without the samples: count from those
        n = self.samples.queries or (self.stats["compute"].n if "compute" in self.stats else 0)
        return n / self.samples.walltime_s if self.samples.walltime_s > 0 else 0.0

    def value(self, series: str, stat: str = "median") -> Optional[float]:
        s = self.stats.get(series)
        return s.get(stat) if s is not None and s.n else None

    def to_dict(self) -> dict:
        return {"index": self.index, "round": self.round, "position": self.position, "process": self.process,
                "reloaded": self.reloaded, "started": self.started, "ended": self.ended,
                "samples": self.samples.to_dict(), "stats": {k: v.to_dict() for k, v in self.stats.items()},
                "compute_timing": self.compute_timing,
                "eager": {k: v.to_dict() for k, v in self.eager.items()} if self.eager else None,
                "telemetry": self.telemetry.to_dict() if self.telemetry else None, "flags": list(self.flags)}

    @classmethod
    def from_dict(cls, d: Mapping, where: str = "trial") -> "Trial":
        samples = checked_samples(d.get("samples") or {}, where)
        stats = {k: Stats.from_dict(v) for k, v in (d.get("stats") or {}).items()}
        if samples.queries and not stats:
            stats = {name: Stats.of(values) for name, values in samples.series().items() if len(values)}
        eager = d.get("eager")
        tel = d.get("telemetry")
        return cls(int(d.get("index", 0)), int(d.get("round", 0)), int(d.get("position", 0)), str(d.get("process", "")),
                   bool(d.get("reloaded", True)), float(d.get("started") or 0.0), float(d.get("ended") or 0.0),
                   samples, stats, str(d.get("compute_timing") or "eager"),
                   {k: Stats.from_dict(v) for k, v in eager.items()} if eager else None,
                   Telemetry.from_dict(tel) if tel else None, tuple(d.get("flags") or ()))


def checked_samples(d: Mapping, where: str) -> RawSamples:
    """Samples from a file, fail-closed: every sample must be a finite, non-negative number (the writer
    stores non-finite values as null, and a hand-edited file can hold anything)."""
    if not isinstance(d, Mapping):
        raise DamagedResults(f"{where}: samples must be an object of series, got {type(d).__name__}: the file is damaged")
    for name in SERIES + LOAD_SERIES:
        values = d.get(name, [])
        if values is None:  # an absent series; the writer never stores null for one
            values = []
        if not isinstance(values, list):
            raise DamagedResults(f"{where}: series {name} is not a list: the file is damaged; re-run the benchmark")
        if _all_times(values):
            continue
        for i, x in enumerate(values):  # something is wrong: find the first bad sample, for the message
            if not _finite(x) or x < 0:
                raise DamagedResults(f"{where}: {name} sample {i} is {repr(x)[:40]}, not a finite time >= 0: the file is damaged "
                                     f"or was edited; re-run the benchmark")
    wall = d.get("walltime_s", 0.0)
    if not _finite(wall) or wall < 0:
        raise DamagedResults(f"{where}: walltime_s is {repr(wall)[:40]}: the file is damaged; re-run the benchmark")
    return RawSamples.from_dict(d)


@dataclass(frozen=True)
class Headline:
    """One series of a variant over its trials."""

    value: float  # median over trials of the trial medians
    spread: float  # coefficient of variation of the trial medians (0 with one trial)
    low: float  # smallest trial median
    high: float  # largest trial median
    trials: int
    stats: Mapping[str, float] = field(default_factory=dict)  # HEADLINE_STATS: median over trials of each

    @classmethod
    def over(cls, trials: Sequence[Trial], series: str) -> Optional["Headline"]:
        meds = [t.value(series) for t in trials]
        meds = [m for m in meds if m is not None]
        if not meds:
            return None
        stats = {}
        for key in HEADLINE_STATS:
            vals = [t.value(series, key) for t in trials]
            vals = [v for v in vals if v is not None]
            if vals:
                stats[key] = median_of(vals)
        mean = sum(meds) / len(meds)
        sd = math.sqrt(sum((m - mean) ** 2 for m in meds) / (len(meds) - 1)) if len(meds) > 1 else 0.0
        return cls(median_of(meds), sd / mean if mean > 0 else 0.0, min(meds), max(meds), len(meds), stats)

    def get(self, stat: str) -> Optional[float]:
        return self.stats.get("median" if stat == "p50" else stat)

    def to_dict(self) -> dict:
        return {"value": self.value, "spread": self.spread, "low": self.low, "high": self.high, "trials": self.trials,
                "stats": dict(self.stats)}


@dataclass(frozen=True)
class VariantRecord:
    """Everything known about one variant of a run: spec, outcome, backend facts, trials, derived figures."""

    variant: Variant
    id: str  # the key reports and gates pair on (the variant's id; in ``ab``, B's records take A's ids)
    status: str  # ok | failed | skipped
    reason: Optional[str] = None
    error: Optional[Mapping] = None
    shapes: Mapping = field(default_factory=dict)
    backend: Mapping = field(default_factory=dict)  # facts: build time, engine size, versions, precision method...
    timing: Mapping = field(default_factory=dict)  # the timing options in force
    trials: Tuple[Trial, ...] = ()
    planned_trials: int = 0
    quality: Tuple[str, ...] = ()
    nvml: Optional[Mapping] = None  # {"summary": ..., "series": ...} over the variant's trial windows
    accuracy: Optional[Mapping] = None
    artifacts: Optional[Mapping] = None
    started: Optional[str] = None
    duration_s: float = 0.0
    extra: Mapping = field(default_factory=dict)  # e.g. {"ab_side": "B", "ab_original_id": ...}

    # ---- derived ------------------------------------------------------------------------------
    @property
    def ok(self) -> bool:
        return self.status == "ok" and bool(self.trials)

    @property
    def complete(self) -> bool:
        return len(self.trials) >= self.planned_trials

    def headline(self, series: str) -> Optional[Headline]:
        return Headline.over(self.trials, series)

    def trial_values(self, series: str, stat: str = "median") -> List[float]:
        """One value per trial (the per-trial statistic): the unit a gate compares."""
        vals = [t.value(series, stat) for t in self.trials]
        return [v for v in vals if v is not None]

    def pooled(self, series: str) -> List[float]:
        return [x for t in self.trials for x in getattr(t.samples, series)]

    @property
    def inferences_per_s(self) -> Optional[float]:
        qps = [t.queries_per_s for t in self.trials if t.queries_per_s > 0]
        return median_of(qps) * self.variant.batch if qps else None

    @property
    def queries_per_s(self) -> Optional[float]:
        qps = [t.queries_per_s for t in self.trials if t.queries_per_s > 0]
        return median_of(qps) if qps else None

    @property
    def nvml_summary(self) -> Mapping:
        return (self.nvml or {}).get("summary") or {}

    def with_trials(self, trials: Sequence[Trial]) -> "VariantRecord":
        return replace(self, trials=tuple(sorted(trials, key=lambda t: t.index)))

    # ---- serialization ------------------------------------------------------------------------
    def to_dict(self) -> dict:
        d = {"id": self.id, "variant": self.variant.to_dict(), "status": self.status, "reason": self.reason,
             "error": dict(self.error) if self.error else None, "shapes": dict(self.shapes),
             "backend": dict(self.backend), "timing": dict(self.timing), "planned_trials": self.planned_trials,
             "trials": [t.to_dict() for t in self.trials], "quality": list(self.quality),
             "nvml": dict(self.nvml) if self.nvml else None,
             "accuracy": dict(self.accuracy) if self.accuracy else None,
             "artifacts": dict(self.artifacts) if self.artifacts else None, "started": self.started,
             "duration_s": self.duration_s, "extra": dict(self.extra)}
        if self.ok:  # derived, for people reading the file (readers recompute from the trials)
            d["summary"] = {s: h.to_dict() for s in SERIES + LOAD_SERIES for h in [self.headline(s)] if h is not None}
            d["throughput"] = {"queries_per_s": self.queries_per_s, "inferences_per_s": self.inferences_per_s}
        return d

    @classmethod
    def from_dict(cls, d: Mapping, where: str = "record") -> "VariantRecord":
        if not isinstance(d, Mapping):
            raise DamagedResults(f"{where} is not an object: the file is damaged")
        variant = Variant.from_dict(d["variant"])
        vid = str(d.get("id") or d["variant"].get("id") or variant.id)
        where = f"{where} {vid}"
        if "trials" in d:
            trials = tuple(Trial.from_dict(t, f"{where} trial {i}") for i, t in enumerate(d.get("trials") or ()))
            planned = int(d.get("planned_trials") or len(trials))
        elif d.get("samples"):  # schema version 1: one sample set per variant = one trial
            s = checked_samples(d["samples"], where)
            trials = (Trial.measured(s, index=0, round=0, position=0, process="v1", reloaded=True, started=0.0,
                                     ended=0.0, compute_timing=_v1_timing(d.get("timing") or {})),)
            planned = 1
        else:  # a schema-2 record line: its trials are separate lines, its planned count is here
            trials, planned = (), int(d.get("planned_trials") or 0)
        return cls(variant, vid, str(d["status"]), d.get("reason"), d.get("error"), d.get("shapes") or {},
                   d.get("backend") or {}, d.get("timing") or {}, trials, planned, tuple(d.get("quality") or ()),
                   d.get("nvml"), d.get("accuracy"), d.get("artifacts"), d.get("started"),
                   float(d.get("duration_s") or 0.0), d.get("extra") or {k: d[k] for k in ("ab_original_id",) if k in d})


def _v1_timing(timing: Mapping) -> str:
    return "graph" if timing.get("cuda_graph") else "eager"


def failed_record(variant: Variant, status: str, reason: str, error: Optional[Mapping] = None,
                  vid: Optional[str] = None, **kw) -> VariantRecord:
    return VariantRecord(variant, vid or variant.id, status, reason, error, **kw)
