"""Comparing two measurements of the same variant: the ratio of medians with a bootstrap confidence
interval, and a two-sample test on the raw samples (Mann-Whitney U).

Samples inside one run are not independent (clocks, caches and thermal state drift together), so a
test on thousands of raw samples calls tiny differences "significant". The decision therefore needs
both: significance *and* a change beyond the threshold the user asked for; the interval of the ratio
(whose lower end must clear the threshold for a regression) is what makes it noise-aware.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

MAX_BOOT_SAMPLES = 2000


@dataclass(frozen=True)
class Comparison:
    baseline_median: float
    candidate_median: float
    ratio: float  # candidate / baseline
    ci_low: float
    ci_high: float
    p_value: Optional[float]
    n_baseline: int
    n_candidate: int

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def _thin(x: np.ndarray, n: int) -> np.ndarray:
    if x.size <= n:
        return x
    return np.sort(x)[np.linspace(0, x.size - 1, n).astype(int)]  # keeps the distribution's quantiles


def bootstrap_medians(x: np.ndarray, n_boot: int, rng) -> np.ndarray:
    """Bootstrap replicates of the median without resampling: the median of n draws from the empirical
    distribution is the sorted sample at a rank whose position is Beta((n+1)/2, (n+1)/2) distributed
    (the median order statistic of n uniforms). O(n_boot) instead of O(n_boot * n)."""
    xs = np.sort(x)
    a = (xs.size + 1) / 2.0
    idx = np.minimum((rng.beta(a, a, n_boot) * xs.size).astype(np.int64), xs.size - 1)
    return xs[idx]


def compare_samples(baseline: Sequence[float], candidate: Sequence[float], *, confidence: float = 0.99,
                    n_boot: int = 2000, seed: int = 0) -> Comparison:
    b = np.asarray(baseline, dtype=np.float64)
    c = np.asarray(candidate, dtype=np.float64)
    if b.size == 0 or c.size == 0:
        raise ValueError("no samples to compare")
    mb, mc = float(np.median(b)), float(np.median(c))
    ratio = mc / mb if mb > 0 else float("inf")
    rng = np.random.default_rng(seed)
    if b.size > 1 and c.size > 1:
        bb, cb = bootstrap_medians(b, n_boot, rng), bootstrap_medians(c, n_boot, rng)
        ratios = cb / np.where(bb > 0, bb, np.nan)
        lo, hi = np.nanpercentile(ratios, [50 * (1 - confidence), 100 - 50 * (1 - confidence)])
    else:
        lo = hi = ratio
    p = None
    if b.size > 1 and c.size > 1:
        try:
            from scipy.stats import mannwhitneyu

            p = float(mannwhitneyu(_thin(b, 5000), _thin(c, 5000), alternative="two-sided").pvalue)
        except ImportError:
            p = None
    return Comparison(mb, mc, ratio, float(lo), float(hi), p, int(b.size), int(c.size))


def summary_comparison(b_stats: dict, c_stats: dict) -> Comparison:
    """When only summaries exist (pytest-benchmark JSON without data): the ratio, no interval, no test."""
    mb, mc = b_stats["median"], c_stats["median"]
    r = mc / mb if mb else float("inf")
    return Comparison(mb, mc, r, r, r, None, int(b_stats.get("n", 0)), int(c_stats.get("n", 0)))


def benjamini_hochberg(p_values: Sequence[Optional[float]], q: float) -> list:
    """Which hypotheses are rejected at false-discovery rate ``q`` (None p-values are never rejected)."""
    idx = [i for i, p in enumerate(p_values) if p is not None]
    m = len(idx)
    reject = [False] * len(p_values)
    if not m:
        return reject
    order = sorted(idx, key=lambda i: p_values[i])
    k_max = 0
    for rank, i in enumerate(order, start=1):
        if p_values[i] <= q * rank / m:
            k_max = rank
    for i in order[:k_max]:
        reject[i] = True
    return reject
