"""Statistics over raw samples, computed the way trtexec computes them.

Percentiles are nearest-rank, as in trtexec's ``findPercentile``: for n sorted samples the p-th
percentile is ``sorted[max(n - 1 - floor((1 - p/100) * n), 0)]``, a sample that was really measured
(no interpolation). The median is the middle sample, or the mean of the two middle ones.
"""

from __future__ import annotations

import math
from typing import Dict, List, Optional, Sequence

PERCENTILES = (90, 95, 99)


def nearest_rank(sorted_values: Sequence[float], p: float) -> float:
    n = len(sorted_values)
    if n == 0:
        raise ValueError("no samples")
    exclude = int((1.0 - p / 100.0) * n + 1e-9)  # 1e-9: (1 - 0.9) * 100 is 9.999... in binary
    return float(sorted_values[max(n - 1 - exclude, 0)])


def median(sorted_values: Sequence[float]) -> float:
    n = len(sorted_values)
    if n == 0:
        raise ValueError("no samples")
    mid = n // 2
    return float(sorted_values[mid]) if n % 2 else (sorted_values[mid - 1] + sorted_values[mid]) / 2.0


def median_of(values: Sequence[float]) -> Optional[float]:
    """The median of values in any order; None when there are none."""
    return median(sorted(values)) if len(values) else None


def describe(values: Sequence[float]) -> Dict[str, float]:
    """min, max, mean, std (sample), median, p25/p75, IQR, p90/p95/p99 and the coefficient of variation."""
    xs: List[float] = sorted(float(v) for v in values)
    n = len(xs)
    if n == 0:
        return {"n": 0}
    mean = math.fsum(xs) / n
    var = math.fsum((x - mean) ** 2 for x in xs) / (n - 1) if n > 1 else 0.0
    std = math.sqrt(var)
    q1, q3 = nearest_rank(xs, 25), nearest_rank(xs, 75)
    out = {"n": n, "min": xs[0], "max": xs[-1], "mean": mean, "std": std, "median": median(xs),
           "p25": q1, "p75": q3, "iqr": q3 - q1, "cv": std / mean if mean > 0 else 0.0}
    for p in PERCENTILES:
        out[f"p{p}"] = nearest_rank(xs, p)
    return out
