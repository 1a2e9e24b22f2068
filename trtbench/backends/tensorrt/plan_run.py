"""``trtbench run --engine model.plan``: benchmark an existing plan, the tutorial's deserialize-and-infer
step. I/O tensors, dtypes and the profile come from the engine itself; run shapes from ``--shapes``
(trtexec syntax), else ``--batch`` on the profile's opt shapes, else the opt shapes."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Dict

from trtbench.backends.tensorrt.backend import TensorRTBackend, engine_profile_shapes, make_logger, trt_for_command
from trtbench.errors import UserError
from trtbench.matrix.spec import ShapeProfile, Variant
from trtbench.models.inspect import ModelInfo, TensorInfo
from trtbench.models.loading import ModelSource
from trtbench.backends.prepare import PreparedModel


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
        raise UserError(f"engine file {path} does not exist: check the path, or build one with trtbench build")
    data = p.read_bytes()
    if not data:
        raise UserError(f"engine file {path} is empty: rebuild it with trtbench build")
    return data


def describe_plan(api, plan: bytes, logger, device: int):
    """Deserialize once to read the I/O tensors and profile; returns (engine io, profiles)."""
    from trtbench.gpu import cuda

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


def plan_variant(path: str, io, profiles, shapes: Dict[str, tuple], batch):
    inputs = [(n, dt, s) for n, is_in, dt, s in io if is_in]
    run, lo, opt, hi = {}, {}, {}, {}
    for n, _, shape in inputs:
        prof = profiles[n]
        if prof is None:
            run[n] = lo[n] = opt[n] = hi[n] = tuple(shape)
            if n in shapes and tuple(shapes[n]) != tuple(shape):
                raise UserError(f"input {n} of this static engine has shape {shape}; --shapes gave {shapes[n]}")
            continue
        lo[n], opt[n], hi[n] = prof
        if n in shapes:
            run[n] = tuple(shapes[n])
        elif batch is not None:
            run[n] = (batch,) + tuple(opt[n][1:])
        else:
            run[n] = tuple(opt[n])
        if len(run[n]) != len(hi[n]) or not all(a <= b <= c for a, b, c in zip(lo[n], run[n], hi[n])):
            raise UserError(f"input {n}: shape {'x'.join(map(str, run[n]))} is outside the engine's profile "
                            f"{'x'.join(map(str, lo[n]))}..{'x'.join(map(str, hi[n]))}: pick shapes inside it")
    unknown = set(shapes) - {n for n, _, _ in inputs}
    if unknown:
        raise UserError(f"--shapes names {', '.join(sorted(unknown))}, the engine's inputs are "
                        f"{', '.join(n for n, _, _ in inputs)}")
    dynamic = any(p is not None for p in profiles.values())
    first = next(iter(run.values()))
    b = int(first[0]) if first else 1
    name = Path(path).name.rsplit(".", 1)[0]
    variant = Variant(ModelSource(name, str(path)), "tensorrt", b, "engine", "explicit" if dynamic else "implicit",
                      ShapeProfile("engine", batch=(lo[inputs[0][0]][0], opt[inputs[0][0]][0], hi[inputs[0][0]][0]))
                      if dynamic else None)
    return variant, run, lo, opt, hi


def run_engine_file(args) -> int:
    from trtbench.config.parse import parse_shapes
    from trtbench.config.configure import configure
    from trtbench.report.summary import summary_table
    from trtbench.results.fingerprint import machine_fingerprint
    from trtbench.results.store import ResultsWriter
    from trtbench.runner import default_sampler_factory, run_variant

    values = dict(vars(args))
    values["models"] = None
    values["backends"] = ["tensorrt"]
    _, settings, results_dir = configure(values, default_backend=lambda: "tensorrt")
    api = trt_for_command("--engine", settings.device)
    plan = read_plan(args.engine)
    logger = make_logger(api, settings.verbose)
    io, profiles = describe_plan(api, plan, logger, settings.device)
    shapes = parse_shapes(args.shapes, "--shapes") if getattr(args, "shapes", None) else {}
    from trtbench.gpu.fingerprint import gpu_fingerprint
    from trtbench.config.parse import parse_batches

    batch_list = list(parse_batches(args.batches)) if args.batches else [None]
    writer = None
    records = []
    for batch in batch_list:
        variant, run, lo, opt, hi = plan_variant(args.engine, io, profiles, shapes, batch)
        dtypes = {n: str(api.nptype(dt)) for n, is_in, dt, _ in io if is_in}
        info = ModelInfo(tuple(TensorInfo(n, dtypes[n], tuple(run[n])) for n in run),
                         tuple(TensorInfo(n, str(api.nptype(dt)), tuple(s)) for n, is_in, dt, s in io if not is_in),
                         0, 0, "tensorrt plan", 0, 0)
        prepared = PreparedModel(None, info, run, lo, opt, hi)
        if writer is None:
            writer = ResultsWriter(results_dir, machine=machine_fingerprint(gpu_fingerprint(settings.device)),
                                   settings=settings.to_dict(),
                                   matrix={"engine": str(args.engine), "batches": [b for b in batch_list]},
                                   excluded=[], command=shlex.join(["trtbench"] + sys.argv[1:]))
        rec = run_variant(variant, settings, default_sampler_factory() if settings.nvml else None,
                          artifacts_dir=str(writer.directory),
                          make_backend=lambda v, s: PlanBackend(v, s, prepared, plan, api, logger))
        writer.add(rec)
        records.append(rec)
        print(f"{rec['variant']['id']}: {rec['status']} {rec.get('reason') or ''}".rstrip(), flush=True)
    writer.finish()
    print(summary_table(records))
    print(f"results: {writer.path}")
    return 0
