"""The decision, per variant and per metric, controlled for false discoveries across the matrix.

For a stage metric (raw samples on both sides):
- the ratio candidate/baseline of the statistic (median, p99, ...) with a 99% bootstrap interval
  (order-statistic bootstrap, O(n_boot));
- a two-sample Mann-Whitney U test on the raw samples; the interval and the test are both corrected for
  serial correlation (batch-means variance inflation): samples in a run drift together, and an
  uncorrected raw-sample test calls tiny drifts "significant";
- Benjamini-Hochberg at ``fdr`` (default 1%) over every sample-based test of the gate.
A **regression** is a slowdown that is significant (BH-rejected and the interval excludes 1) and whose
interval reaches the threshold (the change can be as large as the threshold). A significant slowdown
whose whole interval lies below the threshold is ``minor``; the mirror image is an ``improvement``.
Changes smaller than ``min_change_ms`` (default 0.5 us, the CUDA event timer's resolution) are never regressions.
Metrics without samples (memory, energy, accuracy, or pytest-benchmark JSON without data) are judged
on the threshold alone, and say so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import numpy as np

from trtbench.analysis.compare import benjamini_hochberg
from trtbench.analysis.load import Run
from trtbench.gate.spec import GateSpec

ENV_KEYS = (("gpu", "name"), ("gpu", "driver"), ("gpu", "cuda_runtime"), ("packages", "tensorrt"))


@dataclass
class Finding:
    variant: str
    metric: str
    verdict: str  # pass | regression | improvement | minor | missing | failed | no-data
    baseline: Optional[float] = None
    candidate: Optional[float] = None
    ratio: Optional[float] = None
    ci: Optional[Tuple[float, float]] = None
    p_value: Optional[float] = None
    threshold: str = ""
    note: str = ""
    throttled: bool = False

    def to_dict(self) -> dict:
        d = dict(self.__dict__)
        d["ci"] = list(self.ci) if self.ci else None
        return d


@dataclass
class Verdict:
    findings: List[Finding] = field(default_factory=list)
    env_mismatch: List[str] = field(default_factory=list)
    warnings: List[str] = field(default_factory=list)

    @property
    def regressions(self) -> List[Finding]:
        return [f for f in self.findings if f.verdict in ("regression", "missing", "failed")]

    @property
    def passed(self) -> bool:
        return not self.regressions

    def to_dict(self) -> dict:
        return {"passed": self.passed, "regressions": len(self.regressions),
                "findings": [f.to_dict() for f in self.findings], "env_mismatch": self.env_mismatch,
                "warnings": self.warnings}


def env_of(run: Run) -> Dict[str, Optional[str]]:
    m = run.machine or {}
    out = {}
    for block, key in ENV_KEYS:
        out[f"{block}.{key}"] = ((m.get(block) or {}).get(key))
    return out


def env_mismatches(base: List[Run], cand: List[Run]) -> List[str]:
    b = {k: {env_of(r)[k] for r in base} for k in env_of(base[0])}
    c = {k: {env_of(r)[k] for r in cand} for k in env_of(cand[0])}
    return [f"{k}: baseline {sorted(map(str, b[k]))} vs candidate {sorted(map(str, c[k]))}"
            for k in b if b[k] != c[k]]


def _samples(r: dict, stage: str) -> Optional[np.ndarray]:
    s = (r.get("samples") or {}).get(stage)
    return np.asarray(s, dtype=np.float64) if s else None


def _boot_quantile(x: np.ndarray, q: Optional[float], n_boot: int, rng) -> np.ndarray:
    xs = np.sort(x)
    n = xs.size
    if q is None:  # mean
        return rng.normal(xs.mean(), xs.std(ddof=1) / np.sqrt(n) if n > 1 else 0.0, n_boot)
    k = min(max(int(np.ceil(q / 100.0 * n)), 1), n)  # rank of the order statistic
    pos = rng.beta(k, n + 1 - k, n_boot)
    return xs[np.minimum((pos * n).astype(np.int64), n - 1)]


def _stat(x: np.ndarray, q: Optional[float]) -> float:
    from trtbench.timing.stats import median, nearest_rank

    xs = np.sort(x)
    if q is None:
        return float(xs.mean())
    if q == 50.0:
        return median(xs.tolist())
    if q == 0.0:
        return float(xs[0])
    return nearest_rank(xs.tolist(), q)


BLOCKS = 50


def variance_inflation(x: np.ndarray, blocks: int = BLOCKS) -> float:
    """How much serial correlation inflates the variance of a location estimate, by batch means on the
    ranks: VIF = block size * var(block means) / var(samples), about 1 for independent samples and larger
    when samples taken one after another drift together (clocks, caches, thermal state). Under
    independence (blocks - 1) * VIF is chi-square with blocks - 1 degrees of freedom; a VIF that is not
    significantly above 1 (at 1%) is taken as 1, so independent samples keep the plain test's power."""
    from scipy.stats import chi2

    n = x.size
    if n < blocks * 10:
        return 1.0
    ranks = np.argsort(np.argsort(x, kind="stable"), kind="stable").astype(np.float64)
    m = n // blocks
    means = ranks[: m * blocks].reshape(blocks, m).mean(axis=1)
    total = ranks.var(ddof=1)
    if total <= 0:
        return 1.0
    vif = m * means.var(ddof=1) / total
    return float(vif) if vif > chi2.ppf(0.99, blocks - 1) / (blocks - 1) else 1.0


