"""The load axes at the config boundary: ``--concurrency``, ``--request-rate`` and ``--latency-budget``.

The same rules for option strings and TOML values (``[matrix] concurrencies``, ``request_rates``,
``latency_budget``); every bad value is a one-line ``UserError`` saying what is accepted.
"""

from __future__ import annotations

import re
from typing import Any, Iterable, List, Optional, Tuple

from trtbench.config.numbers import NumberRule, parse_number, read_number, show
from trtbench.errors import UserError

#: queries in flight: each one holds its own buffers (and on TensorRT its own context), so a typo is bounded
MAX_CONCURRENCY = 256
CONCURRENCY_RULE = NumberRule(int, 1, MAX_CONCURRENCY)
RATE_RULE = NumberRule(float, 0, 1e7, unit="queries per second", above=True)
_BUDGET = re.compile(r"^\s*([0-9.eE+-]+)\s*(us|ms|s)?\s*$")
_UNIT_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, None: 1.0}
BUDGET_RULE = NumberRule(float, 0, 3.6e6, unit="milliseconds", above=True)


def _items(values: Iterable[Any]) -> List[Any]:
    """Option strings comma-split (repeatable flags); TOML values as they are."""
    out: List[Any] = []
    for v in values:
        out.extend([p.strip() for p in v.split(",") if p.strip()] if isinstance(v, str) else [v])
    return out


def parse_concurrencies(values: Iterable[Any], name: str = "--concurrency", text_ok: bool = True) -> Tuple[int, ...]:
    """``["1,2", "4"]`` -> ``(1, 2, 4)``: queries in flight, integers from 1 to 256."""
    items = _items(values)
    if not items:
        raise UserError(f"no concurrency given: pass {name} 1,2,4,8 (queries in flight)")
    out = [int(parse_number(x, CONCURRENCY_RULE, name, text_ok)) for x in items]
    return tuple(dict.fromkeys(out))


def parse_request_rates(values: Iterable[Any], name: str = "--request-rate", text_ok: bool = True
                        ) -> Tuple[float, ...]:
    """``["100,200.5"]`` -> ``(100.0, 200.5)``: open-loop arrivals per second, finite and > 0."""
    items = _items(values)
    if not items:
        raise UserError(f"no request rate given: pass {name} 100,200 (Poisson arrivals per second)")
    out = [float(parse_number(x, RATE_RULE, name, text_ok)) for x in items]
    return tuple(dict.fromkeys(out))


def parse_latency_budget(raw: Any, name: str = "--latency-budget", text_ok: bool = True) -> float:
    """``"10ms"``, ``"0.5s"``, ``"500us"`` or a plain number of milliseconds -> milliseconds (finite, > 0)."""
    value: Optional[float] = None
    if isinstance(raw, str):
        m = _BUDGET.match(raw)
        if m:
            number = read_number(m.group(1), NumberRule(float, 0, above=True))
            value = number * _UNIT_MS[m.group(2)] if number is not None else None
    elif not isinstance(raw, bool) and isinstance(raw, (int, float)):
        value = read_number(raw, BUDGET_RULE, text_ok=False)
    if value is None or not BUDGET_RULE.admits(value):
        raise UserError(f"bad {name} value {show(raw)}: give a p99 latency budget > 0 with a unit, e.g. 10ms, 0.5s "
                        f"or 500us (a plain number is milliseconds)")
    return float(value)


def check_load_combination(concurrencies: Tuple[int, ...], request_rates: Tuple[Optional[float], ...],
                           latency_budget_ms: Optional[float], cold: bool) -> None:
    """Options that do not combine with the load axes, said before anything runs."""
    open_loop = any(r is not None for r in request_rates)
    if latency_budget_ms is not None and open_loop:
        raise UserError("--latency-budget searches the request rate itself: give --request-rate or "
                        "--latency-budget, not both")
    if cold and (open_loop or latency_budget_ms is not None or max(concurrencies) > 1):
        raise UserError("--cold measures one query at a time with the caches flushed before it; it does not combine "
                        "with --concurrency above 1, --request-rate or --latency-budget: leave --cold out")
