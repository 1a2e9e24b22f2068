"""The config boundary: raw option values (CLI flags, pytest options, a TOML matrix file) become a typed
``Matrix`` and ``RunSettings`` here, once; the core never sees option strings."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Tuple

from trtbench.config.parse import (_number, parse_batches, parse_build_modes, parse_mem_pool, parse_precisions,
                                   parse_profile, parse_shapes, parse_tolerance, shapes_profile, split_list)
from trtbench.config.settings import ISOLATIONS, MODES, RunSettings
from trtbench.config.tomlfile import load_matrix_file
from trtbench.errors import UserError
from trtbench.matrix.axes import BUILD_MODES, backend_info
from trtbench.matrix.spec import Matrix
from trtbench.models.builtin import builtin_names
from trtbench.models.loading import resolve_model

_RUN_NUMBERS = {"warmup_ms": (float, 0, "--warmup"), "duration_s": (float, 0, "--duration"),
                "iterations": (int, 1, "--iterations"), "max_iterations": (int, 1, "--max-iterations"),
                "nvml_interval_ms": (float, 1, "--nvml-interval"), "device": (int, 0, "--device"),
                "seed": (int, 0, "--seed"), "trials": (int, 1, "--trials"), "order_seed": (int, 0, "--order-seed")}


def configure(values: Dict[str, Any], default_backend: Callable[[], str] = lambda: "onnxruntime"
              ) -> Tuple[Matrix, RunSettings, str]:
    """Raw option values -> (Matrix, RunSettings, results_dir). Matrix file first, flags override.
    ``default_backend`` names the backend when neither flags nor the file do (the caller knows what runs here)."""
    filed: Dict[str, Any] = load_matrix_file(values["matrix"]) if values.get("matrix") else {}

    def pick(key):
        v = values.get(key)
        return v if v else filed.get(key)

    models = tuple(resolve_model(m) for m in dict.fromkeys(split_list(pick("models") or builtin_names())))
    if values.get("backends") or filed.get("backends"):
        backends = tuple(dict.fromkeys(backend_info(b).name for b in split_list(pick("backends"))))
    else:
        backends = (default_backend(),)
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
    if values.get("isolation"):
        run["isolation"] = values["isolation"]
    if run.get("isolation", "process") not in ISOLATIONS:
        raise UserError(f"unknown isolation {run['isolation']!r}: --isolation takes {', '.join(ISOLATIONS)}")
    if values.get("mode"):
        run["mode"] = values["mode"]
    if run.get("mode", "latency") not in MODES:
        raise UserError(f"unknown mode {run['mode']!r}: --mode takes {', '.join(MODES)}")
    if values.get("cuda_graph") and values.get("no_cuda_graph"):
        raise UserError("--cuda-graph and --no-cuda-graph contradict each other: give one")
    for flag_dest, field_name, value in (("cuda_graph", "cuda_graph", True), ("no_cuda_graph", "cuda_graph", False),
                                         ("cold", "cold", True), ("spin_wait", "spin_wait", True),
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
