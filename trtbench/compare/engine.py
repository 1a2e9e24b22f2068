"""The one comparison engine: ``trtbench gate``, ``trtbench ab`` and ``trtbench report --baseline`` all
call ``compare_runs``, so the same pair of runs gets the same ratio, interval and verdict everywhere.

Per variant and rule:
- trial metrics (stage statistics, throughput): one value per trial on each side (``stats``). The two
  sides of one ``ab`` job are paired by round (``paired``); separate runs are compared with Welch's t on
  the log trial values (``two_sample``), widened by the run-to-run variance of earlier baseline runs
  (``--history``, and any older baseline run that holds the variant). Benjamini-Hochberg at ``fdr``
  across the whole comparison decides significance; ``classify`` gives the verdict, including
  ``inconclusive`` when the data cannot resolve the rule's threshold.
- variant metrics (memory, energy, accuracy): the values against the threshold (``absolute_rule``).
Input that cannot be judged is never a pass: a rule with no data on a side is ``no-data`` (the gate
exits 2), a NaN or non-positive trial value is a one-line error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

from trtbench.compare.rules import GateSpec
from trtbench.compare.stats import Estimate, InvalidData, absolute_rule, benjamini_hochberg, classify, paired, two_sample
from trtbench.results.record import VariantRecord
from trtbench.results.store import RunDocument
from trtbench.timing.stats import median_of

ENV_KEYS = (("gpu", "name"), ("gpu", "driver"), ("gpu", "cuda_runtime"), ("packages", "tensorrt"))
FAILING = ("regression", "missing", "failed")


@dataclass
class Finding:
    variant: str
    metric: str
    verdict: str  # pass | regression | minor | improvement | inconclusive | missing | failed | no-data | n/a
    baseline: Optional[float] = None
    candidate: Optional[float] = None
    ratio: Optional[float] = None
    ci: Optional[Tuple[float, float]] = None
    p_value: Optional[float] = None
    detectable: Optional[float] = None  # smallest relative change this data could call significant
    threshold: str = ""
    note: str = ""
    method: str = ""
    trials: Optional[Tuple[int, int]] = None
    throttled: bool = False

    def to_dict(self) -> dict:
        d = dict(self.__dict__)
        d["ci"] = [x if math.isfinite(x) else None for x in self.ci] if self.ci else None  # (0, inf): no variance
        d["trials"] = list(self.trials) if self.trials else None
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in d.items()}


@dataclass
class Verdict:
    findings: List[Finding] = field(default_factory=list)
    env_mismatch: List[str] = field(default_factory=list)
    warnings: List[str] = field(default_factory=list)
    paired: bool = False

    @property
    def regressions(self) -> List[Finding]:
        return [f for f in self.findings if f.verdict in FAILING]

    @property
    def inconclusive(self) -> List[Finding]:
        return [f for f in self.findings if f.verdict == "inconclusive"]

    @property
    def unjudged(self) -> List[Finding]:
        return [f for f in self.findings if f.verdict == "no-data"]

    def passed(self, strict: bool = False) -> bool:
        return not self.regressions and not self.unjudged and not (strict and self.inconclusive)

    def to_dict(self, strict: bool = False) -> dict:
        return {"passed": self.passed(strict), "strict": strict, "paired": self.paired,
                "regressions": len(self.regressions), "inconclusive": len(self.inconclusive),
                "unjudged": len(self.unjudged), "findings": [f.to_dict() for f in self.findings],
                "env_mismatch": self.env_mismatch, "warnings": self.warnings}


def env_of(run: RunDocument) -> Dict[str, Optional[str]]:
    m = run.machine or {}
    return {f"{block}.{key}": ((m.get(block) or {}).get(key)) for block, key in ENV_KEYS}


def env_mismatches(base: List[RunDocument], cand: List[RunDocument]) -> List[str]:
    b = {k: {env_of(r)[k] for r in base} for k in env_of(base[0])}
    c = {k: {env_of(r)[k] for r in cand} for k in env_of(cand[0])}
    return ([f"{k}: baseline {sorted(map(str, b[k]))} vs candidate {sorted(map(str, c[k]))}" for k in b if b[k] != c[k]]
            + window_mismatches(base, cand))


def compute_window_of(rec: VariantRecord) -> str:
    """What bounded the record's compute window (``timing.compute_window``); records written before trtbench
    recorded it timed a GPU graph with transfers around the launch, so they do not compare with later ones."""
    timing = rec.timing or {}
    if timing.get("compute_window"):
        return str(timing["compute_window"])
    return "host clock" if timing.get("timer") == "host" else "not recorded (a trtbench before timing.compute_window)"


def window_mismatches(base: List[RunDocument], cand: List[RunDocument]) -> List[str]:
    """One line when a variant's compute was timed differently on the two sides (the same figure would not mean
    the same thing: an event window around the launch holds the host's launch, one inside the graph does not)."""
    def windows(runs):
        return {rec.id: compute_window_of(rec) for run in runs for rec in run.records if rec.ok}
    b, c = windows(base), windows(cand)
    differ = sorted(i for i in b.keys() & c.keys() if b[i] != c[i])
    if not differ:
        return []
    i = differ[0]
    return [f"timing.compute_window of {len(differ)} variant(s), e.g. {i}: baseline {b[i]!r} vs candidate {c[i]!r}"]


