"""Expanding the axes into variants, applying the validity rules, keeping every exclusion's reason."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from typing import List, Optional, Tuple

from trtbench.matrix.axes import backend_info
from trtbench.matrix.spec import Matrix, ShapeProfile, Variant


@dataclass(frozen=True)
class Exclusion:
    """A combination of the axes that does not run, and why."""

    model: str
    backend: str
    batch: int
    precision: str
    build_mode: str
    profile: Optional[str]
    reason: str

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def default_profile(batches, dims=()) -> ShapeProfile:
    """When an explicit build is asked for without a profile: min/opt/max = smallest/middle/largest batch, and
    the same over the values of each swept named dim (``dims``: the matrix's ``(("seq", (128, 512)),)``)."""
    return ShapeProfile("auto", batch=_span(batches), dims=_dim_ranges(dims))


def _span(values) -> Tuple[int, int, int]:
    ordered = sorted(set(values))
    opt = ordered[len(ordered) // 2] if len(ordered) > 2 else ordered[-1]
    return ordered[0], opt, ordered[-1]


def _dim_ranges(dims) -> Tuple[Tuple[str, Tuple[int, int, int]], ...]:
    return tuple((name, _span(values)) for name, values in dims)


def _with_dims(p: ShapeProfile, dims) -> ShapeProfile:
    """A batch profile spans the swept named dims too (unless it gives their ranges itself); a per-input
    profile's shapes already give every dim."""
    if p.batch is None or not dims:
        return p
    given = {n for n, _ in p.dims}
    return replace(p, dims=p.dims + tuple(r for r in _dim_ranges(dims) if r[0] not in given))


def expand(matrix: Matrix) -> Tuple[List[Variant], List[Exclusion]]:
    variants: List[Variant] = []
    excluded: List[Exclusion] = []
    profiles = tuple(_with_dims(p, matrix.dims) for p in matrix.profiles) or (
        (default_profile(matrix.batches, matrix.dims),) if "explicit" in matrix.build_modes else ())
    for model, backend, precision, mode, batch in itertools.product(
            matrix.models, matrix.backends, matrix.precisions, matrix.build_modes, matrix.batches):
        info = backend_info(backend)

        def exclude(profile: Optional[ShapeProfile], reason: str) -> None:
            excluded.append(Exclusion(model.name, info.name, batch, precision, mode,
                                      profile.name if profile else None, reason))

        if precision not in info.precisions:
            exclude(None, f"backend {info.name} cannot run precision {precision} "
                          f"(it runs {', '.join(sorted(info.precisions))})")
            continue
        if mode == "implicit":
            for p in matrix.profiles:
                exclude(p, f"profile {p.name} does not apply to an implicit (static-shape) build; "
                           f"one static variant per batch runs instead")
            variants.append(Variant(model, info.name, batch, precision, mode, None))
            continue
        for p in profiles:
            span = p.batch_range()  # None: per-input ranges that differ; the model decides (run.plan)
            lo, hi = (span[0], span[2]) if span else (batch, batch)
            if not lo <= batch <= hi:
                exclude(p, f"batch {batch} is outside profile {p.name} (batch {lo}..{hi})")
            else:
                variants.append(Variant(model, info.name, batch, precision, mode, p))
    variants = [x for v in variants for x in _swept(matrix, v)]
    seen = set()
    unique = [v for v in variants if not (v in seen or seen.add(v))]
    return unique, excluded


def _swept(matrix: Matrix, v: Variant) -> List[Variant]:
    """The variant at every value of the swept named dims, every concurrency and every request rate."""
    names = [n for n, _ in matrix.dims]
    return [x for values in itertools.product(*[vals for _, vals in matrix.dims])
            for x in with_load_axes(matrix, replace(v, dims=tuple(zip(names, values))))]


def with_load_axes(matrix: Matrix, v: Variant) -> List[Variant]:
    """The variant at every concurrency and request rate of the matrix, under its latency budget (also used for
    prebuilt plans, which skip the rest of the expansion)."""
    return [replace(v, concurrency=c, request_rate=r, latency_budget_ms=matrix.latency_budget_ms)
            for c in matrix.concurrencies for r in matrix.request_rates]
