"""Parsing user strings (CLI flags, pytest options, TOML values) into typed specs, once, at the boundary.

Every failure is a ``UserError`` whose message says what is wrong and what the accepted form is.
"""

from __future__ import annotations

import os
import re
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from trtbench.config.numbers import NumberRule, parse_number, read_number, show
from trtbench.errors import UserError
from trtbench.matrix.spec import BUILD_MODES, PRECISIONS, InputRange, ShapeProfile

_NAME = re.compile(r"^[A-Za-z0-9_.]+$")
_DIGITS = re.compile(r"[0-9]+")  # ASCII only: str.isdigit() and int() also take '１０' and '1_0'


def split_list(values: Iterable[str]) -> List[str]:
    """``["a,b", "c"]`` -> ``["a", "b", "c"]`` (flags may be repeated or comma-separated)."""
    out: List[str] = []
    for v in values:
        out.extend(p.strip() for p in str(v).split(",") if p.strip())
    return out


def split_models(values: Iterable[str]) -> List[str]:
    """Model references: like ``split_list``, except that commas inside an existing file's path do not split.

    ``-m mlp,resnet`` is two models; ``-m data/a,b.onnx`` is one file when ``data/a,b.onnx`` exists (so is
    ``-m mlp,data/a,b.onnx``: at each position the longest comma-joined run that names a file wins)."""
    out: List[str] = []
    for v in values:
        parts = str(v).split(",")
        i = 0
        while i < len(parts):
            j = _end_of_file_name(parts, i)
            item = ",".join(parts[i:j]).strip()
            if item:
                out.append(item)
            i = j
    return out


def _end_of_file_name(parts: List[str], i: int) -> int:
    """The end of the longest run ``parts[i:j]`` (two or more) that, comma-joined, is an existing file; else i+1."""
    for j in range(len(parts), i + 1, -1):
        if os.path.isfile(",".join(parts[i:j]).strip()):
            return j
    return i + 1


def _ascii_int(text: str) -> Optional[int]:
    """``"32"`` -> 32; anything but plain ASCII digits (signs, '_', '１０', '2.0') -> None."""
    text = text.strip()
    return int(text) if _DIGITS.fullmatch(text) and len(text) < 100 else None


def parse_shape(text: str, what: str = "shape") -> Tuple[int, ...]:
    """``"1x3x224x224"`` -> ``(1, 3, 224, 224)``."""
    dims = tuple(_ascii_int(p) for p in text.strip().lower().split("x"))
    if None in dims:
        raise UserError(f"bad {what} {text!r}: write positive integers joined by 'x', e.g. 1x3x224x224")
    if any(d <= 0 for d in dims):
        raise UserError(f"bad {what} {text!r}: every dimension must be a positive integer")
    return dims


def parse_shapes(text: str, flag: str = "--shapes") -> Dict[str, Tuple[int, ...]]:
    """trtexec's ``name:1x3x224x224,other:1x16`` -> ``{"name": (1, 3, 224, 224), "other": (1, 16)}``."""
    out: Dict[str, Tuple[int, ...]] = {}
    for item in split_list([text]):
        name, sep, shape = item.rpartition(":")
        if not sep or not name:
            raise UserError(f"bad {flag} entry {item!r}: write input_name:1x3x224x224 "
                            f"(several separated by commas)")
        name = name.strip("'\"")
        if name in out:
            raise UserError(f"{flag} names input {name!r} twice: give each input once")
        out[name] = parse_shape(shape, f"{flag} shape for {name}")
    return out


def parse_batches(values: Iterable) -> Tuple[int, ...]:
    """``["1,8", "32"]`` (option strings, repeated or comma-separated; integers pass too) -> ``(1, 8, 32)``."""
    items: List = []
    for v in values:
        items.extend([v] if not isinstance(v, str) else split_list([v]))
    out = [positive_int(v, "--batch", "--batch 1,8,32") for v in items]
    if not out:
        raise UserError("no batch size given: pass --batch 1,8")
    return tuple(dict.fromkeys(out))


def positive_int(raw: Any, name: str, example: str) -> int:
    """A batch-like count: an ASCII digit string or a (non-boolean) integer, > 0."""
    if isinstance(raw, str):
        value = _ascii_int(raw)
    else:
        value = raw if isinstance(raw, int) and not isinstance(raw, bool) else None
    if value is None or value <= 0:
        raise UserError(f"bad {name} value {show(raw)}: give positive integers, e.g. {example}")
    return value


def parse_choices(values: Iterable[str], allowed: Sequence[str], what: str, flag: str) -> Tuple[str, ...]:
    out = []
    for v in split_list(values):
        if v not in allowed:
            raise UserError(f"unknown {what} {v!r}: {flag} takes {', '.join(allowed)}")
        out.append(v)
    if not out:
        raise UserError(f"no {what} given: {flag} takes {', '.join(allowed)}")
    return tuple(dict.fromkeys(out))


def parse_precisions(values: Iterable[str]) -> Tuple[str, ...]:
    return parse_choices(values, list(PRECISIONS), "precision", "--precision")


def parse_build_modes(values: Iterable[str]) -> Tuple[str, ...]:
    return parse_choices(values, list(BUILD_MODES), "build mode", "--build-mode")


def _check_name(name: str, what: str) -> str:
    if not _NAME.match(name):
        raise UserError(f"bad {what} name {name!r}: use letters, digits, '_' and '.' only")
    return name


