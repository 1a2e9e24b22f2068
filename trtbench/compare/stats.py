"""Statistics of the regression gate, on per-trial values.

Why trials: on an H100 the same cached TensorRT engine's median compute time moves 3-20% between
separate processes, while one process's thousands of samples are precise to ~0.1%. A test that treats
every sample as independent therefore calls every real A/A pair "significant". Here each variant is
measured in N trials (each a fresh worker process) and each trial gives one value per metric; those
values are what is compared. Times and rates are positive and their changes multiplicative, so the
statistics work on log values and report ratios (candidate / baseline).

Everything here is pure: numbers in, estimates and verdict strings out; no I/O, no randomness.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass
from typing import List, Optional, Sequence, Tuple

import numpy as np
from scipy import stats as _st

from trtbench.errors import UserError

NO_VARIANCE_HINT = "run with --trials 3 or --history"
# A variance of the log ratio below this is floating-point rounding of identical values, not a measurement
# (se 1e-12 = 1e-10 %); it would give p ~ 1e-30 for any difference, so it counts as "no variance".
MIN_SE2 = 1e-24


class InvalidData(UserError):
    """Per-trial values or gate inputs that cannot be compared (missing, NaN, non-positive, not numbers).

    A UserError: the CLI prints the one-line message (what is wrong, where, how to fix it) and no traceback.
    A bad value must stop the gate rather than be skipped: a NaN accuracy or a zero time silently dropped
    would let a broken candidate pass."""


def _one_line(text) -> str:
    return " ".join(str(text).split())


def _short(x) -> str:
    r = _one_line(repr(x))
    return r if len(r) <= 40 else r[:37] + "..."


def _kind(x) -> str:
    if x is None:
        return "missing (None)"
    if isinstance(x, (bool, np.bool_)):
        return "a boolean"
    if isinstance(x, (str, bytes)):
        return "a string"
    if isinstance(x, (list, tuple, np.ndarray)):
        return "a nested list"
    return f"a {type(x).__name__}"


def _is_number(x) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, (bool, np.bool_))


def check_values(values, what: str) -> np.ndarray:
    """The per-trial values of one variant and metric as a float64 array, or InvalidData naming ``what``.

    Rejects (rather than drops) non-numbers, NaN, infinities, values <= 0 and an empty list: each of these
    means a trial failed or a record is corrupt, and comparing what is left would hide it."""
    what = _one_line(what)
    fix = "each trial value must be a positive finite number; re-measure that trial or fix the record"
    if isinstance(values, (str, bytes, dict, set, frozenset)):
        raise InvalidData(f"{what}: expected a list of trial values, got {_short(values)}; pass one number per trial")
    try:
        items = list(values)
    except TypeError:
        raise InvalidData(f"{what}: expected a list of trial values, got {_short(values)}; "
                          "pass one number per trial") from None
    if not items:
        raise InvalidData(f"{what}: no trial values; measure at least one trial ({NO_VARIANCE_HINT} for a test)")
    out = np.empty(len(items), dtype=np.float64)
    for i, x in enumerate(items):
        where = f"{what}: trial value #{i + 1}"
        if not _is_number(x):
            raise InvalidData(f"{where} is {_short(x)} ({_kind(x)}), not a number; {fix}")
        v = float(x)
        if math.isnan(v):
            raise InvalidData(f"{where} is NaN (a failed or missing measurement); {fix}")
        if math.isinf(v):
            raise InvalidData(f"{where} is infinite; {fix}")
        if v <= 0:
            raise InvalidData(f"{where} is {v:g}, not positive (a zero time usually means nothing ran); {fix}")
        out[i] = v
    return out


def _finite(x, what: str) -> float:
    if not _is_number(x) or not math.isfinite(float(x)):
        raise InvalidData(f"{_one_line(what)} is {_short(x)}, not a finite number; a metric without a value "
                          "cannot be judged (and must not pass): re-measure it")
    return float(x)


def _check_confidence(confidence) -> float:
    if not _is_number(confidence) or not 0.0 < float(confidence) < 1.0:
        raise InvalidData(f"confidence {_short(confidence)} is not between 0 and 1; use e.g. 0.99")
    return float(confidence)


def _check_threshold(threshold, what: str = "threshold") -> float:
    if not _is_number(threshold) or not math.isfinite(float(threshold)) or float(threshold) < 0:
        raise InvalidData(f"{what} {_short(threshold)} is not a finite number >= 0; use e.g. 0.05 for 5%")
    return float(threshold)


def _exp(x: float) -> float:
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


@dataclass(frozen=True)
class Estimate:
    """The candidate/baseline ratio of one metric with its uncertainty, from trial values.

    ``detectable`` answers "could this data have seen a regression of the size we care about?": the
    smallest relative change that would have been significant, exp(t_crit * se_log) - 1. A "no change"
    result with a detectable change above the threshold is not evidence of no regression."""

    ratio: float  # candidate / baseline = exp(mean log difference)
    ci_low: float  # interval of the ratio at `confidence`; (0, inf) when no variance is known
    ci_high: float
    p_value: Optional[float]  # two-sided test of "no change"; None when no variance can be estimated
    df: Optional[float]  # degrees of freedom of the t distribution used; None with p_value None
    se_log: float  # standard error of the log ratio; math.inf when unknown
    detectable: float  # smallest relative change this data could call significant; math.inf when unknown
    method: str  # which variance was used, for the report
    n_baseline: int
    n_candidate: int
    confidence: float = 0.99  # the level of the interval and of `detectable`

    @property
    def has_variance(self) -> bool:
        return self.p_value is not None and math.isfinite(self.se_log)

    def to_dict(self) -> dict:
        """Plain JSON-able dict; non-finite numbers (an unknown se, an unbounded interval) become None,
        since strict JSON has no infinity."""
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in asdict(self).items()}


def _estimate(diff: float, se2: float, df: Optional[float], confidence: float, method: str,
              nb: int, nc: int) -> Estimate:
    """Interval, test and detectable change from a mean log difference and its variance (t with df)."""
    ratio = _exp(diff)
    if math.isfinite(se2) and se2 <= MIN_SE2:
        method += "; no spread between the values (identical): no variance estimate"
    if df is None or not math.isfinite(se2) or se2 <= MIN_SE2:
        return Estimate(ratio, 0.0, math.inf, None, None, math.inf, math.inf, method, nb, nc, confidence)
    se = math.sqrt(se2)
    half = float(_st.t.ppf(0.5 + confidence / 2.0, df)) * se
    p = min(1.0, float(2.0 * _st.t.sf(abs(diff) / se, df)))
    return Estimate(ratio, _exp(diff - half), _exp(diff + half), p, float(df), se, math.expm1(half) if half < 700
                    else math.inf, method, nb, nc, confidence)


def _prefix(what: str) -> str:
    return f"{_one_line(what)} " if what else ""


def two_sample(baseline, candidate, *, confidence: float = 0.99, history=None, what: str = "") -> Estimate:
    """Candidate vs baseline from two separate runs: Welch t on the log trial values.

    Welch (unequal variances, Welch-Satterthwaite df) because a candidate may well be noisier than its
    baseline. With a single trial on one side, the other side's between-trial variance stands in for
    both (df = n_other - 1); with one trial per side there is no variance and no test (p None).

    ``history``: earlier baseline runs of the same variant, each a sequence of trial values. Machine
    state drifts between runs (another job, clocks, a reboot), so two runs can differ by more than their
    trials suggest. From >= 2 history runs, s2_run = variance (ddof 1) of the runs' mean log values is the
    variance of one run's mean; a difference of two run means has 2 * s2_run. The larger of that and the
    Welch variance is used, with its df (H - 1 or Welch's), and ``method`` says which.
    ``what`` (e.g. the variant and metric) prefixes error messages."""
    confidence = _check_confidence(confidence)
    lb = np.log(check_values(baseline, f"{_prefix(what)}baseline"))
    lc = np.log(check_values(candidate, f"{_prefix(what)}candidate"))
    nb, nc = int(lb.size), int(lc.size)
    diff = float(lc.mean() - lb.mean())
    counts = f"{nb} vs {nc} trials"
    df: Optional[float]
    if nb >= 2 and nc >= 2:
        vb, vc = float(lb.var(ddof=1)) / nb, float(lc.var(ddof=1)) / nc
        se2 = vb + vc
        df = se2 ** 2 / (vb ** 2 / (nb - 1) + vc ** 2 / (nc - 1)) if se2 > 0 else None
        method = f"Welch t on log trial values, {counts}"
    elif nb + nc >= 3:
        many, one, other = (lc, "baseline", "candidate") if nb == 1 else (lb, "candidate", "baseline")
        se2 = float(many.var(ddof=1)) * (1.0 / nb + 1.0 / nc)
        df = float(many.size - 1)
        method = f"t on log trial values, {counts}: one {one} trial, the {other}'s between-trial variance used for both"
    else:
        se2, df = math.inf, None
        method = f"one trial per side: no variance; {NO_VARIANCE_HINT}"
    within_ok = math.isfinite(se2) and se2 > MIN_SE2
    if history is not None:
        if isinstance(history, (str, bytes, dict)) or not hasattr(history, "__iter__"):
            raise InvalidData(f"{_prefix(what)}history is {_short(history)}; pass a list of earlier baseline runs, "
                              "each a list of trial values")
        means = [float(np.log(check_values(run, f"{_prefix(what)}baseline history run #{i}")).mean())
                 for i, run in enumerate(history, 1)]
        h = len(means)
        if h < 2:
            method += f"; history of {h} run(s) not used (needs >= 2 runs)"
        else:
            h_se2 = 2.0 * float(np.var(means, ddof=1))
            if h_se2 > MIN_SE2 and (not within_ok or h_se2 > se2):
                why = "larger than the between-trial variance" if within_ok else "no usable between-trial variance"
                method = f"between-run variance of {h} history runs ({why}), {counts}"
                se2, df = h_se2, float(h - 1)
            elif within_ok:
                method += f"; between-trial variance used (larger than the between-run variance of {h} history runs)"
            else:
                method += f"; {h} history runs have identical means"
    return _estimate(diff, se2, df, confidence, method, nb, nc)


def paired(a_rounds, b_rounds, *, confidence: float = 0.99, what: str = "") -> Estimate:
    """A (baseline) vs B (candidate) interleaved in one job (ABBA rounds): one-sample t on the per-round
    log ratios d_i = log b_i - log a_i, df = k - 1.

    a_i and b_i are measured close in time, so the drift between rounds (which can exceed the change
    being looked for) cancels in d_i; this is far more sensitive than two_sample on the same values.
    Needs k >= 2 rounds for a variance; lengths must match (a round is one A and one B value)."""
    confidence = _check_confidence(confidence)
    a = check_values(a_rounds, f"{_prefix(what)}paired A (baseline) rounds")
    b = check_values(b_rounds, f"{_prefix(what)}paired B (candidate) rounds")
    if a.size != b.size:
        raise InvalidData(f"{_prefix(what)}paired rounds: {a.size} A values vs {b.size} B values; each round must "
                          "give one A and one B value (drop the incomplete round)")
    d = np.log(b) - np.log(a)
    k = int(d.size)
    diff = float(d.mean())
    if k < 2:
        return _estimate(diff, math.inf, None, confidence,
                         f"one paired round: no variance; {NO_VARIANCE_HINT} (at least 2 rounds)", k, k)
    se2 = float(d.var(ddof=1)) / k
    return _estimate(diff, se2, float(k - 1), confidence, f"paired t on per-round log ratios, {k} rounds", k, k)


def _pct(ratio: float) -> str:
    return "+inf%" if math.isinf(ratio) else f"{(ratio - 1.0) * 100.0:+.2f}%"


def classify(est: Estimate, *, threshold: float, higher_is_worse: bool, significant: bool,
             baseline_value: float, candidate_value: float, min_change: float = 0.0) -> Tuple[str, str]:
    """(verdict, note) for one metric: regression | minor | improvement | pass | inconclusive.

    ``threshold`` is a fraction (0.05 = 5%), compared in log space: worse by log(1 + threshold), i.e. a
    ratio >= 1.05 for times, <= 1/1.05 for throughput-like metrics (higher_is_worse=False). ``significant``
    is the caller's decision after Benjamini-Hochberg across the matrix. "pass" without significance needs
    the interval's worse end under the threshold: "not significant" alone is no proof of no regression
    when the data could not have detected one; that case is "inconclusive". ``min_change`` is an absolute
    noise floor in the values' unit (e.g. the timer's resolution): smaller differences pass, but only once a
    variance exists (no variance is always "inconclusive"). Use BH at q = 1 - confidence so that
    "significant" and "the interval excludes 1" agree."""
    t = math.log1p(_check_threshold(threshold))
    floor = _check_threshold(min_change, "min_change")
    b = _finite(baseline_value, "baseline value")
    c = _finite(candidate_value, "candidate value")
    if not est.has_variance:
        return "inconclusive", f"no variance estimate: {est.method}"
    if abs(c - b) < floor:
        return "pass", f"change {c - b:+.4g} is under the absolute noise floor {floor:g} ({_pct(est.ratio)})"
    sign = 1.0 if higher_is_worse else -1.0
    d = sign * math.log(est.ratio)
    worse_end = math.log(est.ci_high) if higher_is_worse else (-math.log(est.ci_low) if est.ci_low > 0 else math.inf)
    p = f"{est.p_value:.2g}"
    desc = (f"{_pct(est.ratio)} ({est.confidence * 100:g}% interval {_pct(est.ci_low)} .. {_pct(est.ci_high)}, p={p}"
            f"{'' if higher_is_worse else ', higher is better'})")
    limit = f"the {threshold:.1%} threshold"
    if significant and d > 0:
        if d >= t:
            return "regression", f"{desc}: significantly worse, at or beyond {limit}"
        return "minor", f"{desc}: significantly worse, but under {limit}"
    if significant and d < 0:
        return "improvement", f"{desc}: significantly better"
    if worse_end < t:
        return "pass", f"{desc}: no significant change; the interval rules out a regression of {limit}"
    return "inconclusive", (f"{desc}: not significant, but a regression of {limit} cannot be ruled out: this data "
                            f"detects changes of {est.detectable:.1%} or more; more trials (--trials) or --history narrow it")


def benjamini_hochberg(p_values: Sequence[Optional[float]], q: float) -> List[bool]:
    """Which tests are rejected at false-discovery rate ``q``, by the Benjamini-Hochberg step-up procedure.

    A gate tests every variant x metric of a matrix; at 1% each, a 100-cell matrix would flag about one
    false regression per run. BH keeps the expected share of false discoveries among the flagged ones at q.
    None p-values (no test possible) are never rejected and do not count among the m tests."""
    if not _is_number(q) or not 0.0 < float(q) <= 1.0:
        raise InvalidData(f"false-discovery rate {_short(q)} is not in (0, 1]; use e.g. 0.01")
    for i, p in enumerate(p_values):
        if p is not None and (not _is_number(p) or not 0.0 <= float(p) <= 1.0):
            raise InvalidData(f"p-value #{i + 1} is {_short(p)}, not a number in [0, 1]; pass None for 'no test'")
    idx = [i for i, p in enumerate(p_values) if p is not None]
    m = len(idx)
    reject = [False] * len(p_values)
    order = sorted(idx, key=lambda i: float(p_values[i]))  # type: ignore[arg-type]
    k_max = 0
    for rank, i in enumerate(order, start=1):
        if float(p_values[i]) <= q * rank / m:  # type: ignore[arg-type]
            k_max = rank  # step-up: the largest rank that passes rejects all below it too
    for i in order[:k_max]:
        reject[i] = True
    return reject


def absolute_rule(baseline_value, candidate_value, *, threshold: float, higher_is_worse: bool,
                  absolute: bool) -> Tuple[str, str]:
    """(verdict, note) for a metric without trials (memory, energy, accuracy): regression | improvement | pass
    by the value change alone, against ``threshold``: absolute (the values' unit) or relative (a fraction
    of |baseline|). No noise model, so the note says so. Values must be finite numbers: a NaN accuracy or a
    missing memory figure raises InvalidData instead of passing."""
    b = _finite(baseline_value, "baseline value")
    c = _finite(candidate_value, "candidate value")
    limit = _check_threshold(threshold)
    worse_by = (c - b) if higher_is_worse else (b - c)
    if absolute:
        change, shown, lim = worse_by, f"{c - b:+.6g}", f"{limit:g}"
    else:
        if b == 0:
            if c == 0:
                return "pass", "0 -> 0: no change (no trials: threshold only)"
            raise InvalidData(f"baseline value is 0, so a relative threshold is undefined (candidate {c:g}); "
                              "use an absolute threshold for this metric")
        change, shown, lim = worse_by / abs(b), f"{(c - b) / abs(b):+.2%}", f"{limit:.1%}"
    desc = f"{b:g} -> {c:g} ({shown}{'' if higher_is_worse else ', higher is better'}; no trials: threshold only)"
    if change > limit:
        return "regression", f"{desc}: worse by more than {lim}"
    if change < -limit:
        return "improvement", f"{desc}: better by more than {lim}"
    return "pass", f"{desc}: within {lim}"
