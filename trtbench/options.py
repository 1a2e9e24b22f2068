"""Every run option, defined once, for both front ends: the ``trtbench`` CLI and the pytest plugin.

``--duration 2`` on the CLI is ``--trtbench-duration 2`` under pytest. ``configure`` turns the raw
values (from either front end, plus an optional matrix file) into a typed ``Matrix`` and ``RunSettings``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Dict, Optional, Sequence, Tuple

from trtbench.errors import UserError
from trtbench.matrix.parse import (parse_batches, parse_build_modes, parse_precisions, parse_profile, parse_shapes,
                                   shapes_profile, split_list)
from trtbench.matrix.spec import BUILD_MODES, PRECISIONS, Matrix
from trtbench.settings import MODES, RunSettings


@dataclass(frozen=True)
class Option:
    dest: str
    flags: Tuple[str, ...]
    help: str
    kind: str = "str"  # str | list | int | float | flag
    metavar: Optional[str] = None
    choices: Optional[Tuple[str, ...]] = None

    @property
    def pytest_flag(self) -> str:
        """The CLI's long flag under the ``--trtbench-`` prefix: --backend -> --trtbench-backend,
        --minShapes -> --trtbench-min-shapes."""
        long = next(f for f in self.flags if f.startswith("--"))[2:]
        return "--trtbench-" + "".join("-" + c.lower() if c.isupper() else c for c in long)


MATRIX_OPTIONS = (
    Option("matrix", ("--matrix",), "TOML matrix file (flags given as well override its axes)", metavar="FILE"),
    Option("models", ("--model", "-m"), "built-in model name or .onnx path; repeat or comma-separate "
           "(default: every built-in model)", "list", "MODEL"),
    Option("backends", ("--backend", "-b"), "backend(s): onnxruntime, torch, tensorrt (default: the best "
           "available: tensorrt, then torch on a GPU, then onnxruntime)", "list", "NAME"),
    Option("batches", ("--batch",), "batch size(s), e.g. 1,8,32 (default: 1,8)", "list", "N"),
    Option("precisions", ("--precision",), "precision(s): " + ", ".join(PRECISIONS) + " (default: fp32)",
           "list", "P"),
    Option("build_modes", ("--build-mode",), "build mode(s): implicit (static shapes) or explicit (dynamic "
           "profile) (default: both)", "list", "MODE"),
    Option("profiles", ("--profile",), "named batch profile NAME:MIN,OPT,MAX, e.g. dyn:1,8,32; repeatable "
           "(default for explicit builds: smallest/middle/largest batch)", "list", "NAME:MIN,OPT,MAX"),
    Option("min_shapes", ("--minShapes",), "trtexec-style per-input min shapes, name:1x3x224x224,...",
           metavar="SHAPES"),
    Option("opt_shapes", ("--optShapes",), "per-input opt shapes (default: the min shapes)", metavar="SHAPES"),
    Option("max_shapes", ("--maxShapes",), "per-input max shapes (default: the opt shapes)", metavar="SHAPES"),
)

RUN_OPTIONS = (
    Option("mode", ("--mode",), "latency: one query in flight; throughput: pipelined H2D/compute/D2H like "
           "trtexec (default: latency)", choices=MODES),
    Option("warmup_ms", ("--warmup",), "warm-up time in milliseconds (default: 200)", "float", "MS"),
    Option("duration_s", ("--duration",), "minimum measured time per variant in seconds (default: 1; "
           "trtexec uses 3)", "float", "S"),
    Option("iterations", ("--iterations",), "minimum measured queries per variant (default: 10)", "int", "N"),
    Option("max_iterations", ("--max-iterations",), "stop after this many queries even before --duration "
           "(default: 20000)", "int", "N"),
    Option("cuda_graph", ("--cuda-graph",), "capture the compute stage in a CUDA graph (GPU backends)", "flag"),
    Option("spin_wait", ("--spin-wait",), "spin-wait on CUDA events instead of blocking sync", "flag"),
    Option("no_data_transfers", ("--no-data-transfers",), "time compute only: skip the H2D/D2H stages",
           "flag"),
    Option("nvml_interval_ms", ("--nvml-interval",), "NVML sampling interval in ms (default: 20)", "float",
           "MS"),
    Option("no_nvml", ("--no-nvml",), "do not sample NVML telemetry", "flag"),
    Option("device", ("--device",), "CUDA device index (default: 0)", "int", "N"),
    Option("seed", ("--seed",), "seed of the generated input data (default: 0)", "int", "N"),
    Option("cache_dir", ("--cache-dir",), "where built engines and converted models are cached "
           "(default: ~/.cache/trtbench)", metavar="DIR"),
    Option("no_accuracy", ("--no-accuracy",), "skip the comparison against the FP32 onnxruntime reference",
           "flag"),
    Option("calibration", ("--calibration",), "int8/fp8 calibration data: an .npz with one array per model input, "
           "first axis = samples (default: generated data)", metavar="NPZ"),
    Option("tolerances", ("--tolerance",), "accuracy tolerance of a precision, e.g. fp16:rel_l2=0.02,top1=0.97; "
           "repeatable (defaults: fp32 1e-4, tf32 5e-3, fp16 1e-2, bf16 5e-2, int8 0.15, fp8 0.2)", "list",
           "P:KEY=V,..."),
    Option("layer_profile", ("--layer-profile",), "also run a separate per-layer profiling pass (TensorRT)",
           "flag"),
    Option("trt_typing", ("--trt-typing",), "TensorRT precision route: weak (builder flags, 8.6/10.x), strong "
           "(typed model, 10.x/11.x) or auto (strong on 11, weak before)", choices=("auto", "weak", "strong")),
    Option("mem_pool_size", ("--memPoolSize",), "TensorRT workspace limit, trtexec syntax workspace:1024 (MiB; "
           "K/M/G suffixes allowed)", metavar="POOL:SIZE"),
    Option("opt_level", ("--builderOptimizationLevel",), "TensorRT builder optimization level 0-5 (default 3)",
           "int", "N"),
    Option("verbose", ("--verbose",), "print TensorRT's log", "flag"),
    Option("results", ("--results",), "results directory; each run writes RESULTS/<run-id>/results.json "
           "(default: results)", metavar="DIR"),
)

ALL_OPTIONS = MATRIX_OPTIONS + RUN_OPTIONS


def add_argparse_options(parser, options: Sequence[Option] = ALL_OPTIONS) -> None:
    for o in options:
        kw: Dict[str, Any] = {"dest": o.dest, "help": o.help, "default": None}
        if o.kind == "flag":
            kw.update(action="store_true", default=False)
        elif o.kind == "list":
            kw.update(action="append", metavar=o.metavar)
        else:
            kw.update(metavar=o.metavar, type=str)
            if o.choices:
                kw.update(choices=o.choices, metavar=None)
        parser.add_argument(*o.flags, **kw)


def add_pytest_options(group, options: Sequence[Option] = ALL_OPTIONS) -> None:
    for o in options:
        kw: Dict[str, Any] = {"dest": "trtbench_" + o.dest, "help": o.help, "default": None}
        if o.kind == "flag":
            kw.update(action="store_true", default=False)
        elif o.kind == "list":
            kw.update(action="append", metavar=o.metavar)
        else:
            kw.update(metavar=o.metavar or o.dest.upper())
            if o.choices:
                kw.update(choices=o.choices)
        group.addoption(o.pytest_flag, **kw)


def _number(opt: str, text: Any, cast, minimum: float):
    try:
        value = cast(text)
    except (TypeError, ValueError):
        raise UserError(f"bad {opt} value {text!r}: give a number") from None
    if value < minimum:
        raise UserError(f"bad {opt} value {text!r}: it must be at least {minimum}")
    return value


_RUN_NUMBERS = {"warmup_ms": (float, 0, "--warmup"), "duration_s": (float, 0, "--duration"),
                "iterations": (int, 1, "--iterations"), "max_iterations": (int, 1, "--max-iterations"),
                "nvml_interval_ms": (float, 1, "--nvml-interval"), "device": (int, 0, "--device"),
                "seed": (int, 0, "--seed")}


def parse_mem_pool(text: str) -> int:
    """trtexec's ``workspace:1024`` (MiB), ``workspace:2G``, ``workspace:512M``, ``workspace:64K`` -> bytes."""
    pool, sep, size = str(text).partition(":")
    if not sep or pool.strip().lower() != "workspace":
        raise UserError(f"bad --memPoolSize {text!r}: write workspace:SIZE, e.g. workspace:1024 (MiB) or workspace:2G")
    size = size.strip().upper().replace("IB", "").rstrip("B")
    unit = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(size[-1:], 1 << 20)
    number = size[:-1] if size[-1:] in "KMG" else size
    try:
        value = float(number)
    except ValueError:
        raise UserError(f"bad --memPoolSize {text!r}: the size must be a number, e.g. workspace:1024") from None
    if value <= 0:
        raise UserError(f"bad --memPoolSize {text!r}: the size must be positive")
    return int(value * unit)


