"""Matrix files (TOML). The same keys as the command-line options, so either can define a run::

    [matrix]
    models = ["resnet", "mlp", "path/to/model.onnx"]
    backends = ["onnxruntime"]
    batches = [1, 8, 32]
    precisions = ["fp32"]
    build_modes = ["implicit", "explicit"]
    dims = {seq = [128, 512]}  # named dynamic dims, as --dim seq=128,512
    concurrencies = [1, 2, 4]     # queries in flight
    request_rates = [100, 200]    # open loop, Poisson arrivals per second (or latency_budget = "10ms")

    [profiles.dyn]          # batch-only profile: [min, opt, max]
    batch = [1, 8, 32]

    [profiles.seq]          # per-input shapes, trtexec syntax
    min = "tokens:1x16x128"
    opt = "tokens:8x32x128"
    max = "tokens:32x64x128"

    [run]                   # RunSettings' field names (trtbench/config/settings.py)
    duration_s = 1.0
    mode = "latency"

    [tolerances.fp16]
    rel_l2 = 0.02

    [inputs]                # as --input-range / --loadInputs (config/inputs.py)
    ranges = {input_ids = [0, 999]}
    load = {attention_mask = "mask.npy"}

Every value is type-checked here, so a wrong one is a one-line ``UserError`` naming the file and the key,
never a traceback later (nor a silently wrong setting: ``cuda_graph = "no"`` is an error, not true).
A models item is one reference: ``models = ["a,b.onnx"]`` is one path, not split at the comma. A relative
model path (and ``calibration``) that exists beside the matrix file is taken from there; otherwise from the
working directory.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Dict, Tuple

from trtbench.config.inputs import dims_from_toml, load_from_toml, ranges_from_toml
from trtbench.config.load import parse_concurrencies, parse_latency_budget, parse_request_rates
from trtbench.config.numbers import show
from trtbench.config.parse import (TOLERANCE_RULES, batch_profile, parse_shapes, shapes_profile,
                                   tolerance_value)
from trtbench.config.runfields import run_values_from_toml
from trtbench.errors import UserError
from trtbench.matrix.spec import PRECISIONS, ShapeProfile
from trtbench.models.loading import not_a_file

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.9/3.10
    import tomli as tomllib

TABLES = ("matrix", "profiles", "run", "tolerances", "inputs")
MATRIX_KEYS = ("models", "backends", "batches", "precisions", "build_modes", "concurrencies", "request_rates",
               "latency_budget")
_EXAMPLES = {"models": '["mlp", "path/to/model.onnx"]', "backends": '["onnxruntime"]', "batches": "[1, 8, 32]",
             "precisions": '["fp32", "fp16"]', "build_modes": '["implicit", "explicit"]',
             "concurrencies": "[1, 2, 4, 8]", "request_rates": "[100, 200]", "latency_budget": '"10ms"'}
_SHAPE_KEYS = ("min", "opt", "max")
_TABLE_FIXES = {"matrix": "write a [matrix] table of axis lists, e.g. batches = [1, 8]",
                "profiles": "write one [profiles.NAME] table per profile, e.g. [profiles.dyn] with batch = [1, 8, 32]",
                "run": "write a [run] table of settings, e.g. duration_s = 1.0",
                "tolerances": "write one [tolerances.PRECISION] table per precision, e.g. [tolerances.fp16] with "
                              "rel_l2 = 0.02",
                "inputs": "write an [inputs] table, e.g. ranges = {input_ids = [0, 999]}"}


@dataclass(frozen=True)
class MatrixFile:
    """A matrix file's content, typed. ``axes`` holds only the [matrix] keys the file gives."""

    axes: Dict[str, Tuple[Any, ...]] = field(default_factory=dict)
    profiles: Tuple[ShapeProfile, ...] = ()
    tolerances: Dict[str, Dict[str, float]] = field(default_factory=dict)
    run: Dict[str, Any] = field(default_factory=dict)  # RunSettings field -> value
    dims: Tuple[Tuple[str, Tuple[int, ...]], ...] = ()  # [matrix] dims
    inputs: Dict[str, Any] = field(default_factory=dict)  # [inputs] -> RunSettings input_ranges / load_inputs


