"""Matrix files (TOML). The same keys as the command-line options, so either can define a run::

    [matrix]
    models = ["resnet", "mlp", "path/to/model.onnx"]
    backends = ["onnxruntime"]
    batches = [1, 8, 32]
    precisions = ["fp32"]
    build_modes = ["implicit", "explicit"]

    [profiles.dyn]          # batch-only profile: [min, opt, max]
    batch = [1, 8, 32]

    [profiles.seq]          # per-input shapes, trtexec syntax
    min = "tokens:1x16x128"
    opt = "tokens:8x32x128"
    max = "tokens:32x64x128"

    [run]                   # RunSettings' field names (trtbench/config/settings.py)
    duration_s = 1.0
    mode = "latency"
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Dict

from trtbench.errors import UserError
from trtbench.config.parse import parse_tolerance, profile_from_toml
from trtbench.config.runfields import run_values_from_toml

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.9/3.10
    import tomli as tomllib

MATRIX_KEYS = ("models", "backends", "batches", "precisions", "build_modes")


def load_matrix_file(path: str) -> Dict[str, Any]:
    """Read a matrix file into option values (dest -> value); profiles are parsed here."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"matrix file {path} does not exist: check the path")
    try:
        doc = tomllib.loads(p.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"matrix file {path} is not valid TOML ({exc}): fix the syntax") from None
    values: Dict[str, Any] = {}
    matrix = doc.get("matrix", {})
    unknown = set(matrix) - set(MATRIX_KEYS)
    if unknown:
        raise UserError(f"matrix file {path}: unknown key(s) {', '.join(sorted(unknown))} in [matrix]; "
                        f"known keys are {', '.join(MATRIX_KEYS)}")
    for key in MATRIX_KEYS:
        if key in matrix:
            v = matrix[key]
            if not isinstance(v, list):
                raise UserError(f"matrix file {path}: {key} must be a list, e.g. {key} = [...]")
            values[key] = [str(x) if key != "batches" else x for x in v]
    profiles = doc.get("profiles", {})
    if profiles:
        values["profile_objects"] = [profile_from_toml(name, table) for name, table in profiles.items()]
    tol = doc.get("tolerances", {})
    if tol:
        values["tolerances"] = {}
        for prec, table in tol.items():
            if not isinstance(table, dict):
                raise UserError(f"matrix file {path}: [tolerances.{prec}] must be a table, e.g. rel_l2 = 0.02")
            values["tolerances"].update(parse_tolerance(f"{prec}:" + ",".join(f"{k}={v}" for k, v in table.items())))
    run = doc.get("run", {})
    if run:
        try:
            values["run"] = run_values_from_toml(run)
        except UserError as exc:
            raise UserError(f"matrix file {path}: {exc}") from None
    return values
