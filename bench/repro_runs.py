"""Reproducibility across separate runs: N separate ``trtbench run`` processes of the same cached matrix.

Every process is a new ``trtbench run`` (its own build pass, its own worker processes); the engines come
from the cache the first run filled. Per variant, the headline compute figure (median over the run's
trials of the trial medians) of each run; across runs its coefficient of variation, against the target:
<= 1% for TensorRT variants of >= 0.2 ms, <= 3% below (issue: numbers that reproduce). Every pair of
runs is gated afterwards (``bench/repro_gate.py``, on any machine).

    python bench/repro_runs.py --runs 10 --out OUT -- <trtbench run flags>
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from trtbench.results.store import read_results  # noqa: E402


def target(ms: float, backend: str):
    if backend != "tensorrt":
        return None
    return 0.01 if ms >= 0.2 else 0.03


def table(paths):
    per = {}
    for p in paths:
        doc = read_results(p)
        for r in doc.records:
            if r.ok:
                h = r.headline("compute")
                per.setdefault(r.id, {"backend": r.variant.backend, "values": [], "spreads": [], "timing": set()})
                per[r.id]["values"].append(h.value)
                per[r.id]["spreads"].append(h.spread)
                per[r.id]["timing"] |= {t.compute_timing for t in r.trials}
    rows = []
    for vid, d in per.items():
        xs = d["values"]
        mean = sum(xs) / len(xs)
        sd = math.sqrt(sum((x - mean) ** 2 for x in xs) / (len(xs) - 1)) if len(xs) > 1 else 0.0
        cv = sd / mean if mean else 0.0
        t = target(mean, d["backend"])
        rows.append({"id": vid, "runs": len(xs), "mean_ms": mean, "cv": cv, "min_ms": min(xs), "max_ms": max(xs),
                     "within_run_spread_median": sorted(d["spreads"])[len(d["spreads"]) // 2], "target": t,
                     "pass": None if t is None else cv <= t, "compute_timing": sorted(d["timing"]), "values": xs})
    return rows


def markdown(rows) -> str:
    lines = ["| variant | runs | mean compute (ms) | CV across runs | target | pass | spread between trials (median run) |"
             " timing |", "|---|---|---|---|---|---|---|---|"]
    for r in sorted(rows, key=lambda r: r["id"]):
        tgt = "-" if r["target"] is None else f"<= {r['target']:.0%}"
        ok = "-" if r["pass"] is None else ("yes" if r["pass"] else "NO")
        lines.append(f"| {r['id']} | {r['runs']} | {r['mean_ms']:.4f} | {r['cv']:.2%} | {tgt} | {ok} | "
                     f"{r['within_run_spread_median']:.2%} | {', '.join(r['compute_timing'])} |")
    return "\n".join(lines) + "\n"


def earlier_runs(runs_dir: Path, flags) -> list:
    """Complete runs under ``runs_dir`` made with ``flags`` (a series split over calls), oldest first."""
    found = []
    for d in sorted(p for p in runs_dir.iterdir() if p.is_dir()) if runs_dir.is_dir() else []:
        try:
            doc = read_results(str(d))
        except Exception:  # a folder without a readable results file is not a run of this series
            continue
        if doc.status == "complete" and (doc.command or "").endswith(" ".join(flags)):
            found.append(str(d))
    return found


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--out", required=True)
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--table-all", action="store_true",
                    help="tabulate every run under OUT/runs, those of earlier calls too (a series split over calls)")
    ap.add_argument("flags", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    flags = [f for f in args.flags if f != "--"]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    paths, walls = [], []
    with open(out / "repro-runs.log", "a", encoding="utf-8") as log:
        for k in range(args.runs):
            cmd = [args.python, "-m", "trtbench", "run", "-q", "--results", str(out / "runs")] + flags
            t0 = time.perf_counter()
            r = subprocess.run(cmd, capture_output=True, text=True)
            walls.append(time.perf_counter() - t0)
            log.write(f"$ {' '.join(cmd)}\n{r.stdout}\n{r.stderr}\nexit {r.returncode} in {walls[-1]:.1f} s\n")
            log.flush()
            if r.returncode != 0:
                raise SystemExit(f"run {k} failed ({r.returncode}): {r.stderr[-2000:]}")
            paths.append(r.stdout.strip().splitlines()[-1].split("results: ")[-1])
            print(f"run {k + 1}/{args.runs}: {walls[-1]:.1f} s", flush=True)
    if args.table_all:  # every complete run of the same command under OUT/runs, earlier calls' too
        mine = {str(Path(p).parent if p.endswith(".jsonl") else Path(p)) for p in paths}
        paths = [p for p in earlier_runs(out / "runs", flags) if p not in mine] + paths
    rows = table(paths)
    doc = {"command": "trtbench run " + " ".join(flags), "runs": paths, "wall_s": walls, "variants": rows,
           "all_pass": all(r["pass"] for r in rows if r["pass"] is not None)}
    (out / "repro.json").write_text(json.dumps(doc, indent=1))
    md = markdown(rows)
    (out / "repro.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