def parse_tolerance(text: str) -> Dict[str, Dict[str, float]]:
    """``fp16:rel_l2=0.02,top1=0.97`` -> ``{"fp16": {"rel_l2": 0.02, "top1": 0.97}}``."""
    prec, sep, rest = str(text).partition(":")
    if not sep or prec not in PRECISIONS:
        raise UserError(f"bad --tolerance {text!r}: write PRECISION:rel_l2=X[,top1=Y], PRECISION one of "
                        f"{', '.join(PRECISIONS)}")
    out: Dict[str, float] = {}
    for item in rest.split(","):
        key, eq, val = item.partition("=")
        key = key.strip()
        if not eq or key not in ("rel_l2", "top1"):
            raise UserError(f"bad --tolerance {text!r}: keys are rel_l2 and top1, e.g. fp16:rel_l2=0.02,top1=0.97")
        try:
            out[key] = float(val)
        except ValueError:
            raise UserError(f"bad --tolerance {text!r}: {val!r} is not a number") from None
    return {prec: out}


def configure(values: Dict[str, Any], default_backend=None) -> Tuple[Matrix, RunSettings, str]:
    """Raw option values -> (Matrix, RunSettings, results_dir). Matrix file first, flags override."""
    from trtbench.backends.registry import backend_info, best_available
    from trtbench.matrix.tomlfile import load_matrix_file
    from trtbench.models.builtin import builtin_names
    from trtbench.models.loading import resolve_model

    filed: Dict[str, Any] = load_matrix_file(values["matrix"]) if values.get("matrix") else {}

    def pick(key):
        v = values.get(key)
        return v if v else filed.get(key)

    models = tuple(resolve_model(m) for m in dict.fromkeys(split_list(pick("models") or builtin_names())))
    if values.get("backends") or filed.get("backends"):
        backends = tuple(dict.fromkeys(backend_info(b).name for b in split_list(pick("backends"))))
    else:
        backends = ((default_backend or best_available)(),)
    batches = parse_batches(pick("batches") or [1, 8])
    precisions = parse_precisions(pick("precisions") or ["fp32"])
    build_modes = parse_build_modes(pick("build_modes") or list(BUILD_MODES))

    profiles = list(filed.get("profile_objects", [])) if not values.get("profiles") else []
    profiles += [parse_profile(p) for p in values.get("profiles") or []]  # NAME:MIN,OPT,MAX: no comma split
    if values.get("min_shapes") or values.get("opt_shapes") or values.get("max_shapes"):
        if not values.get("min_shapes"):
            raise UserError("--optShapes/--maxShapes need --minShapes too (as in trtexec)")
        profiles.append(shapes_profile(
            "shapes", parse_shapes(values["min_shapes"], "--minShapes"),
            parse_shapes(values["opt_shapes"], "--optShapes") if values.get("opt_shapes") else None,
            parse_shapes(values["max_shapes"], "--maxShapes") if values.get("max_shapes") else None))
    names = [p.name for p in profiles]
    if len(set(names)) != len(names):
        raise UserError(f"profile names must be unique, got {', '.join(names)}")
    matrix = Matrix(models, backends, batches, precisions, build_modes, tuple(profiles))

    run: Dict[str, Any] = {}
    known = {f.name for f in fields(RunSettings)}
    for key, v in (filed.get("run") or {}).items():
        if key not in known:
            raise UserError(f"matrix file: unknown key {key!r} in [run]; known keys are {', '.join(sorted(known))}")
        run[key] = v
    for key, (cast, minimum, flag) in _RUN_NUMBERS.items():
        if values.get(key) is not None:
            run[key] = values[key]
        if key in run:
            run[key] = _number(flag, run[key], cast, minimum)
    if values.get("mode"):
        run["mode"] = values["mode"]
    if run.get("mode", "latency") not in MODES:
        raise UserError(f"unknown mode {run['mode']!r}: --mode takes {', '.join(MODES)}")
    for flag_dest, field_name, value in (("cuda_graph", "cuda_graph", True), ("spin_wait", "spin_wait", True),
                                         ("no_data_transfers", "data_transfers", False),
                                         ("no_nvml", "nvml", False), ("no_accuracy", "check_accuracy", False),
                                         ("layer_profile", "layer_profile", True)):
        if values.get(flag_dest):
            run[field_name] = value
    if values.get("trt_typing"):
        run["trt_typing"] = values["trt_typing"]
    if values.get("mem_pool_size"):
        run["trt_workspace_bytes"] = parse_mem_pool(values["mem_pool_size"])
    if values.get("opt_level") is not None:
        level = _number("--builderOptimizationLevel", values["opt_level"], int, 0)
        if level > 5:
            raise UserError(f"bad --builderOptimizationLevel {level}: it takes 0..5")
        run["trt_opt_level"] = level
    if values.get("verbose"):
        run["verbose"] = True
    if values.get("cache_dir"):
        run["cache_dir"] = values["cache_dir"]
    if values.get("calibration"):
        from pathlib import Path

        if not Path(values["calibration"]).is_file():
            raise UserError(f"calibration file {values['calibration']} does not exist: check the path")
        run["calibration"] = values["calibration"]
    tolerances = dict(filed.get("tolerances") or {})
    for text in values.get("tolerances") or []:
        tolerances.update(parse_tolerance(text))
    if tolerances:
        run["tolerances"] = tolerances
    settings = RunSettings(**run)
    return matrix, settings, values.get("results") or "results"
