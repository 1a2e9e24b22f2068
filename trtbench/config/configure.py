"""The config boundary: raw option values (CLI flags, pytest options, a TOML matrix file) become a typed
``Matrix`` and ``RunSettings`` here, once; the core never sees option strings."""

from __future__ import annotations

from typing import Any, Callable, Dict, Tuple

from trtbench.config.parse import (parse_batches, parse_build_modes, parse_precisions, parse_profile, parse_shapes,
                                   parse_tolerance, shapes_profile, split_list)
from trtbench.config.runfields import check_run, run_values_from_options
from trtbench.config.settings import RunSettings
from trtbench.config.tomlfile import load_matrix_file
from trtbench.errors import UserError
from trtbench.matrix.axes import BUILD_MODES, backend_info
from trtbench.matrix.spec import Matrix
from trtbench.models.builtin import builtin_names
from trtbench.models.loading import resolve_model

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

    return matrix, _settings(values, filed), values.get("results") or "results"


def _settings(values: Dict[str, Any], filed: Dict[str, Any]) -> RunSettings:
    """The file's [run] values, then the options over them; tolerances merge per precision and key."""
    run = dict(filed.get("run") or {})
    run.update(run_values_from_options(values))
    tolerances = {prec: dict(t) for prec, t in (filed.get("tolerances") or {}).items()}
    for text in values.get("tolerances") or []:
        for prec, t in parse_tolerance(text).items():
            tolerances.setdefault(prec, {}).update(t)
    if tolerances:
        run["tolerances"] = tolerances
    check_run(run)
    return RunSettings(**run)
