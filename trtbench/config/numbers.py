"""Strict numbers at the config boundary, one rule per number, the same for CLI strings, pytest strings and TOML.

Python's own ``int()``/``float()`` are too lenient for user input: they accept ``1_0``, full-width and other
non-ASCII digits (``'１０'``), ``nan`` and ``inf`` (``--warmup inf`` would warm up forever), and ``int(2.7)``
silently truncates. Here a string must be plain ASCII decimal, a TOML value must already have the right
TOML type (no booleans, no floats where an integer is needed), and the result must be finite and in range.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Optional, Union

from trtbench.errors import UserError

_INT_TEXT = re.compile(r"[+-]?[0-9]+")
_FLOAT_TEXT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")

_MAX_TEXT = 100  # longer is a paste error (and int() raises ValueError past 4300 digits on current Pythons)
Number = Union[int, float]


@dataclass(frozen=True)
class NumberRule:
    """What one number may be: ``kind`` int or float, bounds (inclusive, but ``above`` makes the minimum
    exclusive), and the unit named in the message."""

    kind: type  # int or float
    minimum: Optional[Number] = None
    maximum: Optional[Number] = None
    unit: str = ""  # "milliseconds": "a finite number of milliseconds >= 0"
    above: bool = False  # minimum is exclusive (> minimum)

    @property
    def form(self) -> str:
        """The accepted form, as the end of an error message: 'an integer >= 1', 'a finite number > 0'."""
        noun = "an integer" if self.kind is int else "a finite number"
        if self.unit:
            noun += " of " + self.unit
        if self.minimum is not None and self.maximum is not None and not self.above:
            return f"{noun} from {_g(self.minimum)} to {_g(self.maximum)}"
        bounds = []
        if self.minimum is not None:
            bounds.append(f"{'>' if self.above else '>='} {_g(self.minimum)}")
        if self.maximum is not None:
            bounds.append(f"<= {_g(self.maximum)}")
        return " ".join([noun, " and ".join(bounds)]) if bounds else noun

    def admits(self, value: Number) -> bool:
        if self.minimum is not None and (value <= self.minimum if self.above else value < self.minimum):
            return False
        return self.maximum is None or value <= self.maximum


def _g(x: Number) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


def show(value: Any) -> str:
    """A value as the user wrote it: strings quoted, TOML booleans as true/false."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a table"
    text = repr(value)
    return text if len(text) <= 60 else text[:56] + "...'"


def _from_text(text: str, kind: type) -> Optional[Number]:
    """ASCII decimal only (no '_', no '１０', no 'nan'/'inf'); an int option takes no decimal point."""
    text = text.strip(" \t")
    if len(text) > _MAX_TEXT or not (_INT_TEXT if kind is int else _FLOAT_TEXT).fullmatch(text):
        return None
    value = int(text) if kind is int else float(text)
    return value if kind is int or math.isfinite(value) else None  # '1e999' overflows to inf


def _from_toml(value: Any, kind: type) -> Optional[Number]:
    """A TOML integer, or for a float also a TOML float; booleans are not numbers here."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if kind is int:
        return value if isinstance(value, int) else None
    try:
        value = float(value)
    except OverflowError:
        return None
    return value if math.isfinite(value) else None


def read_number(raw: Any, rule: NumberRule, text_ok: bool = True) -> Optional[Number]:
    """``raw`` (an option string, or a value read from TOML) -> a number that satisfies ``rule``, else None.

    ``text_ok=False`` (TOML): a quoted number is a string, and strings are not numbers there."""
    if isinstance(raw, str):
        value = _from_text(raw, rule.kind) if text_ok else None
    else:
        value = _from_toml(raw, rule.kind)
    return value if value is not None and rule.admits(value) else None


def parse_number(raw: Any, rule: NumberRule, name: str, text_ok: bool = True) -> Number:
    """``read_number``, or a one-line ``UserError`` that names where the value came from (``--warmup``,
    ``[run] warmup_ms``) and gives the accepted form."""
    value = read_number(raw, rule, text_ok)
    if value is None:
        quotes = ", without quotes" if isinstance(raw, str) and not text_ok else ""
        raise UserError(f"bad {name} value {show(raw)}: give {rule.form}{quotes}")
    return value
