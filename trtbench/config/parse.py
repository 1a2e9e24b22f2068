"""Parsing user strings (CLI flags, pytest options, TOML values) into typed specs, once, at the boundary.

Every failure is a ``UserError`` whose message says what is wrong and what the accepted form is.
"""

from __future__ import annotations

import re
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from trtbench.errors import UserError
from trtbench.matrix.spec import BUILD_MODES, PRECISIONS, InputRange, ShapeProfile

_NAME = re.compile(r"^[A-Za-z0-9_.]+$")


def split_list(values: Iterable[str]) -> List[str]:
    """``["a,b", "c"]`` -> ``["a", "b", "c"]`` (flags may be repeated or comma-separated)."""
    out: List[str] = []
    for v in values:
        out.extend(p.strip() for p in str(v).split(",") if p.strip())
    return out


def parse_shape(text: str, what: str = "shape") -> Tuple[int, ...]:
    """``"1x3x224x224"`` -> ``(1, 3, 224, 224)``."""
    parts = text.strip().lower().split("x")
    try:
        dims = tuple(int(p) for p in parts)
    except ValueError:
        raise UserError(f"bad {what} {text!r}: write dimensions joined by 'x', e.g. 1x3x224x224") from None
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
    items: List = []
    for v in values:
        items.extend([v] if isinstance(v, int) and not isinstance(v, bool) else split_list([v]))
    out = []
    for v in items:
        try:
            b = int(v)
        except (TypeError, ValueError):
            raise UserError(f"bad batch size {v!r}: batch sizes are positive integers, e.g. --batch 1,8,32") from None
        if b <= 0:
            raise UserError(f"bad batch size {b}: batch sizes are positive integers")
        out.append(b)
    if not out:
        raise UserError("no batch size given: pass --batch 1,8")
    return tuple(dict.fromkeys(out))


def parse_choices(values: Iterable[str], allowed: Sequence[str], what: str, flag: str) -> Tuple[str, ...]:
    out = []
    for v in split_list(values):
        if v not in allowed:
            raise UserError(f"unknown {what} {v!r}: {flag} takes {', '.join(allowed)}")
        out.append(v)
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
    try:
        lo, opt, hi = (int(n) for n in nums)
    except ValueError:
        raise UserError(f"bad --profile {text!r}: MIN, OPT and MAX are integers, e.g. dyn:1,8,32") from None
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


def profile_from_toml(name: str, table: dict) -> ShapeProfile:
    if "batch" in table:
        b = table["batch"]
        if not (isinstance(b, list) and len(b) == 3 and all(isinstance(x, int) for x in b)):
            raise UserError(f"profile {name} in the matrix file: batch must be [min, opt, max], e.g. [1, 8, 32]")
        return batch_profile(name, *b)
    if "min" in table:
        def one(key):
            return parse_shapes(table[key], f"profiles.{name}.{key}") if key in table else None
        return shapes_profile(name, one("min"), one("opt"), one("max"))
    raise UserError(f"profile {name} in the matrix file needs batch = [min, opt, max] or "
                    f"min/opt/max = \"input:1x3x224x224\"")


def _number(opt: str, text: Any, cast, minimum: float):
    try:
        value = cast(text)
    except (TypeError, ValueError):
        raise UserError(f"bad {opt} value {text!r}: give a number") from None
    if value < minimum:
        raise UserError(f"bad {opt} value {text!r}: it must be at least {minimum}")
    return value


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


def strict_int(flag: str, text: Any, minimum: int) -> int:
    """An integer option from a string or a TOML/JSON integer: ASCII digits only (no '1_0', no full-width
    digits, no '2.0', no booleans), at least ``minimum``."""
    if isinstance(text, bool):
        raise UserError(f"bad {flag} value {text!r}: give a whole number >= {minimum}")
    if isinstance(text, int):
        value = text
    else:
        t = str(text).strip()
        body = t[1:] if t[:1] in "+-" else t
        if not (body.isascii() and body.isdigit()):
            raise UserError(f"bad {flag} value {text!r}: give a whole number >= {minimum}")
        value = int(t)
    if value < minimum:
        raise UserError(f"bad {flag} value {text!r}: it must be at least {minimum}")
    return value
