"""``trtbench build``: trtexec's build step in Python, with trtexec's flags and syntax.

    trtbench build --onnx model.onnx --minShapes input:1x3x224x224 --optShapes input:8x3x224x224 \\
        --maxShapes input:32x3x224x224 --fp16 --saveEngine model.plan
"""

from __future__ import annotations

import time
from pathlib import Path

from trtbench.atomic_files import write_atomically as _atomic_write
from trtbench.backends.prepare import profile_misfit
from trtbench.backends.tensorrt.backend import make_logger, trt_for_command
from trtbench.backends.tensorrt.build import BuildSpec, build_engine
from trtbench.backends.tensorrt.compat import TensorRTError
from trtbench.config.numbers import NumberRule, parse_number
from trtbench.config.parse import parse_mem_pool, parse_shapes, shapes_profile
from trtbench.config.settings import RunSettings
from trtbench.errors import UserError
from trtbench.gpu.cuda import set_device
from trtbench.matrix.spec import PRECISIONS
from trtbench.models.inspect import inspect_model
from trtbench.models.loading import resolve_model
from trtbench.precision.transform import apply_precision


def register(sub) -> None:
    p = sub.add_parser("build", help="build a TensorRT engine from ONNX (trtexec's flags)",
                       description="Build a TensorRT engine (plan) from an ONNX model, with trtexec's flag names. "
                                   "Without shapes, a dynamic model's dynamic dimensions are set to 1 (as trtexec "
                                   "does); a static model takes no shapes.")
    p.add_argument("--onnx", required=True, metavar="MODEL", help="ONNX model file (or a built-in model name)")
    p.add_argument("--saveEngine", metavar="PLAN", help="where to write the plan")
    p.add_argument("--minShapes", metavar="SHAPES", help="name:1x3x224x224,... (a dynamic model's min shapes)")
    p.add_argument("--optShapes", metavar="SHAPES", help="opt shapes (default: the min shapes)")
    p.add_argument("--maxShapes", metavar="SHAPES", help="max shapes (default: the opt shapes)")
    p.add_argument("--precision", default=None, help="fp32, tf32, fp16, fp16-io, bf16, bf16-io, int8, fp8")
    for flag in ("fp16", "bf16", "int8", "fp8"):
        p.add_argument(f"--{flag}", action="store_true", help=f"same as --precision {flag}")
    p.add_argument("--noTF32", action="store_true", help="disable TF32 (trtexec's flag; fp32 builds do anyway)")
    p.add_argument("--stronglyTyped", action="store_true", help="strongly typed network (10.x; always on in 11)")
    p.add_argument("--versionCompatible", action="store_true", help="build a version-compatible plan (runs on the "
                   "lean runtime of later TensorRT versions)")
    p.add_argument("--memPoolSize", metavar="POOL:SIZE", help="workspace:1024 (MiB; K/M/G suffixes allowed)")
    p.add_argument("--builderOptimizationLevel", metavar="N", help="0-5 (default 3)")
    p.add_argument("--timingCacheFile", metavar="FILE", help="timing cache to load and update")
    p.add_argument("--device", default="0", metavar="N", help="CUDA device (default 0)")
    p.add_argument("--verbose", action="store_true", help="print TensorRT's log")
    p.set_defaults(func=cmd_build)


def cmd_build(args) -> int:
    args.device = int(parse_number(args.device, NumberRule(int, 0, 1023), "--device"))
    if args.builderOptimizationLevel is not None:
        args.builderOptimizationLevel = int(parse_number(args.builderOptimizationLevel, NumberRule(int, 0, 5),
                                                         "--builderOptimizationLevel"))
    chosen = [f for f in ("fp16", "bf16", "int8", "fp8") if getattr(args, f)]
    if args.precision and chosen or len(chosen) > 1:
        raise UserError("give one precision: --precision P or one of --fp16/--bf16/--int8/--fp8")
    precision = args.precision or (chosen[0] if chosen else ("fp32" if args.noTF32 else "tf32"))
    if precision not in PRECISIONS:
        raise UserError(f"unknown precision {precision!r}: --precision takes {', '.join(PRECISIONS)}")
    model = resolve_model(args.onnx).load()
    info = inspect_model(model)
    if args.optShapes or args.maxShapes:
        if not args.minShapes:
            raise UserError("--optShapes/--maxShapes need --minShapes too (as in trtexec)")
    dynamic = [t for t in info.inputs if not t.is_static]
    if args.minShapes and not dynamic:
        raise UserError("Static model does not take explicit shapes: drop --minShapes/--optShapes/--maxShapes")
    profile = ()
    if dynamic:
        if args.minShapes:
            prof = shapes_profile("build", parse_shapes(args.minShapes, "--minShapes"),
                                  parse_shapes(args.optShapes, "--optShapes") if args.optShapes else None,
                                  parse_shapes(args.maxShapes, "--maxShapes") if args.maxShapes else None)

            why = profile_misfit(info, prof)
            if why:
                raise UserError(why)
            ranges = {r.name: r for r in prof.inputs}
            profile = tuple((n, ranges[n].min, ranges[n].opt, ranges[n].max) for n in sorted(ranges))
        else:
            shapes = {t.name: tuple(d if isinstance(d, int) else 1 for d in t.shape) for t in info.inputs}
            print("trtbench: no shapes given: dynamic dimensions set to 1 (" +
                  ", ".join(f"{n}:{'x'.join(map(str, s))}" for n, s in shapes.items()) + "), as trtexec does")
            profile = tuple((n, s, s, s) for n, s in sorted(shapes.items()))
    api = trt_for_command("trtbench build", args.device)
    set_device(args.device)
    try:
        typing = api.typing_for("strong" if args.stronglyTyped else "auto")
    except TensorRTError as exc:
        raise UserError(str(exc)) from None
    why = api.precision_support(precision, typing)
    if why:
        raise UserError(f"cannot build {precision} here: {why}")
    if api.needs_converted_model(precision, typing):
        model = apply_precision(model, precision, RunSettings()).model
    spec = BuildSpec(precision=precision, typing=typing, static=not dynamic, profile=profile,
                     workspace_bytes=parse_mem_pool(args.memPoolSize) if args.memPoolSize else None,
                     optimization_level=args.builderOptimizationLevel, tf32=precision == "tf32",
                     version_compatible=args.versionCompatible)
    logger = make_logger(api, args.verbose)
    tc = Path(args.timingCacheFile) if args.timingCacheFile else None
    t0 = time.perf_counter()
    try:
        result, applied, new_tc = build_engine(api, model, spec, logger, tc.read_bytes() if tc and tc.exists() else None)
    except TensorRTError as exc:
        raise UserError(f"build failed: {exc}") from None
    if tc and new_tc:
        _atomic_write(tc, new_tc)
    print(f"built {precision} {'static' if spec.static else 'dynamic'} engine with TensorRT {api.version_text} in "
          f"{time.perf_counter() - t0:.1f} s: {len(result.plan):,} bytes")
    if args.saveEngine:
        _atomic_write(Path(args.saveEngine), result.plan)
        print(f"saved {args.saveEngine}")
    return 0