# ---- values of a record for a rule ---------------------------------------------------------------------
def trial_values(rec: VariantRecord, spec: GateSpec) -> List[Tuple[int, float]]:
    """(round, value) per trial: the stage statistic, or the trial's inferences/s for throughput."""
    out = []
    for t in rec.trials:
        if spec.metric == "throughput":
            v = t.queries_per_s * rec.variant.batch if t.samples.walltime_s > 0 else None
        else:
            v = t.value(spec.metric, spec.stat or "median")
        if v is not None:
            out.append((t.round, v))
    return out


def variant_value(rec: VariantRecord, spec: GateSpec) -> Tuple[Optional[float], Optional[str]]:
    """(value, why it is missing) of a per-variant metric."""
    nv = rec.nvml_summary
    if spec.metric == "memory.peak":
        v = nv.get("peak_process_mem_bytes") or nv.get("peak_mem_used_bytes")
        return v, None if v is not None else "no GPU memory telemetry (NVML) in this run"
    if spec.metric == "energy":
        v = nv.get("energy_per_inference_j")
        return v, None if v is not None else (nv.get("energy_note") or "no energy telemetry (NVML) in this run")
    acc = rec.accuracy or {}
    key = spec.metric.split(".", 1)[1]
    if not acc or "error" in acc and acc.get(key) is None:
        return None, acc.get("error") or "no accuracy check in this run"
    v = acc.get(key)
    if v is None and key == "rel_l2" and acc.get("nonfinite"):
        return math.inf, None
    return v, None if v is not None else f"no {key} in the accuracy record"


def _newest(runs: Sequence[RunDocument], vid: str) -> List[VariantRecord]:
    """Every ok record of ``vid`` in ``runs``, oldest run first (by the header's creation time, to the
    microsecond; run ids, which start with their UTC second, break ties)."""
    found = [((r.created, r.run_id), r.by_id()[vid]) for r in runs if vid in r.by_id()]
    return [rec for _, rec in sorted(found, key=lambda x: x[0]) if rec.status == "ok"]


def _is_ab_pair(base: Sequence[RunDocument], cand: Sequence[RunDocument]) -> bool:
    if len(base) != 1 or len(cand) != 1:
        return False
    a, b = base[0].protocol, cand[0].protocol
    return bool(a.get("ab_job")) and a.get("ab_job") == b.get("ab_job") and a.get("arm") == "A" and b.get("arm") == "B"


