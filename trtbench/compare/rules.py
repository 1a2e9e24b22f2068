"""Gate rules, parsed once at the boundary: ``METRIC[.STAT]:THRESHOLD``.

- stage metrics (``h2d``, ``compute``, ``d2h``, ``latency``, ``e2e``, ``enqueue``; under load also ``response``,
  arrival to D2H end, and ``queue``, arrival to dispatch) with a statistic
  (``p50``/``median``, ``mean``, ``min``, ``p90``, ``p95``, ``p99``) and a relative threshold ``5%``:
  judged on the per-trial values of that statistic (interval + test over trials);
- ``throughput:5%`` (a drop is the regression): per-trial inferences/s (under load: the GPU-span throughput at
  the variant's concurrency or request rate; for a latency-budget variant, at the highest rate within budget);
- ``memory.peak:10%``, ``energy:10%``: relative, on the per-variant values;
- ``accuracy.rel_l2:abs:1e-3``, ``accuracy.max_abs:abs:X`` (an increase), ``accuracy.top1:abs:0.01`` (a drop).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import List, Optional, Sequence

from trtbench.errors import UserError

STAGES = ("h2d", "compute", "d2h", "latency", "e2e", "enqueue", "response", "queue")
STATS = {"p50": 50.0, "median": 50.0, "p90": 90.0, "p95": 95.0, "p99": 99.0, "mean": None, "min": 0.0}
OTHER = {"throughput": "relative", "memory.peak": "relative", "energy": "relative",
         "accuracy.rel_l2": "absolute", "accuracy.max_abs": "absolute", "accuracy.top1": "absolute"}
DEFAULT_SPECS = ("compute.p50:5%", "h2d.p50:10%", "d2h.p50:10%", "latency.p99:10%", "response.p99:10%")
#: ``trtbench ab``'s defaults: interleaved rounds resolve far smaller compute changes than separate runs
AB_DEFAULT_SPECS = ("compute.p50:1%", "h2d.p50:10%", "d2h.p50:10%", "latency.p99:10%", "response.p99:10%")

FORMS = ("STAGE.STAT:N% with STAGE in " + "/".join(STAGES) + " and STAT in " + "/".join(STATS) +
         " (e.g. compute.p50:5%, latency.p99:10%); throughput:N%; memory.peak:N%; energy:N%; "
         "accuracy.rel_l2:abs:X; accuracy.max_abs:abs:X; accuracy.top1:abs:X")


@dataclass(frozen=True)
class GateSpec:
    text: str
    metric: str  # "compute", "throughput", "memory.peak", "energy", "accuracy.rel_l2", ...
    stat: Optional[str]  # for stages
    threshold: float  # fraction (0.05) for relative, value for absolute
    absolute: bool
    default: bool = False  # one of the default rules (a metric neither run measured is then not applicable)

    @property
    def on_samples(self) -> bool:
        return self.metric in STAGES

    @property
    def on_trials(self) -> bool:
        """Judged on one value per trial (stage statistics, throughput), not on one value per variant."""
        return self.metric in STAGES or self.metric == "throughput"

    @property
    def name(self) -> str:
        return self.metric + (f".{self.stat}" if self.stat else "")

    @property
    def higher_is_worse(self) -> bool:
        return self.metric not in ("throughput", "accuracy.top1")

    @property
    def quantile(self) -> Optional[float]:
        return STATS.get(self.stat) if self.stat else None


def _bad(text: str, why: str) -> UserError:
    return UserError(f"bad --fail-on {text!r} ({why}); accepted forms: {FORMS}")


def parse_spec(text: str) -> GateSpec:
    t = text.strip()
    if ":" not in t:
        raise _bad(text, "no threshold")
    name, _, rest = t.partition(":")
    name = name.strip().lower()
    absolute = False
    if rest.lower().startswith("abs:"):
        absolute, rest = True, rest[4:]
    try:
        if rest.endswith("%"):
            if absolute:
                raise _bad(text, "an abs: threshold takes a plain number")
            value = float(rest[:-1]) / 100.0
        else:
            if not absolute:
                raise _bad(text, "a relative threshold ends with %")
            value = float(rest)
    except ValueError:
        raise _bad(text, f"{rest!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise _bad(text, "the threshold must be a finite number >= 0")
    if name in OTHER:
        if (OTHER[name] == "absolute") != absolute:
            raise _bad(text, f"{name} takes {'abs:X' if OTHER[name] == 'absolute' else 'N%'}")
        return GateSpec(t, name, None, value, absolute)
    stage, _, stat = name.partition(".")
    if stage not in STAGES:
        raise _bad(text, f"unknown metric {name!r}")
    stat = stat or "p50"
    if stat not in STATS:
        raise _bad(text, f"unknown statistic {stat!r}")
    if absolute:
        raise _bad(text, "stage times take a relative threshold N%")
    return GateSpec(t, stage, "p50" if stat == "median" else stat, value, False)


def parse_specs(texts: Optional[Sequence[str]], defaults: Sequence[str] = DEFAULT_SPECS) -> List[GateSpec]:
    specs = [parse_spec(t) for t in texts] if texts else [replace(parse_spec(t), default=True) for t in defaults]
    seen = set()
    for s in specs:
        key = (s.metric, s.stat)
        if key in seen:
            raise UserError(f"--fail-on names {s.metric}{'.' + s.stat if s.stat else ''} twice: give it once")
        seen.add(key)
    return specs
