"""``RunSettings``' fields as the config boundary sees them: which type each takes, its bounds, and which
option sets it. One table serves ``[run]`` in a matrix file and the run options of the CLI and pytest plugin.

The types come from the dataclass itself (``FIELD_TYPES``), so a new field is type-checked without a
second list to keep in step; only what a type cannot say is written here: numeric bounds, the fields
that take one of a few strings, and the options whose field has another name or meaning.
"""

from __future__ import annotations

import typing
from dataclasses import fields
from pathlib import Path
from typing import Any, Dict, Mapping, Tuple

from trtbench.config.inputs import parse_input_ranges, parse_load_inputs
from trtbench.config.numbers import NumberRule, parse_number, show
from trtbench.config.options import RUN_OPTIONS
from trtbench.config.parse import MAX_WORKSPACE_BYTES, parse_mem_pool
from trtbench.config.settings import ISOLATIONS, MODES, TRT_TYPINGS, RunSettings
from trtbench.errors import UserError


def _base_type(hint: Any) -> Any:
    """``Optional[X]`` -> ``X``: TOML has no null and an option not given is ``None``, so "absent" needs no type."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return args[0] if typing.get_origin(hint) is typing.Union and len(args) == 1 else hint


_HINTS = typing.get_type_hints(RunSettings)
#: field -> bool | int | float | str | (another type: not settable from [run], see NOT_IN_RUN_TABLE)
FIELD_TYPES: Dict[str, Any] = {f.name: _base_type(_HINTS[f.name]) for f in fields(RunSettings)}

#: bounds of the numeric fields (a test checks that every int/float field of RunSettings has one)
NUMBER_RULES: Dict[str, NumberRule] = {
    "warmup_ms": NumberRule(float, 0, unit="milliseconds"),
    "duration_s": NumberRule(float, 0, unit="seconds"),
    "iterations": NumberRule(int, 1),
    "max_iterations": NumberRule(int, 1),
    "trials": NumberRule(int, 1),
    "order_seed": NumberRule(int, 0),
    "nvml_interval_ms": NumberRule(float, 1, unit="milliseconds"),
    "device": NumberRule(int, 0),
    "seed": NumberRule(int, 0),
    "min_samples": NumberRule(int, 1),
    "cv_threshold": NumberRule(float, 0),
    "trt_workspace_bytes": NumberRule(int, 1, MAX_WORKSPACE_BYTES, unit="bytes"),
    "trt_opt_level": NumberRule(int, 0, 5),
}

#: fields that take one of a few strings
CHOICES: Dict[str, Tuple[str, ...]] = {"mode": MODES, "isolation": ISOLATIONS, "trt_typing": TRT_TYPINGS}

#: fields a [run] table does not set, with where they go instead
NOT_IN_RUN_TABLE = {"tolerances": "write tolerances as a [tolerances] table, e.g. [tolerances.fp16] rel_l2 = 0.02",
                    "input_ranges": "write input ranges in an [inputs] table, e.g. ranges = {input_ids = [0, 999]}",
                    "load_inputs": "write input files in an [inputs] table, e.g. load = {input_ids = \"ids.npy\"}"}

#: flag options -> (field, the value the flag sets)
FLAG_FIELDS: Dict[str, Tuple[str, bool]] = {
    "cuda_graph": ("cuda_graph", True), "no_cuda_graph": ("cuda_graph", False), "cold": ("cold", True),
    "no_launch_gate": ("launch_gate", False), "spin_wait": ("spin_wait", True),
    "no_data_transfers": ("data_transfers", False), "no_nvml": ("nvml", False),
    "no_accuracy": ("check_accuracy", False), "layer_profile": ("layer_profile", True), "verbose": ("verbose", True),
    "fix_batch": ("fix_batch", True),
}

#: value options whose field has another name
FIELD_OF_OPTION = {"opt_level": "trt_opt_level"}

#: run options that are not one field from one string: --memPoolSize (parsed to bytes), --tolerance (merged
#: per precision with the file's), --results (not a setting), --input-range and --loadInputs (config/inputs.py)
SPECIAL_OPTIONS = ("mem_pool_size", "tolerances", "results", "input_ranges", "load_inputs")


def field_value(field: str, raw: Any, name: str, toml: bool) -> Any:
    """One value for ``field``: an option string (``toml=False``) or a TOML value, checked against the field's type.

    ``name`` is the option or key, for the message: ``--warmup``, ``[run] warmup_ms``."""
    kind = FIELD_TYPES[field]
    if field in CHOICES:
        if not isinstance(raw, str) or raw not in CHOICES[field]:
            raise UserError(f"bad {name} value {show(raw)}: give one of {', '.join(CHOICES[field])}")
        return raw
    if kind is bool:
        if not isinstance(raw, bool):
            raise UserError(f"bad {name} value {show(raw)}: give true or false (a TOML boolean, without quotes)")
        return raw
    if kind in (int, float):
        return parse_number(raw, NUMBER_RULES.get(field, NumberRule(kind)), name, text_ok=not toml)
    if kind is str:
        if not isinstance(raw, str):
            raise UserError(f"bad {name} value {show(raw)}: give a string, in quotes")
        return raw
    raise UserError(f"{name} cannot be set here: {NOT_IN_RUN_TABLE.get(field, 'leave it out')}")


def run_values_from_toml(table: Mapping[str, Any]) -> Dict[str, Any]:
    """A matrix file's ``[run]`` table -> typed field values. Keys are RunSettings' field names."""
    out: Dict[str, Any] = {}
    for key, raw in table.items():
        if key in NOT_IN_RUN_TABLE:
            raise UserError(f"[run] {key}: {NOT_IN_RUN_TABLE[key]}")
        if key not in FIELD_TYPES:
            known = sorted(k for k in FIELD_TYPES if k not in NOT_IN_RUN_TABLE)
            raise UserError(f"unknown key {key!r} in [run]; known keys are {', '.join(known)}")
        out[key] = field_value(key, raw, f"[run] {key}", toml=True)
    return out


def run_values_from_options(values: Mapping[str, Any]) -> Dict[str, Any]:
    """The run options given (dest -> raw string or flag boolean, as either front end passes them) -> typed
    field values. Options not given (None, False) are left out, so a matrix file's ``[run]`` value or the
    default stands; so is an empty path (``--cache-dir ""``), while an empty number is a bad number."""
    if values.get("cuda_graph") and values.get("no_cuda_graph"):
        raise UserError("--cuda-graph and --no-cuda-graph contradict each other: give one")
    out: Dict[str, Any] = {}
    for o in RUN_OPTIONS:
        raw = values.get(o.dest)
        if raw is None or raw is False or o.dest in SPECIAL_OPTIONS:
            continue
        if o.dest in FLAG_FIELDS:
            field, value = FLAG_FIELDS[o.dest]
            out[field] = value
            continue
        field = FIELD_OF_OPTION.get(o.dest, o.dest)
        if raw == "" and FIELD_TYPES[field] is str and field not in CHOICES:
            continue
        out[field] = field_value(field, raw, o.cli_flag, toml=False)
    if values.get("mem_pool_size"):
        out["trt_workspace_bytes"] = parse_mem_pool(values["mem_pool_size"])
    if values.get("input_ranges"):
        out["input_ranges"] = parse_input_ranges(values["input_ranges"])
    if values.get("load_inputs"):
        out["load_inputs"] = parse_load_inputs(values["load_inputs"])
    return out


def check_run(run: Mapping[str, Any]) -> None:
    """Checks across fields, on the merged values (matrix file, then options, over the defaults)."""
    if run.get("cold") and run.get("mode", RunSettings.mode) == "throughput":
        raise UserError("--cold flushes the caches before each query, one query at a time; throughput mode keeps "
                        "queries overlapping: use --mode latency with --cold, or leave --cold out")
    iterations = run.get("iterations", RunSettings.iterations)
    most = run.get("max_iterations", RunSettings.max_iterations)
    if most < iterations:
        raise UserError(f"--max-iterations {most} is below --iterations {iterations}: give --max-iterations >= "
                        f"--iterations (in a matrix file: [run] max_iterations >= iterations)")
    calibration = run.get("calibration")
    if calibration and not Path(calibration).is_file():
        raise UserError(f"calibration file {calibration} does not exist: check the path")
