"""Prebuilt TensorRT plans (``trtbench run --engine model.plan``): the tutorial's deserialize-and-infer step.

I/O tensors, dtypes and the profile come from the engine itself; run shapes from ``--shapes`` (trtexec
syntax), else ``--batch`` on the profile's opt shapes, else the opt shapes. A plan variant's profile
holds, per input, the engine's min and max and the *run* shape as opt; its backend reads the plan
instead of building one.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from trtbench.backends.prepare import PreparedModel
from trtbench.backends.tensorrt.backend import TensorRTBackend, engine_profile_shapes, make_logger, trt_for_command
from trtbench.config.settings import RunSettings
from trtbench.errors import UserError
from trtbench.gpu import cuda
from trtbench.matrix.spec import InputRange, ShapeProfile, Variant
from trtbench.models.inspect import ModelInfo, TensorInfo
from trtbench.models.loading import ModelSource, not_a_file, unique_names


class PlanBackend(TensorRTBackend):
    """The TensorRT backend over a plan file: prepare reads the plan instead of building it."""

    def __init__(self, variant, settings, prepared, plan: bytes, api, logger) -> None:
        super().__init__(variant, settings, prepared)
        self.plan, self.api, self.logger = plan, api, logger

    def _prepare(self) -> None:
        self.facts.update(runtime_version=self.api.version_text, engine_bytes=len(self.plan),
                          precision_method="as built into the plan", device=f"cuda:{self.settings.device}",
                          lean_runtime=self.api.lean)


def read_plan(path: str) -> bytes:
    p = Path(path)
    if not p.is_file():
        raise UserError(not_a_file(path, "engine file", "pass the plan file itself, or build one with trtbench build"))
    data = p.read_bytes()
    if not data:
        raise UserError(f"engine file {path} is empty: rebuild it with trtbench build")
    return data


def describe_plan(api, plan: bytes, logger, device: int):
    """Deserialize once to read the I/O tensors and profile; returns (engine io, profiles)."""
    cuda.set_device(device)
    runtime = api.trt.Runtime(logger)
    api.disallow_host_code(runtime)
    seen = len(logger.messages)
    engine = runtime.deserialize_cuda_engine(plan)
    if engine is None:
        log = " | ".join(logger.messages[seen:][-3:])  # this call's messages only
        raise UserError(f"the plan cannot be deserialized by TensorRT {api.version_text}: it is corrupt or was "
                        f"built for another TensorRT version or GPU ({log or 'no log'}); rebuild it here")
    io = api.io_tensors(engine)
    profiles = {n: engine_profile_shapes(api, engine, n) for n, is_in, _, _ in io if is_in}
    return io, profiles


def _x(s) -> str:
    return "x".join(map(str, s))


def _plan_name(path: str) -> str:
    return "".join(c if c.isalnum() or c in "_." else "_" for c in Path(path).name.rsplit(".", 1)[0]) or "engine"


def plan_variant(path: str, io, profiles, shapes: Dict[str, tuple], batch: Optional[int]) -> Variant:
    inputs = [(n, dt, s) for n, is_in, dt, s in io if is_in]
    ranges: List[InputRange] = []
    for n, _, shape in inputs:
        prof = profiles[n]
        if prof is None:
            if n in shapes and tuple(shapes[n]) != tuple(shape):
                raise UserError(f"input {n} of this static engine has shape {_x(shape)}; --shapes gave {_x(shapes[n])}")
            if batch is not None and shape and batch != shape[0]:
                raise UserError(f"this static engine's batch is {shape[0]}; --batch {batch} cannot run on it: build an "
                                f"engine for that batch")
            ranges.append(InputRange(n, tuple(shape), tuple(shape), tuple(shape)))
            continue
        lo, opt, hi = prof
        run = tuple(shapes[n]) if n in shapes else ((batch,) + tuple(opt[1:]) if batch is not None else tuple(opt))
        if len(run) != len(hi) or not all(a <= b <= c for a, b, c in zip(lo, run, hi)):
            raise UserError(f"input {n}: shape {_x(run)} is outside the engine's profile {_x(lo)}..{_x(hi)}: pick "
                            f"shapes inside it")
        ranges.append(InputRange(n, tuple(lo), run, tuple(hi)))
    unknown = set(shapes) - {n for n, _, _ in inputs}
    if unknown:
        raise UserError(f"--shapes names {', '.join(sorted(unknown))}, the engine's inputs are "
                        f"{', '.join(n for n, _, _ in inputs)}")
    dynamic = any(p is not None for p in profiles.values())
    first = ranges[0].opt if ranges else ()
    b = int(first[0]) if first else 1
    return Variant(ModelSource(_plan_name(path), str(path), plan=True), "tensorrt", b, "engine",
                   "explicit" if dynamic else "implicit", ShapeProfile("engine", inputs=tuple(ranges)))


def plan_variants(paths: Sequence[str], batches: Sequence[Optional[int]], shapes: Dict[str, tuple],
                  device: int) -> List[Variant]:
    """One variant per plan file and batch, read from the engines (the user errors come before anything runs)."""
    api = trt_for_command("--engine", device)
    plans = {str(p): read_plan(p) for p in paths}
    # two plans named alike (a/model.plan, b/model.plan) get a content hash each, as models do: one id, one engine
    sources = unique_names(tuple(ModelSource(_plan_name(p), p, plan=True) for p in plans))
    out = []
    for src in sources:
        io, profiles = describe_plan(api, plans[src.path], make_logger(api), device)
        out += [replace(plan_variant(src.path, io, profiles, shapes, b), model=src) for b in batches]
    return out


def plan_backend(variant: Variant, settings: RunSettings) -> PlanBackend:
    """The backend of a plan variant (in the process that measures it)."""
    api = trt_for_command("--engine", settings.device)
    plan = read_plan(variant.model.path)
    logger = make_logger(api, settings.verbose)
    io, _ = describe_plan(api, plan, logger, settings.device)
    ranges = {r.name: r for r in variant.profile.inputs}
    run = {n: ranges[n].opt for n in ranges}
    dtypes = {n: str(api.nptype(dt)) for n, is_in, dt, _ in io if is_in}
    info = ModelInfo(tuple(TensorInfo(n, dtypes[n], tuple(run[n])) for n in run),
                     tuple(TensorInfo(n, str(api.nptype(dt)), tuple(s)) for n, is_in, dt, s in io if not is_in),
                     0, 0, "tensorrt plan", 0, 0)
    prepared = PreparedModel(None, info, run, {n: r.min for n, r in ranges.items()}, dict(run),
                             {n: r.max for n, r in ranges.items()})
    return PlanBackend(variant, settings, prepared, plan, api, logger)


__all__ = ["PlanBackend", "plan_variants", "plan_backend", "read_plan", "describe_plan", "plan_variant"]
