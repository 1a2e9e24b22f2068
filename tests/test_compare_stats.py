"""trtbench.compare.stats: the trial-based comparison of the regression gate. Deterministic: fixed arrays
checked against hand computations (and scipy's own Welch test), plus one seeded simulation of the
false-positive rate of the formula itself."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats as st

from trtbench.compare.stats import (Estimate, InvalidData, absolute_rule, benjamini_hochberg, check_values,
                                    classify, paired, two_sample)
from trtbench.errors import UserError

B = [10.0, 10.3, 9.8, 10.1]  # ms, one value per trial
C = [10.6, 10.9, 10.4]


# --- Welch -------------------------------------------------------------------------------------------

def test_welch_matches_hand_computation_and_scipy():
    lb, lc = np.log(B), np.log(C)
    vb, vc = lb.var(ddof=1) / lb.size, lc.var(ddof=1) / lc.size
    se = math.sqrt(vb + vc)
    df = (vb + vc) ** 2 / (vb ** 2 / (lb.size - 1) + vc ** 2 / (lc.size - 1))
    diff = lc.mean() - lb.mean()
    ref = st.ttest_ind(lc, lb, equal_var=False)
    half = st.t.ppf(0.995, df) * se

    e = two_sample(B, C)
    assert e.ratio == pytest.approx(math.exp(diff), rel=1e-12)
    assert e.ratio == pytest.approx(st.gmean(C) / st.gmean(B), rel=1e-12)
    assert e.p_value == pytest.approx(float(ref.pvalue), rel=1e-9)
    assert e.p_value == pytest.approx(2 * st.t.sf(abs(diff) / se, df), rel=1e-9)
    assert e.df == pytest.approx(df, rel=1e-12)
    if hasattr(ref, "df"):  # scipy >= 1.11
        assert e.df == pytest.approx(float(ref.df), rel=1e-9)
    assert e.se_log == pytest.approx(se, rel=1e-12)
    assert (e.ci_low, e.ci_high) == pytest.approx((math.exp(diff - half), math.exp(diff + half)), rel=1e-12)
    if hasattr(ref, "confidence_interval"):  # scipy >= 1.11: the interval of the log difference
        ci = ref.confidence_interval(0.99)
        assert (e.ci_low, e.ci_high) == pytest.approx((math.exp(ci.low), math.exp(ci.high)), rel=1e-9)
    assert e.method == "Welch t on log trial values, 4 vs 3 trials"
    assert (e.n_baseline, e.n_candidate, e.confidence) == (4, 3, 0.99)


def test_welch_interval_contains_the_true_ratio_of_a_constructed_case():
    noise_b = np.array([0.012, -0.008, 0.003, -0.011, 0.006])
    noise_c = np.array([-0.004, 0.009, -0.010, 0.007, 0.001])
    base = 4.0 * np.exp(noise_b)
    cand = 4.0 * 1.10 * np.exp(noise_c)  # 10% slower
    e = two_sample(base.tolist(), cand.tolist(), confidence=0.95)
    assert e.ci_low < 1.10 < e.ci_high
    assert e.ratio == pytest.approx(1.10 * math.exp(noise_c.mean() - noise_b.mean()), rel=1e-12)
    assert e.p_value < 1e-6
    assert e.confidence == 0.95
    wider = two_sample(base.tolist(), cand.tolist(), confidence=0.999)
    assert wider.ci_low < e.ci_low and wider.ci_high > e.ci_high


def test_a_candidate_with_only_a_trial_at_the_bottom_of_the_baseline_is_not_a_change():
    e = two_sample(B, [min(B)])
    assert e.p_value > 0.05 and e.ci_low < 1.0 < e.ci_high


# --- one trial ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("single_side", ["baseline", "candidate"])
def test_one_trial_on_one_side_uses_the_other_sides_variance(single_side):
    many = np.array([5.0, 5.2, 4.9, 5.1])
    one = np.array([5.6])
    base, cand = (one, many) if single_side == "baseline" else (many, one)
    e = two_sample(base.tolist(), cand.tolist())
    s2 = np.log(many).var(ddof=1)
    se = math.sqrt(s2 * (1 + 1 / 4))
    diff = np.log(cand).mean() - np.log(base).mean()
    assert e.df == 3
    assert e.se_log == pytest.approx(se, rel=1e-12)
    assert e.p_value == pytest.approx(2 * st.t.sf(abs(diff) / se, 3), rel=1e-9)
    assert f"one {single_side} trial" in e.method


def test_one_trial_per_side_has_no_variance():
    e = two_sample([5.0], [5.5])
    assert e.p_value is None and e.df is None
    assert e.se_log == math.inf and e.detectable == math.inf
    assert (e.ci_low, e.ci_high) == (0.0, math.inf)
    assert e.ratio == pytest.approx(1.1)
    assert "one trial per side: no variance; run with --trials 3 or --history" in e.method
    d = e.to_dict()
    assert d["p_value"] is None and d["ci_high"] is None and d["se_log"] is None and d["ci_low"] == 0.0
    json.dumps(d, allow_nan=False)  # strict JSON


def test_identical_trial_values_give_no_variance_not_a_tiny_p():
    e = two_sample([2.0, 2.0, 2.0], [2.1, 2.1, 2.1])
    assert e.p_value is None and "identical" in e.method
    # per-round ratios equal up to float rounding: still no variance, not p ~ 1e-30
    p = paired([1.0, 1.05, 1.1], [1.02, 1.071, 1.122])
    assert p.p_value is None and p.ratio == pytest.approx(1.02)


# --- history -----------------------------------------------------------------------------------------

BASE = [5.00, 5.01, 4.99]
CAND = [5.20, 5.21, 5.19]


def test_history_larger_than_within_run_widens_the_interval_and_says_so():
    history = [[5.0, 5.02], [5.4, 5.41, 5.39], [4.7], [5.1, 5.1]]  # runs drift ~5% between each other
    plain = two_sample(BASE, CAND)
    e = two_sample(BASE, CAND, history=history)
    means = [np.log(r).mean() for r in history]
    s2_run = np.var(means, ddof=1)
    assert e.se_log == pytest.approx(math.sqrt(2 * s2_run), rel=1e-12)
    assert e.se_log > plain.se_log
    assert e.df == 3  # H - 1
    assert e.ci_low < plain.ci_low and e.ci_high > plain.ci_high
    assert e.ratio == plain.ratio
    assert e.method.startswith("between-run variance of 4 history runs (larger than the between-trial variance)")
    assert plain.p_value < 0.01 < e.p_value  # a 4% shift is within what runs of this variant do


def test_history_smaller_than_within_run_keeps_the_welch_estimate():
    history = [[5.0], [5.0005], [4.9995]]
    plain = two_sample(BASE, CAND)
    e = two_sample(BASE, CAND, history=history)
    assert (e.se_log, e.df, e.ci_low, e.ci_high, e.p_value) == (plain.se_log, plain.df, plain.ci_low,
                                                                plain.ci_high, plain.p_value)
    assert e.method.startswith("Welch t on log trial values, 3 vs 3 trials")
    assert "between-trial variance used (larger than the between-run variance of 3 history runs)" in e.method


def test_history_gives_a_variance_to_one_trial_per_side():
    e = two_sample([5.0], [5.5], history=[[5.0], [5.1], [4.95]])
    assert e.p_value is not None and e.df == 2
    assert "no usable between-trial variance" in e.method


def test_history_of_one_run_is_not_used_and_said_so():
    e = two_sample(BASE, CAND, history=[[5.3, 5.4]])
    assert e.se_log == two_sample(BASE, CAND).se_log
    assert "history of 1 run(s) not used (needs >= 2 runs)" in e.method


def test_bad_history_raises_naming_the_run():
    with pytest.raises(InvalidData, match="baseline history run #2"):
        two_sample(BASE, CAND, history=[[5.0], [float("nan")]])
    with pytest.raises(InvalidData, match="history run #1: expected a list"):
        two_sample(BASE, CAND, history=[5.0, 5.1])  # a flat list: runs must be lists of trials


# --- paired ------------------------------------------------------------------------------------------

def test_paired_cancels_drift_that_two_sample_cannot():
    k = 8
    drift = 1.0 + 0.10 * np.arange(k) / (k - 1)  # both sides drift 10% across the rounds
    jitter_a = np.array([0.002, -0.001, 0.0015, -0.002, 0.0005, 0.001, -0.0015, -0.0005])
    jitter_b = np.array([-0.001, 0.0015, -0.0005, 0.001, -0.002, 0.0005, 0.002, -0.0015])
    a = 3.0 * drift * (1 + jitter_a)
    b = 3.0 * 1.02 * drift * (1 + jitter_b)  # B 2% slower
    p = paired(a.tolist(), b.tolist())
    assert p.ratio == pytest.approx(1.02, abs=0.002)
    assert p.ci_low < 1.02 < p.ci_high
    assert p.ci_high / p.ci_low < 1.01  # tight
    assert p.p_value < 1e-6 and p.df == k - 1 and p.method == "paired t on per-round log ratios, 8 rounds"
    d = np.log(b) - np.log(a)
    assert p.se_log == pytest.approx(d.std(ddof=1) / math.sqrt(k), rel=1e-12)
    assert p.p_value == pytest.approx(float(st.ttest_rel(np.log(b), np.log(a)).pvalue), rel=1e-9)
    s = two_sample(a.tolist(), b.tolist())
    assert s.ratio == pytest.approx(p.ratio, rel=1e-12)  # same point estimate...
    assert math.log(s.ci_high / s.ci_low) > 5 * math.log(p.ci_high / p.ci_low)  # ...much wider interval
    assert s.p_value > 0.01  # separate-run analysis of drifting rounds cannot see 2%


def test_paired_needs_matching_lengths_and_two_rounds():
    with pytest.raises(InvalidData, match="3 A values vs 2 B values"):
        paired([1.0, 1.1, 1.2], [1.0, 1.1])
    e = paired([1.0], [1.1])
    assert e.p_value is None and e.se_log == math.inf and "one paired round" in e.method
    with pytest.raises(InvalidData, match="paired B"):
        paired([1.0, 1.1], [1.0, 0.0])


# --- detectable --------------------------------------------------------------------------------------

def test_detectable_for_known_se_and_df():
    # d = [0.01, 0.03]: mean 0.02, sd 0.01*sqrt(2), se 0.01, df 1
    e = paired([1.0, 1.0], [math.exp(0.01), math.exp(0.03)])
    assert e.se_log == pytest.approx(0.01, rel=1e-9) and e.df == 1
    t99 = 63.65674116287399  # t quantile 0.995, df 1
    assert st.t.ppf(0.995, 1) == pytest.approx(t99, rel=1e-12)
    assert e.detectable == pytest.approx(math.exp(t99 * 0.01) - 1, rel=1e-9)
    e95 = paired([1.0, 1.0], [math.exp(0.01), math.exp(0.03)], confidence=0.95)
    assert e95.detectable == pytest.approx(math.exp(12.706204736174698 * 0.01) - 1, rel=1e-9)


def test_a_change_of_exactly_the_detectable_size_is_on_the_significance_boundary():
    se, df = 0.004, 4  # 5 rounds whose log ratios are m + h * z, sd(z) = 1
    z = np.array([-1.5, -0.5, 0.0, 0.5, 1.5])
    z = z / z.std(ddof=1)
    probe = paired([1.0] * 5, np.exp(0.0 + se * math.sqrt(5) * z).tolist())
    m = math.log1p(probe.detectable)
    e = paired([1.0] * 5, np.exp(m + se * math.sqrt(5) * z).tolist())
    assert e.se_log == pytest.approx(se, rel=1e-9) and e.df == df
    assert e.p_value == pytest.approx(0.01, rel=1e-6)
    assert e.ci_low == pytest.approx(1.0, abs=1e-9)


# --- classify ----------------------------------------------------------------------------------------

def est(ratio, lo, hi, p=0.001, detectable=0.02):
    return Estimate(ratio, lo, hi, p, 4.0, 0.01, detectable, "test", 3, 3)


def cls(e, *, worse_up=True, sig=True, b=1.0, c=None, floor=0.0, threshold=0.05):
    c = b * e.ratio if c is None else c
    return classify(e, threshold=threshold, higher_is_worse=worse_up, significant=sig, baseline_value=b,
                    candidate_value=c, min_change=floor)


@pytest.mark.parametrize("worse_up", [True, False])
def test_classify_no_variance_is_inconclusive(worse_up):
    e = two_sample([5.0], [9.0])
    v, note = cls(e, worse_up=worse_up, sig=False)
    assert v == "inconclusive" and note.startswith("no variance estimate: one trial per side")


@pytest.mark.parametrize("worse_up", [True, False])
def test_classify_change_under_the_absolute_floor_passes(worse_up):
    v, note = cls(est(1.5, 1.4, 1.6), worse_up=worse_up, b=0.0010, c=0.0015, floor=0.001)
    assert v == "pass" and "noise floor" in note


@pytest.mark.parametrize("worse_up,ratio,lo,hi", [(True, 1.10, 1.07, 1.13),  # 10% slower
                                                  (False, 0.90, 0.88, 0.92)])  # 10% less throughput
def test_classify_regression(worse_up, ratio, lo, hi):
    v, note = cls(est(ratio, lo, hi), worse_up=worse_up)
    assert v == "regression" and "5.0% threshold" in note


@pytest.mark.parametrize("worse_up,ratio,lo,hi", [(True, 1.02, 1.01, 1.03), (False, 0.98, 0.97, 0.99)])
def test_classify_minor(worse_up, ratio, lo, hi):
    assert cls(est(ratio, lo, hi), worse_up=worse_up)[0] == "minor"


@pytest.mark.parametrize("worse_up,ratio,lo,hi", [(True, 0.90, 0.88, 0.92), (False, 1.10, 1.07, 1.13)])
def test_classify_improvement(worse_up, ratio, lo, hi):
    assert cls(est(ratio, lo, hi), worse_up=worse_up)[0] == "improvement"


@pytest.mark.parametrize("worse_up,ratio,lo,hi", [(True, 1.01, 0.99, 1.03), (False, 0.99, 0.97, 1.01)])
def test_classify_not_significant_and_ruled_out_passes(worse_up, ratio, lo, hi):
    v, note = cls(est(ratio, lo, hi, p=0.3), worse_up=worse_up, sig=False)
    assert v == "pass" and "rules out" in note


@pytest.mark.parametrize("worse_up,ratio,lo,hi", [(True, 1.01, 0.90, 1.13), (False, 0.99, 0.88, 1.11)])
def test_classify_not_significant_and_not_ruled_out_is_inconclusive(worse_up, ratio, lo, hi):
    v, note = cls(est(ratio, lo, hi, p=0.6, detectable=0.123), worse_up=worse_up, sig=False)
    assert v == "inconclusive"
    assert "12.3%" in note and "5.0% threshold" in note


def test_classify_orientation_uses_the_worse_end_of_the_interval():
    e = est(1.04, 0.99, 1.20, p=0.2)  # not significant, the interval reaches +20% but only -1%
    assert cls(e, worse_up=True, sig=False)[0] == "inconclusive"  # time: +20% is possible
    assert cls(e, worse_up=False, sig=False)[0] == "pass"  # throughput: at worst a 1% drop
    assert cls(e, worse_up=True)[0] == "minor" and cls(e, worse_up=False)[0] == "improvement"


def test_classify_threshold_is_symmetric_in_log_space():
    assert cls(est(1.05, 1.04, 1.06))[0] == "regression"
    assert cls(est(1 / 1.05, 0.94, 0.96), worse_up=False)[0] == "regression"
    assert cls(est(0.955, 0.95, 0.96), worse_up=False)[0] == "minor"  # a 4.5% drop < log(1.05)


def test_classify_rejects_non_finite_values():
    with pytest.raises(InvalidData, match="candidate value"):
        cls(est(1.0, 0.9, 1.1), c=float("nan"))
    with pytest.raises(InvalidData, match="threshold"):
        cls(est(1.0, 0.9, 1.1), threshold=-0.05)


# --- Benjamini-Hochberg ------------------------------------------------------------------------------

def test_bh_textbook_examples():
    assert benjamini_hochberg([0.01, 0.02, 0.03, 0.04, 0.05], 0.05) == [True] * 5
    assert benjamini_hochberg([0.001, 0.2, 0.3], 0.01) == [True, False, False]
    assert benjamini_hochberg([0.3, 0.001, 0.2], 0.01) == [False, True, False]  # order does not matter


def test_bh_is_step_up():
    # 0.02 > 0.05 * 1/3 on its own, but 0.025 <= 0.05 * 2/3 rejects both
    assert benjamini_hochberg([0.02, 0.025, 0.5], 0.05) == [True, True, False]
    assert benjamini_hochberg([0.02, 0.04, 0.5], 0.05) == [False, False, False]


def test_bh_none_is_never_rejected_and_not_counted():
    assert benjamini_hochberg([0.02, None, 0.04], 0.05) == [True, False, True]  # m = 2, not 3
    assert benjamini_hochberg([None, None], 0.05) == [False, False]
    assert benjamini_hochberg([], 0.05) == []


@pytest.mark.parametrize("p,q", [([float("nan")], 0.05), ([1.5], 0.05), (["0.1"], 0.05), ([0.1], 0.0),
                                 ([0.1], 1.5)])
def test_bh_rejects_bad_input(p, q):
    with pytest.raises(InvalidData):
        benjamini_hochberg(p, q)


# --- check_values ------------------------------------------------------------------------------------

@pytest.mark.parametrize("values,why", [
    (["1.0", 2.0], "a string"), ([1.0, None], "missing"), ([True, 1.0], "a boolean"), ([[1.0], 2.0], "nested"),
    ([1.0, float("nan")], "NaN"), ([float("inf")], "infinite"), ([1.0, 0.0], "not positive"),
    ([-2.5], "not positive"), ([], "no trial values"), ("1.0", "expected a list"), (1.0, "expected a list"),
    (np.array([[1.0, 2.0]]), "nested"), ([np.bool_(True)], "a boolean"), ([1 + 2j], "complex"),
    (None, "expected a list"),
])
def test_check_values_rejects_bad_input_in_one_line(values, why):
    with pytest.raises(InvalidData) as exc:
        check_values(values, "resnet50/trt/fp16 compute median\nms")
    msg = str(exc.value)
    assert "\n" not in msg
    assert msg.startswith("resnet50/trt/fp16 compute median ms: ")
    assert why in msg
    assert isinstance(exc.value, UserError)


def test_check_values_accepts_numbers_of_any_numeric_type():
    out = check_values([1, 2.5, np.float32(0.5), np.int64(3)], "x")
    assert out.dtype == np.float64 and out.tolist() == [1.0, 2.5, 0.5, 3.0]
    assert check_values(np.array([0.1, 0.2]), "x").tolist() == [0.1, 0.2]
    assert check_values((v for v in [4.0]), "x").tolist() == [4.0]


def test_two_sample_names_the_side_in_errors():
    with pytest.raises(InvalidData, match="^bert/b8 compute: candidate: trial value #2 is NaN"):
        two_sample([1.0, 1.1], [1.0, float("nan")], what="bert/b8 compute:")
    with pytest.raises(InvalidData, match="confidence"):
        two_sample([1.0, 1.1], [1.0, 1.2], confidence=99)


# --- absolute rule -----------------------------------------------------------------------------------

def test_absolute_rule_relative_and_absolute_both_directions():
    assert absolute_rule(100.0, 111.0, threshold=0.1, higher_is_worse=True, absolute=False)[0] == "regression"
    assert absolute_rule(100.0, 109.0, threshold=0.1, higher_is_worse=True, absolute=False)[0] == "pass"
    assert absolute_rule(100.0, 85.0, threshold=0.1, higher_is_worse=True, absolute=False)[0] == "improvement"
    # accuracy: higher is better, absolute points
    assert absolute_rule(0.760, 0.755, threshold=0.01, higher_is_worse=False, absolute=True)[0] == "pass"
    v, note = absolute_rule(0.760, 0.740, threshold=0.01, higher_is_worse=False, absolute=True)
    assert v == "regression" and "threshold only" in note
    assert absolute_rule(0.760, 0.790, threshold=0.01, higher_is_worse=False, absolute=True)[0] == "improvement"
    assert absolute_rule(0.76, 0.76, threshold=0.0, higher_is_worse=False, absolute=True)[0] == "pass"
    assert absolute_rule(0.76, 0.759, threshold=0.0, higher_is_worse=False, absolute=True)[0] == "regression"


@pytest.mark.parametrize("b,c", [(0.76, float("nan")), (float("nan"), 0.76), (None, 1.0), (1.0, "0.9"),
                                 (1.0, True), (1.0, float("inf"))])
def test_absolute_rule_refuses_missing_or_non_finite_values(b, c):
    with pytest.raises(InvalidData, match="not a finite number"):
        absolute_rule(b, c, threshold=0.01, higher_is_worse=False, absolute=True)


def test_absolute_rule_relative_with_a_zero_baseline():
    assert absolute_rule(0.0, 0.0, threshold=0.1, higher_is_worse=True, absolute=False)[0] == "pass"
    with pytest.raises(InvalidData, match="use an absolute threshold"):
        absolute_rule(0.0, 5.0, threshold=0.1, higher_is_worse=True, absolute=False)


# --- the one seeded simulation -----------------------------------------------------------------------

def test_false_positive_rate_under_equal_lognormals_is_at_most_two_percent():
    """Tests the formula (Welch on logs, and the one-trial rule), not a claim about hardware: with both
    sides drawn from the same lognormal, p < 0.01 should happen about 1% of the time."""
    rng = np.random.default_rng(20240611)
    for nb, nc in [(3, 5), (1, 4)]:
        hits = 0
        for _ in range(2000):
            b = np.exp(rng.normal(1.0, 0.08, nb))
            c = np.exp(rng.normal(1.0, 0.08, nc))
            e = two_sample(b, c, confidence=0.99)
            hits += e.p_value < 0.01
            assert (e.ci_low > 1.0 or e.ci_high < 1.0) == (e.p_value < 0.01)
        assert hits / 2000 <= 0.02, (nb, nc, hits)
