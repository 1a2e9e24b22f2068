"""Calibration of ``trtbench gate`` on real measured sample distributions (the committed H100 runs).

Each trial draws, for every variant of a committed run, a baseline and a candidate sample set from
that variant's measured compute samples (same size as measured: the default sample counts), and gates
the whole matrix with the default rule ``compute.p50:5%``.
- A/A: both sides from the same distribution; a trial is a false positive if any variant is flagged.
- Power: one variant per trial gets a true 5% compute slowdown (its candidate samples x 1.05); the
  trial counts as caught if that variant is flagged.

    python bench/gate_calibration.py [TRIALS] [OUT.json]
"""

from __future__ import annotations

import copy
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RUNS = [ROOT / "results/h100-2026-11-25/tensorrt-8.6/20261125-221027-8900fe",
        ROOT / "results/h100-2026-11-25/torch/20261125-221954-4acaed"]


def _synthetic(run, rng, slow_id=None, factor=1.0):
    from trtbench.analysis.load import Run

    base, cand = [], []
    for r in run.records:
        if r["status"] != "ok":
            continue
        x = np.asarray(r["samples"]["compute"])
        for side, out in (("b", base), ("c", cand)):
            d = rng.choice(x, size=x.size, replace=True)
            if side == "c" and r["variant"]["id"] == slow_id:
                d = d * factor
            rec = copy.copy(r)
            rec["samples"] = {"compute": d.tolist()}
            rec["quality"] = []
            out.append(rec)
    mk = lambda recs: Run("synthetic", "native", "x", run.machine, recs)  # noqa: E731
    return [mk(base)], [mk(cand)]


def main(trials: int, out: str) -> int:
    from trtbench.analysis.load import load_runs
    from trtbench.gate.decide import gate
    from trtbench.gate.spec import parse_specs

    specs = parse_specs(["compute.p50:5%"])
    runs = [load_runs([str(p)])[0] for p in RUNS]
    rng = np.random.default_rng(2026)
    t0 = time.perf_counter()
    fp = caught = 0
    per_run = {}
    for t in range(trials):
        run = runs[t % len(runs)]
        b, c = _synthetic(run, rng)
        v = gate(b, c, specs, seed=t)
        fp += not v.passed
        ok = [r for r in run.records if r["status"] == "ok"]
        target = ok[rng.integers(0, len(ok))]["variant"]["id"]
        b, c = _synthetic(run, rng, target, 1.05)
        v = gate(b, c, specs, seed=t)
        hit = any(f.variant == target and f.verdict == "regression" for f in v.findings)
        caught += hit
        per_run.setdefault(run.run_id, [0, 0])
        per_run[run.run_id][0] += 1
        per_run[run.run_id][1] += hit
    doc = {"trials": trials, "rule": "compute.p50:5%", "fdr": 0.01,
           "false_positive_rate": fp / trials, "power_5pct_slowdown": caught / trials,
           "per_run_power": {k: v[1] / v[0] for k, v in per_run.items()},
           "sources": [str(p.relative_to(ROOT)) for p in RUNS],
           "variants_per_trial": {r.run_id: sum(x["status"] == "ok" for x in r.records) for r in runs},
           "seconds": time.perf_counter() - t0,
           "targets": {"false_positive_rate_max": 0.01, "power_min": 0.95}}
    doc["pass"] = doc["false_positive_rate"] <= 0.01 and doc["power_5pct_slowdown"] >= 0.95
    Path(out).write_text(json.dumps(doc, indent=1))
    print(json.dumps(doc))
    return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000,
                  sys.argv[2] if len(sys.argv) > 2 else "gate-calibration.json"))
