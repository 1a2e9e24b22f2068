"""Parsing the shape and data options: ``--dim`` (a matrix axis), ``--input-range`` and ``--loadInputs`` (run
settings), from option strings or their TOML forms::

    [matrix]
    dims = {seq = [128, 512, 2048]}

    [inputs]
    ranges = {input_ids = [0, 30521]}
    load = {input_ids = "ids.npy", attention_mask = "mask.npy"}   # or load = "inputs.npz"

Every failure is a one-line ``UserError``. Paths are made absolute here (relative to the working
directory, as every other path of a run), so the worker processes read the same files.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Dict, Iterable, List, Tuple

import numpy as np

from trtbench.config.numbers import NumberRule, parse_number, show
from trtbench.config.parse import positive_int
from trtbench.errors import UserError

_DIM_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")
Dims = Tuple[Tuple[str, Tuple[int, ...]], ...]


def parse_dims(values: Iterable[str]) -> Dims:
    """``["seq=128,512", "past=0,64"]`` -> ``(("seq", (128, 512)), ("past", (0, 64)))``... (sizes > 0)."""
    out: Dict[str, Tuple[int, ...]] = {}
    for raw in values:
        name, sep, rest = str(raw).partition("=")
        name = name.strip()
        if not sep or not _DIM_NAME.match(name) or not rest.strip():
            raise UserError(f"bad --dim {raw!r}: write NAME=V1,V2,... with the dim's symbolic name in the model "
                            f"(letters, digits, '_', '.'; other names: --minShapes/--optShapes/--maxShapes), e.g. "
                            f"--dim seq=128,512,2048")
        out[name] = _dim_values(name, [v for v in rest.split(",") if v.strip()], f"--dim {name}")
    return tuple(out.items())


def dims_from_toml(table: Any) -> Dims:
    """``[matrix] dims = {seq = [128, 512]}``."""
    if not isinstance(table, dict) or not table:
        raise UserError(f"[matrix] dims = {show(table)}: write a table of lists, e.g. dims = {{seq = [128, 512]}}")
    out = []
    for name, values in table.items():
        if not _DIM_NAME.match(name) or not isinstance(values, list) or not values:
            raise UserError(f"[matrix] dims.{name} must be a non-empty list of sizes, e.g. dims = {{seq = [128, 512]}}")
        if any(isinstance(v, (str, bool)) or not isinstance(v, int) for v in values):
            raise UserError(f"bad [matrix] dims.{name} item: give positive integers without quotes, e.g. "
                            f"dims = {{{name} = [128, 512]}}")
        out.append((name, _dim_values(name, values, f"[matrix] dims.{name}")))
    return tuple(out)


def _dim_values(name: str, items: List[Any], where: str) -> Tuple[int, ...]:
    if name == "batch":
        raise UserError(f"{where}: sweep the batch with --batch (batches in a matrix file), not as a named dim")
    if not items:
        raise UserError(f"{where}: give at least one size, e.g. --dim {name}=128,512")
    return tuple(dict.fromkeys(positive_int(v.strip() if isinstance(v, str) else v, where, f"{name}=128,512")
                               for v in items))


def parse_input_ranges(values: Iterable[str], where: str = "--input-range") -> Dict[str, Tuple[float, float]]:
    """``["input_ids:0,999"]`` (several joined by commas too: ``a:0,9,b:-1,1``) -> ``{"input_ids": (0.0, 999.0)}``."""
    out: Dict[str, Tuple[float, float]] = {}
    for raw in values:
        parts = str(raw).split(",")
        if len(parts) % 2:
            raise UserError(f"bad {where} {raw!r}: write NAME:LO,HI (both ends included), e.g. input_ids:0,999")
        for first, hi in zip(parts[::2], parts[1::2]):
            name, sep, lo = first.rpartition(":")
            name = name.strip().strip("'\"")
            if not sep or not name:
                raise UserError(f"bad {where} {raw!r}: write NAME:LO,HI (both ends included), e.g. input_ids:0,999")
            out[name] = _range(name, lo, hi, f"{where} {name}", text_ok=True)
    return out


def ranges_from_toml(table: Any) -> Dict[str, Tuple[float, float]]:
    """``[inputs] ranges = {input_ids = [0, 999]}``."""
    if not isinstance(table, dict):
        raise UserError(f"[inputs] ranges = {show(table)}: write a table, e.g. ranges = {{input_ids = [0, 999]}}")
    out = {}
    for name, pair in table.items():
        if not isinstance(pair, list) or len(pair) != 2:
            raise UserError(f"[inputs] ranges.{name} must be [LO, HI], e.g. ranges = {{input_ids = [0, 999]}}")
        out[name] = _range(name, pair[0], pair[1], f"[inputs] ranges.{name}", text_ok=False)
    return out


def _range(name: str, lo: Any, hi: Any, where: str, text_ok: bool) -> Tuple[float, float]:
    low = float(parse_number(lo, NumberRule(float), f"{where} LO", text_ok))
    high = float(parse_number(hi, NumberRule(float), f"{where} HI", text_ok))
    if low > high:
        raise UserError(f"{where}: LO {low:g} is above HI {high:g}; write NAME:LO,HI with LO <= HI")
    return low, high


def parse_load_inputs(values: Iterable[str], where: str = "--loadInputs") -> Dict[str, str]:
    """trtexec's ``NAME:file.npy,NAME2:file2.npy`` (quotes around a name with ':' in it: ``'in:0':a.npy``), or one
    ``.npz`` whose arrays are named after the inputs -> input name -> absolute path (the array of that name in an
    ``.npz``, the whole file for an ``.npy``)."""
    out: Dict[str, str] = {}
    for raw in values:
        for item in (p.strip() for p in str(raw).split(",") if p.strip()):
            if item.lower().endswith(".npz") and ":" not in _unquoted_name(item)[0]:
                for name in _npz_names(item, where):
                    _put(out, name, item, where)
                continue
            name, path = _unquoted_name(item)
            if not name or not path:
                raise UserError(f"bad {where} entry {item!r}: write NAME:file.npy (several separated by commas) or "
                                f"one file.npz with an array per input")
            _check_file(path, where)
            _put(out, name, path, where)
    return out


def load_from_toml(value: Any) -> Dict[str, str]:
    """``[inputs] load = {NAME = "file.npy"}`` or ``load = "inputs.npz"``."""
    where = "[inputs] load"
    if isinstance(value, str):
        return parse_load_inputs([value], where)
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise UserError(f"{where} = {show(value)}: write load = {{input_ids = \"ids.npy\"}} or load = \"inputs.npz\"")
    out: Dict[str, str] = {}
    for name, path in value.items():
        _check_file(path, where)
        _put(out, name, path, where)
    return out


def _unquoted_name(item: str) -> Tuple[str, str]:
    if item[:1] in "'\"" and item[:1] in item[1:]:
        end = item.index(item[0], 1)
        return item[1:end], item[end + 1:].lstrip(":")
    name, _, path = item.partition(":")
    return name.strip(), path.strip()


def _check_file(path: str, where: str) -> None:
    if not Path(path).is_file():
        raise UserError(f"{where}: file {path} does not exist: check the path")
    if not path.lower().endswith((".npy", ".npz")):
        raise UserError(f"{where}: {path} is not a .npy or .npz file: save the array with numpy.save")


def _npz_names(path: str, where: str) -> List[str]:
    _check_file(path, where)
    try:
        with np.load(path, allow_pickle=False) as data:
            names = list(data.files)
    except Exception as exc:
        raise UserError(f"{where}: {path} is not a readable .npz ({type(exc).__name__}): save it with "
                        f"numpy.savez") from None
    if not names:
        raise UserError(f"{where}: {path} holds no arrays: save one array per input, named after it")
    return names


def _put(out: Dict[str, str], name: str, path: str, where: str) -> None:
    if name in out:
        raise UserError(f"{where} gives input {name!r} twice: give each input once")
    out[name] = os.path.abspath(path)
