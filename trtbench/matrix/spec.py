"""A variant is data: a frozen, hashable spec that keys caching, grouping, reports and gates.

Nothing in this module touches a model file, a runtime or a GPU.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Tuple

from trtbench.matrix.axes import BUILD_MODES, PRECISIONS  # noqa: F401 - re-exported: the spec names its axes
from trtbench.models.loading import ModelSource

Shape = Tuple[int, ...]


@dataclass(frozen=True)
class InputRange:
    """min/opt/max shapes of one input in an optimization profile."""

    name: str
    min: Shape
    opt: Shape
    max: Shape


@dataclass(frozen=True)
class ShapeProfile:
    """A named min/opt/max set. Either ``batch`` (the batch dim of the inputs that have one; ``dims`` gives the
    min/opt/max of swept named dims such as ``seq``; other dims come from the model or the variant) or ``inputs``
    (full shapes per input, trtexec's --minShapes/--optShapes/--maxShapes)."""

    name: str
    batch: Optional[Tuple[int, int, int]] = None
    inputs: Tuple[InputRange, ...] = ()
    dims: Tuple[Tuple[str, Tuple[int, int, int]], ...] = ()  # named dim -> (min, opt, max), batch profiles only

    def dim_range(self, name: str) -> Optional[Tuple[int, int, int]]:
        return next((r for n, r in self.dims if n == name), None)

    def batch_range(self) -> Optional[Tuple[int, int, int]]:
        """The batch's min/opt/max: a batch profile's, or the first-dim range every per-input range agrees on.
        None when they differ (independent first dims, a bias vector beside the batched inputs): then only the
        model says which inputs have the batch, and ``backends.prepare`` checks the batch against those."""
        if self.batch is not None:
            return self.batch
        firsts = {(r.min[0], r.opt[0], r.max[0]) for r in self.inputs if r.min}
        return firsts.pop() if len(firsts) == 1 else None

    def describe(self) -> str:
        if self.batch is not None:
            return "; ".join([f"batch {self.batch[0]}/{self.batch[1]}/{self.batch[2]}"] +
                             [f"{n} {lo}/{opt}/{hi}" for n, (lo, opt, hi) in self.dims])
        return "; ".join(f"{r.name} {_x(r.min)}/{_x(r.opt)}/{_x(r.max)}" for r in self.inputs)

    def to_dict(self) -> dict:
        return {"name": self.name, "batch": list(self.batch) if self.batch else None,
                "inputs": [{"name": r.name, "min": list(r.min), "opt": list(r.opt), "max": list(r.max)}
                           for r in self.inputs], "dims": {n: list(r) for n, r in self.dims}}

    @classmethod
    def from_dict(cls, d: dict) -> "ShapeProfile":
        return cls(d["name"], tuple(d["batch"]) if d.get("batch") else None,
                   tuple(InputRange(r["name"], tuple(r["min"]), tuple(r["opt"]), tuple(r["max"]))
                         for r in d.get("inputs") or ()),
                   tuple((str(n), tuple(int(x) for x in r)) for n, r in (d.get("dims") or {}).items()))


def _x(shape: Shape) -> str:
    return "x".join(map(str, shape))


@dataclass(frozen=True)
class Variant:
    """One point of the matrix. ``id`` is stable and readable: ``resnet-onnxruntime-fp32-explicit-dyn-b8``;
    with a swept dynamic dimension ``...-dyn-seq512-b8``, with queries in flight ``...-b8-c4``, open loop
    at a request rate ``...-b8-c4-r200``, searching the highest rate whose p99 stays within a latency
    budget ``...-b8-c4-budget10ms``."""

    model: ModelSource
    backend: str
    batch: int
    precision: str = "fp32"
    build_mode: str = "explicit"
    profile: Optional[ShapeProfile] = None
    dims: Tuple[Tuple[str, int], ...] = ()  # values of swept named dynamic dims, e.g. (("seq", 512),)
    concurrency: int = 1  # queries in flight
    request_rate: Optional[float] = None  # open-loop arrivals per second (None: closed loop)
    latency_budget_ms: Optional[float] = None  # search the highest request rate whose p99 stays within this

    @property
    def under_load(self) -> bool:
        """Measured by the load timer (queries in flight, open-loop arrivals, or a budget search), not by the
        single-query latency/throughput timers."""
        return self.concurrency > 1 or self.request_rate is not None or self.latency_budget_ms is not None

    @property
    def id(self) -> str:
        parts = [self.model.name, self.backend, self.precision, self.build_mode]
        if self.profile is not None:
            parts.append(self.profile.name)
        parts += [f"{name}{value}" for name, value in self.dims]
        parts.append(f"b{self.batch}")
        if self.concurrency != 1:
            parts.append(f"c{self.concurrency}")
        if self.request_rate is not None:
            parts.append(f"r{self.request_rate:g}")
        if self.latency_budget_ms is not None:
            parts.append(f"budget{self.latency_budget_ms:g}ms")
        return "-".join(parts)

    def to_dict(self) -> dict:
        return {"id": self.id, "model": self.model.name, "model_path": self.model.path, "plan": self.model.plan,
                "backend": self.backend, "batch": self.batch, "precision": self.precision,
                "build_mode": self.build_mode, "profile": self.profile.to_dict() if self.profile else None,
                "dims": dict(self.dims), "concurrency": self.concurrency, "request_rate": self.request_rate,
                "latency_budget_ms": self.latency_budget_ms}

    @classmethod
    def from_dict(cls, d: dict) -> "Variant":
        return cls(ModelSource(d["model"], d.get("model_path"), bool(d.get("plan"))), d["backend"], int(d["batch"]),
                   d["precision"], d["build_mode"], ShapeProfile.from_dict(d["profile"]) if d.get("profile") else None,
                   tuple((str(k), int(v)) for k, v in (d.get("dims") or {}).items()), int(d.get("concurrency") or 1),
                   float(d["request_rate"]) if d.get("request_rate") is not None else None,
                   float(d["latency_budget_ms"]) if d.get("latency_budget_ms") is not None else None)


@dataclass(frozen=True)
class Matrix:
    """The axes. ``expand`` turns them into variants plus the excluded combinations with reasons."""

    models: Tuple[ModelSource, ...]
    backends: Tuple[str, ...]
    batches: Tuple[int, ...]
    precisions: Tuple[str, ...] = ("fp32",)
    build_modes: Tuple[str, ...] = ("explicit",)
    profiles: Tuple[ShapeProfile, ...] = field(default=())
    dims: Tuple[Tuple[str, Tuple[int, ...]], ...] = ()  # swept named dynamic dims: (("seq", (128, 512)),)
    concurrencies: Tuple[int, ...] = (1,)
    request_rates: Tuple[Optional[float], ...] = (None,)
    latency_budget_ms: Optional[float] = None  # not an axis: every variant searches under this budget

    def to_dict(self) -> dict:
        return {"models": [{"name": m.name, "path": m.path} for m in self.models],
                "backends": list(self.backends), "batches": list(self.batches),
                "precisions": list(self.precisions), "build_modes": list(self.build_modes),
                "profiles": [p.to_dict() for p in self.profiles], "dims": {k: list(v) for k, v in self.dims},
                "concurrencies": list(self.concurrencies), "request_rates": list(self.request_rates),
                "latency_budget_ms": self.latency_budget_ms}