def batch_profile(name: str, lo: int, opt: int, hi: int) -> ShapeProfile:
    _check_name(name, "profile")
    if not (0 < lo <= opt <= hi):
        raise UserError(f"profile {name}: need 0 < min <= opt <= max, got min {lo}, opt {opt}, max {hi}; "
                        f"fix the order")
    return ShapeProfile(name, batch=(lo, opt, hi))


def parse_profile(text: str) -> ShapeProfile:
    """``"dyn:1,8,32"`` (or ``dyn:1/8/32``): a batch-only profile named ``dyn``."""
    name, sep, rest = text.partition(":")
    nums = re.split(r"[,/]", rest) if sep else []
    if len(nums) != 3:
        raise UserError(f"bad --profile {text!r}: write NAME:MIN,OPT,MAX for the batch dimension, e.g. dyn:1,8,32 "
                        f"(per-input shapes: --minShapes/--optShapes/--maxShapes)")
    lo, opt, hi = (_ascii_int(n) for n in nums)
    if lo is None or opt is None or hi is None:
        raise UserError(f"bad --profile {text!r}: MIN, OPT and MAX are positive integers, e.g. dyn:1,8,32")
    return batch_profile(name, lo, opt, hi)


def shapes_profile(name: str, mins: Dict[str, Tuple[int, ...]], opts: Optional[Dict[str, Tuple[int, ...]]],
                   maxs: Optional[Dict[str, Tuple[int, ...]]]) -> ShapeProfile:
    """trtexec's --minShapes/--optShapes/--maxShapes as one profile (opt and max default to min, as there)."""
    _check_name(name, "profile")
    opts = opts or {}
    maxs = maxs or {}
    names = list(dict.fromkeys(list(mins) + list(opts) + list(maxs)))
    ranges = []
    for n in names:
        lo = mins.get(n) or opts.get(n) or maxs.get(n)
        opt = opts.get(n) or lo
        hi = maxs.get(n) or opt
        if not (len(lo) == len(opt) == len(hi)):
            raise UserError(f"profile {name}: input {n} has min {_x(lo)}, opt {_x(opt)}, max {_x(hi)} of different "
                            f"ranks; give the same number of dimensions")
        if not all(a <= b <= c for a, b, c in zip(lo, opt, hi)):
            raise UserError(f"profile {name}: input {n} needs min <= opt <= max in every dimension, got "
                            f"{_x(lo)} / {_x(opt)} / {_x(hi)}")
        ranges.append(InputRange(n, lo, opt, hi))
    return ShapeProfile(name, inputs=tuple(ranges))


def _x(s) -> str:
    return "x".join(map(str, s))


_POOL_UNITS = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
MAX_WORKSPACE_BYTES = 1 << 40  # 1 TiB: more than any GPU has; a bigger number is a typo


def parse_mem_pool(text: str) -> int:
    """trtexec's ``workspace:1024`` (MiB), ``workspace:2G``, ``workspace:512M``, ``workspace:64K`` -> bytes."""
    pool, sep, size = str(text).partition(":")
    if not sep or pool.strip().lower() != "workspace":
        raise UserError(f"bad --memPoolSize {text!r}: write workspace:SIZE, e.g. workspace:1024 (MiB) or workspace:2G")
    size = size.strip().upper().replace("IB", "").rstrip("B")
    unit = _POOL_UNITS.get(size[-1:], 1 << 20)
    number = read_number(size[:-1] if size[-1:] in _POOL_UNITS else size,
                         NumberRule(float, 0, MAX_WORKSPACE_BYTES / unit, above=True))  # bounded before scaling
    if number is None or int(number * unit) <= 0:
        raise UserError(f"bad --memPoolSize {text!r}: give workspace:SIZE with a finite SIZE from 1 byte to 1T, "
                        f"in MiB or with a K/M/G suffix, e.g. workspace:1024 or workspace:2G")
    return int(number * unit)


#: accuracy tolerance keys -> what each may be (rel_l2: relative L2 error; top1: top-1 agreement, a fraction)
TOLERANCE_RULES = {"rel_l2": NumberRule(float, 0, above=True), "top1": NumberRule(float, 0, 1)}


def tolerance_value(key: str, raw: Any, name: str, text_ok: bool = True) -> float:
    """One tolerance value (``key`` one of ``TOLERANCE_RULES``), checked the same for ``--tolerance`` strings and
    ``[tolerances]`` TOML tables; ``name`` says where it came from, e.g. ``--tolerance fp16:rel_l2``."""
    return float(parse_number(raw, TOLERANCE_RULES[key], name, text_ok))


def parse_tolerance(text: str) -> Dict[str, Dict[str, float]]:
    """``fp16:rel_l2=0.02,top1=0.97`` -> ``{"fp16": {"rel_l2": 0.02, "top1": 0.97}}``."""
    prec, sep, rest = str(text).partition(":")
    prec = prec.strip()
    if not sep or prec not in PRECISIONS:
        raise UserError(f"bad --tolerance {text!r}: write PRECISION:rel_l2=X[,top1=Y], PRECISION one of "
                        f"{', '.join(PRECISIONS)}")
    out: Dict[str, float] = {}
    for item in rest.split(","):
        key, eq, val = item.partition("=")
        key = key.strip()
        if not eq or key not in TOLERANCE_RULES:
            raise UserError(f"bad --tolerance {text!r}: keys are rel_l2 and top1, e.g. fp16:rel_l2=0.02,top1=0.97")
        out[key] = tolerance_value(key, val, f"--tolerance {prec}:{key}")
    return {prec: out}



def strict_int(flag: str, text: Any, minimum: int) -> int:
    """An integer option (``--rounds``, ``--device``...): ASCII digits only, at least ``minimum``."""
    return int(parse_number(text, NumberRule(int, minimum), flag))
