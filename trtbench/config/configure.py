"""The config boundary: raw option values (CLI flags, pytest options, a TOML matrix file) become a typed
``Matrix`` and ``RunSettings`` here, once; the core never sees option strings.

Both front ends call ``configure`` with the same dict (``Option.dest`` -> raw value: strings for value
options, lists of strings for list options, booleans for flags), so a bad value gets the same message
from ``trtbench run`` and from ``pytest --trtbench-*``.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable, Dict, List, Optional, Tuple

from trtbench.config.parse import (parse_batches, parse_build_modes, parse_precisions, parse_profile, parse_shapes,
                                   parse_tolerance, shapes_profile, split_list, split_models)
from trtbench.config.inputs import parse_dims
from trtbench.config.load import check_load_combination, parse_concurrencies, parse_latency_budget, parse_request_rates
from trtbench.config.runfields import check_run, run_values_from_options
from trtbench.config.settings import RunSettings
from trtbench.config.tomlfile import MatrixFile, load_matrix_file
from trtbench.errors import UserError
from trtbench.matrix.axes import BUILD_MODES, backend_info
from trtbench.matrix.spec import Matrix, ShapeProfile
from trtbench.models.builtin import builtin_names
from trtbench.models.loading import resolve_model


def configure(values: Dict[str, Any], default_backend: Callable[[], str] = lambda: "onnxruntime"
              ) -> Tuple[Matrix, RunSettings, str]:
    """Raw option values -> (Matrix, RunSettings, results_dir). Matrix file first, flags override.
    ``default_backend`` names the backend when neither flags nor the file do (the caller knows what runs here)."""
    filed = load_matrix_file(values["matrix"]) if values.get("matrix") else MatrixFile()
    matrix = _load_axes(values, filed, _matrix(values, filed, default_backend))
    settings = _settings(values, filed)
    check_load_combination(matrix.concurrencies, matrix.request_rates, matrix.latency_budget_ms, settings.cold)
    return matrix, settings, values.get("results") or "results"


def _load_axes(values: Dict[str, Any], filed: MatrixFile, matrix: Matrix) -> Matrix:
    """--concurrency, --request-rate and --latency-budget over the file's concurrencies/request_rates/latency_budget."""
    conc = values.get("concurrencies")
    rates = values.get("request_rates")
    budget = values.get("latency_budget")
    return replace(matrix,
                   concurrencies=parse_concurrencies(conc) if conc else filed.axes.get("concurrencies", (1,)),
                   request_rates=parse_request_rates(rates) if rates else filed.axes.get("request_rates", (None,)),
                   latency_budget_ms=parse_latency_budget(budget) if budget is not None
                   else (filed.axes.get("latency_budget") or (None,))[0])


def _axis(values: Dict[str, Any], filed: MatrixFile, key: str, split=split_list) -> Optional[List[Any]]:
    """An axis' items from the options (comma-split strings) or else from the file (TOML items, unsplit)."""
    if values.get(key):
        return split(values[key])
    return list(filed.axes[key]) if key in filed.axes else None


def _matrix(values: Dict[str, Any], filed: MatrixFile, default_backend: Callable[[], str]) -> Matrix:
    """The axes; an axis given empty (``-m ""``) is an error, an axis not given takes its default."""
    models = _axis(values, filed, "models", split_models)
    if models == []:
        raise UserError("no model given: pass -m with a built-in model name or an .onnx path")
    backends = _axis(values, filed, "backends")
    if backends == []:
        raise UserError("no backend given: pass -b with onnxruntime, torch or tensorrt")
    precisions = _axis(values, filed, "precisions")
    build_modes = _axis(values, filed, "build_modes")
    return Matrix(tuple(resolve_model(m) for m in dict.fromkeys(models or builtin_names())),
                  tuple(dict.fromkeys(backend_info(b).name for b in backends)) if backends else (default_backend(),),
                  parse_batches(values.get("batches") or filed.axes.get("batches") or [1, 8]),
                  parse_precisions(["fp32"] if precisions is None else precisions),
                  parse_build_modes(list(BUILD_MODES) if build_modes is None else build_modes),
                  _profiles(values, filed),
                  dims=parse_dims(values["dims"]) if values.get("dims") else filed.dims)


def _profiles(values: Dict[str, Any], filed: MatrixFile) -> Tuple[ShapeProfile, ...]:
    """--profile replaces the file's profiles; --minShapes/--optShapes/--maxShapes add one named 'shapes'."""
    profiles = list(filed.profiles) if not values.get("profiles") else []
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
    return tuple(profiles)


def _settings(values: Dict[str, Any], filed: MatrixFile) -> RunSettings:
    """The file's [run] values, then the options over them; tolerances merge per precision and key."""
    run = dict(filed.run, **filed.inputs)
    for key, value in run_values_from_options(values).items():  # input ranges/files merge per input
        run[key] = dict(run.get(key) or {}, **value) if key in ("input_ranges", "load_inputs") else value
    tolerances = {prec: dict(t) for prec, t in filed.tolerances.items()}
    for text in values.get("tolerances") or []:
        for prec, t in parse_tolerance(text).items():
            tolerances.setdefault(prec, {}).update(t)
    if tolerances:
        run["tolerances"] = tolerances
    check_run(run)
    return RunSettings(**run)