def _interval_and_test(bs: np.ndarray, cs: np.ndarray, q: Optional[float], n_boot: int, rng, alpha: float):
    """The ratio's interval from an order-statistic bootstrap of the raw samples, and Mann-Whitney U on the
    raw samples; both corrected for serial correlation by the variance inflation factor (the interval
    widened by sqrt(VIF) in log space, the test's z divided by sqrt(VIF)). Independent samples keep the
    plain test; drifting runs do not make drifts look significant."""
    from scipy.stats import mannwhitneyu, norm

    sb, sc = _stat(bs, q), _stat(cs, q)
    ratios = _boot_quantile(cs, q, n_boot, rng) / _boot_quantile(bs, q, n_boot, rng)
    lo, hi = np.percentile(ratios, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    vif = max(variance_inflation(bs), variance_inflation(cs))
    center = np.log(sc / sb) if sb > 0 and sc > 0 else 0.0
    k = np.sqrt(vif)
    lo = float(np.exp(center - k * (center - np.log(max(lo, 1e-300)))))
    hi = float(np.exp(center + k * (np.log(max(hi, 1e-300)) - center)))
    p_raw = float(mannwhitneyu(bs, cs, alternative="two-sided").pvalue)
    z = norm.isf(max(p_raw, 1e-300) / 2.0) / k
    p = float(min(1.0, 2.0 * norm.sf(z)))
    return lo, hi, p, f"raw samples, serial-correlation VIF {vif:.2f}"


def _summary_value(r: dict, spec: GateSpec) -> Optional[float]:
    if spec.on_samples:
        st = ((r.get("stats") or {}).get("stages") or {}).get(spec.metric) or {}
        key = {"p50": "median"}.get(spec.stat, spec.stat)
        return st.get(key)
    if spec.metric == "throughput":
        return ((r.get("stats") or {}).get("throughput") or {}).get("inferences_per_s")
    nv = ((r.get("nvml") or {}).get("summary")) or {}
    if spec.metric == "memory.peak":
        return nv.get("peak_process_mem_bytes") or nv.get("peak_mem_used_bytes")
    if spec.metric == "energy":
        return nv.get("energy_per_inference_j")
    if spec.metric.startswith("accuracy."):
        return (r.get("accuracy") or {}).get(spec.metric.split(".", 1)[1])
    return None


def gate(base: List[Run], cand: List[Run], specs: List[GateSpec], *, fdr: float = 0.01, confidence: float = 0.99,
         n_boot: int = 2000, seed: int = 0, min_change_ms: float = 0.0005) -> Verdict:
    v = Verdict()
    b_recs: Dict[str, dict] = {}
    for run in base:
        b_recs.update(run.by_id())
    c_recs: Dict[str, dict] = {}
    for run in cand:
        c_recs.update(run.by_id())
    rng = np.random.default_rng(seed)
    tests: List[Tuple[Finding, float, float, float, GateSpec]] = []  # finding, p, lo, hi
    alpha = 1.0 - confidence
    for vid, b in sorted(b_recs.items()):
        if b["status"] != "ok":
            continue
        c = c_recs.get(vid)
        if c is None:
            v.findings.append(Finding(vid, "*", "missing", note="in the baseline, missing from the candidate"))
            continue
        if c["status"] != "ok":
            v.findings.append(Finding(vid, "*", "failed", note=f"candidate {c['status']}: {c.get('reason')}"))
            continue
        throttled = "throttled" in (b.get("quality") or []) + (c.get("quality") or [])
        if throttled:
            v.warnings.append(f"{vid}: throttling was seen; its numbers are suspect")
        for spec in specs:
            name = spec.metric + (f".{spec.stat}" if spec.stat else "")
            bs = _samples(b, spec.metric) if spec.on_samples else None
            cs = _samples(c, spec.metric) if spec.on_samples else None
            if bs is not None and cs is not None and bs.size > 1 and cs.size > 1:
                q = spec.quantile
                sb, sc = _stat(bs, q), _stat(cs, q)
                lo, hi, p, how = _interval_and_test(bs, cs, q, n_boot, rng, alpha)
                f = Finding(vid, name, "pass", sb, sc, sc / sb if sb else None, (lo, hi), p, spec.text,
                            note=how, throttled=throttled)
                v.findings.append(f)
                tests.append((f, p, lo, hi, spec))
                continue
            vb, vc = _summary_value(b, spec), _summary_value(c, spec)
            if vb is None or vc is None:
                v.findings.append(Finding(vid, name, "no-data", vb, vc, threshold=spec.text,
                                          note="no value on one side", throttled=throttled))
                continue
            f = Finding(vid, name, "pass", vb, vc, vc / vb if vb else None, None, None, spec.text,
                        note="no raw samples: threshold only", throttled=throttled)
            if spec.absolute:
                worse = (vc - vb) if spec.higher_is_worse else (vb - vc)
                f.verdict = "regression" if worse > spec.threshold else "pass"
            elif vb:
                change = (vc / vb - 1.0) if spec.higher_is_worse else (1.0 - vc / vb)
                f.verdict = "regression" if change > spec.threshold else ("improvement" if change < -spec.threshold
                                                                           else "pass")
            v.findings.append(f)
    rejected = benjamini_hochberg([t[1] for t in tests], fdr)
    for (f, p, lo, hi, spec), rej in zip(tests, rejected):
        significant = rej and (lo > 1.0 or hi < 1.0)
        if significant and f.baseline is not None and abs(f.candidate - f.baseline) < min_change_ms:
            f.note += f"; change under the {min_change_ms * 1e3:g} us noise floor"
            significant = False
        if not significant:
            f.verdict = "pass"
        elif hi > 1.0 and lo > 1.0:  # slower
            f.verdict = "regression" if hi >= 1.0 + spec.threshold else "minor"
        else:
            f.verdict = "improvement"
    return v