def load_matrix_file(path: str) -> MatrixFile:
    """Read and check a matrix file; every error names the file."""
    doc = _read(path)
    try:
        filed = _from_document(doc)
    except UserError as exc:
        raise UserError(f"matrix file {path}: {exc}") from None
    if "models" in filed.axes:  # a relative model path is relative to the matrix file, like an include
        here = Path(path).resolve().parent
        models = tuple(str(here / m) if _is_relative_path(m) and (here / m).exists() else m
                       for m in filed.axes["models"])
        filed = replace(filed, axes=dict(filed.axes, models=models))
    calibration = filed.run.get("calibration")
    if calibration and not Path(calibration).is_absolute() and (Path(path).resolve().parent / calibration).exists():
        filed = replace(filed, run=dict(filed.run, calibration=str(Path(path).resolve().parent / calibration)))
    return filed


def _is_relative_path(ref: str) -> bool:
    return (os.sep in ref or ref.endswith(".onnx")) and not Path(ref).is_absolute()


def _read(path: str) -> Dict[str, Any]:
    p = Path(path)
    if not p.is_file():
        raise UserError(not_a_file(path, "matrix file", "pass the .toml file itself"))
    try:  # utf-8-sig: a byte order mark (Windows editors write one) is no TOML syntax error
        return tomllib.loads(p.read_text(encoding="utf-8-sig"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"matrix file {path} is not valid TOML ({exc}): fix the syntax") from None
    except OSError as exc:
        raise UserError(f"cannot read matrix file {path} ({exc.strerror or exc}): check its permissions") from None


def _from_document(doc: Dict[str, Any]) -> MatrixFile:
    unknown = [k for k in doc if k not in TABLES]
    if unknown:
        raise UserError(f"unknown top-level key(s) {', '.join(unknown)}; the known tables are "
                        f"{', '.join(f'[{t}]' for t in TABLES)} (matrix axes such as models go under [matrix])")
    tables = {key: _table(doc.get(key, {}), key, _TABLE_FIXES[key]) for key in TABLES}
    profiles = tuple(profile_from_toml(name, t) for name, t in tables["profiles"].items())
    matrix = dict(tables["matrix"])
    dims = dims_from_toml(matrix.pop("dims")) if "dims" in matrix else ()
    return MatrixFile(_axes(matrix), profiles, _tolerances(tables["tolerances"]),
                      run_values_from_toml(tables["run"]), dims, _inputs(tables["inputs"]))


def _inputs(table: Dict[str, Any]) -> Dict[str, Any]:
    """``[inputs]`` ranges / load -> the RunSettings fields input_ranges / load_inputs."""
    unknown = sorted(set(table) - {"ranges", "load"})
    if unknown:
        raise UserError(f"unknown key(s) {', '.join(unknown)} in [inputs]; known keys are ranges and load")
    out: Dict[str, Any] = {}
    if "ranges" in table:
        out["input_ranges"] = ranges_from_toml(table["ranges"])
    if "load" in table:
        out["load_inputs"] = load_from_toml(table["load"])
    return out


def _table(value: Any, key: str, fix: str) -> Dict[str, Any]:
    if not isinstance(value, dict):
        raise UserError(f"{key} = {show(value)} is not a table: {fix}")
    return value


def _axes(table: Dict[str, Any]) -> Dict[str, Tuple[Any, ...]]:
    """[matrix] -> key -> items: batches positive integers, the other axes non-empty strings."""
    unknown = sorted(set(table) - set(MATRIX_KEYS))
    if unknown:
        raise UserError(f"unknown key(s) {', '.join(unknown)} in [matrix]; known keys are "
                        f"{', '.join(MATRIX_KEYS + ('dims',))}")
    out: Dict[str, Tuple[Any, ...]] = {}
    for key in MATRIX_KEYS:
        if key not in table:
            continue
        items = table[key]
        if key == "latency_budget":  # one value, not an axis
            out[key] = (parse_latency_budget(items, "[matrix] latency_budget", text_ok=False),)
            continue
        if not isinstance(items, list):
            raise UserError(f"[matrix] {key} must be a list, e.g. {key} = {_EXAMPLES[key]}")
        if not items:
            raise UserError(f"[matrix] {key} is empty: list at least one, e.g. {key} = {_EXAMPLES[key]}, or leave "
                            f"{key} out for the default")
        if key == "concurrencies":
            out[key] = parse_concurrencies(items, "[matrix] concurrencies item", text_ok=False)
        elif key == "request_rates":
            out[key] = parse_request_rates(items, "[matrix] request_rates item", text_ok=False)
        else:
            out[key] = tuple(_axis_item(key, x) for x in items)
    return out


def _axis_item(key: str, x: Any) -> Any:
    if key == "batches":
        if isinstance(x, bool) or not isinstance(x, int) or x <= 0:
            raise UserError(f"bad [matrix] batches item {show(x)}: give positive integers, e.g. batches = [1, 8, 32]")
    elif not isinstance(x, str) or not x.strip():
        raise UserError(f"bad [matrix] {key} item {show(x)}: give non-empty strings, e.g. {key} = {_EXAMPLES[key]}")
    return x


def profile_from_toml(name: str, table: Any) -> ShapeProfile:
    """``[profiles.NAME]``: ``batch = [min, opt, max]``, or trtexec-style ``min``/``opt``/``max`` shape strings."""
    where = f"[profiles.{name}]"
    table = _table(table, f"profiles.{name}", f"write {where} with batch = [1, 8, 32] or min/opt/max shapes")
    unknown = sorted(set(table) - {"batch", *_SHAPE_KEYS})
    if unknown:
        raise UserError(f"unknown key(s) {', '.join(unknown)} in {where}; known keys are batch, min, opt, max")
    if "batch" in table:
        if set(table) & set(_SHAPE_KEYS):
            raise UserError(f"{where} gives both batch and min/opt/max: give one of the two")
        b = table["batch"]
        if not (isinstance(b, list) and len(b) == 3 and all(isinstance(x, int) and not isinstance(x, bool) for x in b)):
            raise UserError(f"{where} batch must be [min, opt, max], three integers, e.g. batch = [1, 8, 32]")
        return batch_profile(name, *b)
    if "min" not in table:
        raise UserError(f"{where} needs batch = [min, opt, max] or min/opt/max = \"input:1x3x224x224\"")
    shapes = {}
    for key in _SHAPE_KEYS:
        if key in table:
            if not isinstance(table[key], str):
                raise UserError(f"{where} {key} must be a string, e.g. {key} = \"input:1x3x224x224\"")
            shapes[key] = parse_shapes(table[key], f"{where} {key}")
    return shapes_profile(name, shapes["min"], shapes.get("opt"), shapes.get("max"))


def _tolerances(table: Dict[str, Any]) -> Dict[str, Dict[str, float]]:
    """``[tolerances.fp16] rel_l2 = 0.02`` -> ``{"fp16": {"rel_l2": 0.02}}``, checked as ``--tolerance`` is."""
    out: Dict[str, Dict[str, float]] = {}
    for prec, entries in table.items():
        where = f"[tolerances.{prec}]"
        if prec not in PRECISIONS:
            raise UserError(f"unknown precision {prec!r} in [tolerances]; precisions are {', '.join(PRECISIONS)}")
        entries = _table(entries, f"tolerances.{prec}", f"write {where} with rel_l2 = 0.02 (and/or top1 = 0.97)")
        if not entries:
            raise UserError(f"{where} is empty: give rel_l2 and/or top1, e.g. rel_l2 = 0.02")
        unknown = sorted(set(entries) - set(TOLERANCE_RULES))
        if unknown:
            raise UserError(f"unknown key(s) {', '.join(unknown)} in {where}; keys are rel_l2 and top1")
        out[prec] = {k: tolerance_value(k, v, f"{where} {k}", text_ok=False) for k, v in entries.items()}
    return out