# ---- the comparison ----------------------------------------------------------------------------------
def compare_runs(base: Sequence[RunDocument], cand: Sequence[RunDocument], specs: Sequence[GateSpec], *,
                 history: Sequence[RunDocument] = (), fdr: float = 0.01, confidence: float = 0.99,
                 min_change_ms: float = 0.0005) -> Verdict:
    v = Verdict(paired=_is_ab_pair(base, cand))
    for run in list(base) + list(cand):
        v.warnings += run.warnings
    ids = list(dict.fromkeys(r.id for run in base for r in run.records))
    if not any(rec.ok for run in base for rec in run.records):
        raise InvalidData(f"the baseline ({', '.join(r.source for r in base)}) has no measured variant: nothing to "
                          f"compare; pass a run that measured something")
    cand_ids = {r.id for run in cand for r in run.records}
    if not cand_ids & set(ids):
        raise InvalidData("the baseline and the candidate share no variant id: nothing to compare; check that both "
                          "measured the same matrix")
    tests: List[Tuple[Finding, Estimate, GateSpec]] = []
    for vid in ids:
        recs = _newest(base, vid)
        if not recs:
            continue
        b = recs[-1]
        older = recs[:-1] + [r for run in history for r in [run.by_id().get(vid)] if r is not None and r.ok]
        crecs = [run.by_id()[vid] for run in cand if vid in run.by_id()]
        if not crecs:
            v.findings.append(Finding(vid, "*", "missing", note="in the baseline, missing from the candidate"))
            continue
        c = sorted(crecs, key=lambda r: r.ok)[-1]
        if not c.ok:
            v.findings.append(Finding(vid, "*", "failed", note=f"candidate {c.status}: {c.reason}"))
            continue
        throttled = "throttled" in b.quality + c.quality
        if throttled:
            v.warnings.append(f"{vid}: throttling was seen; its numbers are suspect")
        for spec in specs:
            f = _judge(vid, b, c, older, spec, v.paired, confidence, throttled)
            if f is None:
                continue
            v.findings.append(f[0])
            if f[1] is not None:
                tests.append((f[0], f[1], spec))
    if not v.findings:  # nothing was compared: that must never read as a pass
        raise InvalidData("no rule applies to these runs (none of their variants has data for "
                          f"{', '.join(s.text for s in specs)}): give --fail-on rules for what the runs measured")
    significant = benjamini_hochberg([est.p_value for _, est, _ in tests], fdr) if tests else []
    for (f, est, spec), sig in zip(tests, significant):
        floor = min_change_ms if spec.on_samples else 0.0
        f.verdict, note = classify(est, threshold=spec.threshold, higher_is_worse=spec.higher_is_worse,
                                   significant=sig, baseline_value=f.baseline, candidate_value=f.candidate,
                                   min_change=floor)
        f.note = note
    return v


def _judge(vid: str, b: VariantRecord, c: VariantRecord, older: List[VariantRecord], spec: GateSpec, is_paired: bool,
           confidence: float, throttled: bool):
    """(finding, estimate or None), or None when a default rule does not apply to these runs."""
    name = spec.name
    what = f"{vid} {name}:"
    if not spec.on_trials:
        vb, why_b = variant_value(b, spec)
        vc, why_c = variant_value(c, spec)
        if vb is None or vc is None:
            if spec.default:
                return None
            return Finding(vid, name, "no-data", vb, vc, threshold=spec.text, throttled=throttled,
                           note=f"{'baseline' if vb is None else 'candidate'}: {why_b or why_c}"), None
        if math.isinf(vc) and spec.higher_is_worse:
            return Finding(vid, name, "regression", vb, vc, threshold=spec.text, throttled=throttled,
                           note="the candidate's outputs are not finite (NaN or inf)"), None
        verdict, note = absolute_rule(vb, vc, threshold=spec.threshold, higher_is_worse=spec.higher_is_worse,
                                      absolute=spec.absolute)
        return Finding(vid, name, verdict, vb, vc, vc / vb if vb else None, threshold=spec.text, note=note,
                       throttled=throttled), None
    tb, tc = trial_values(b, spec), trial_values(c, spec)
    if not tb or not tc:
        plain = (b if not tb else c).timing.get("pytest_benchmark_plain")
        if spec.default and not tb and not tc and not plain:
            return None  # e.g. h2d with --no-data-transfers on both sides
        side = "baseline" if not tb else "candidate"
        why = ("plain pytest-benchmark data has no trials: gate it with pytest-benchmark's --benchmark-compare-fail, "
               "or measure with trtbench" if plain else f"the {side} has no per-trial {name} values")
        return Finding(vid, name, "no-data", threshold=spec.text, note=why, throttled=throttled), None
    vb, vc = median_of([x for _, x in tb]), median_of([x for _, x in tc])
    if is_paired:
        rounds_c = dict(tc)
        common = [(r, x) for r, x in tb if r in rounds_c]
        est = paired([x for _, x in common], [rounds_c[r] for r, _ in common], confidence=confidence, what=what)
    else:
        hist = [[x for _, x in trial_values(r, spec)] for r in older]
        hist = [h for h in hist if h]
        est = two_sample([x for _, x in tb], [x for _, x in tc], confidence=confidence, history=hist or None,
                         what=what)
    f = Finding(vid, name, "pass", vb, vc, est.ratio, (est.ci_low, est.ci_high), est.p_value, est.detectable,
                spec.text, method=est.method, trials=(est.n_baseline, est.n_candidate), throttled=throttled)
    return f, est


__all__ = ["Finding", "Verdict", "compare_runs", "env_mismatches", "trial_values", "InvalidData"]
