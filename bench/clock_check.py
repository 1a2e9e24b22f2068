"""trtbench's compute figure against an independent clock, on the same TensorRT plans.

For each repetition: ``bench/bare_trt_clock.py`` (bare TensorRT runtime + CUDA events, nothing of
trtbench) times every plan, then ``trtbench run --engine ...`` does, each in its own process, graph mode
on both sides, one query in flight, no data transfers (so both time the same thing: the plan's GPU
work). Repetitions alternate the order (bare first, then trtbench first) so drift hits both alike. The
verdict per plan: trtbench's headline (median over trials of the trial medians) over the bare clock's
median (median over repetitions), within +-2%.

    python bench/clock_check.py --plans DIR --out OUT [--reps 2] [--python python3.9]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from statistics import median

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from trtbench.results.store import read_results  # noqa: E402

TOLERANCE = 0.02


def run(cmd, log, ok=(0,)):
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True)
    with open(log, "a", encoding="utf-8") as f:
        f.write(f"$ {' '.join(cmd)}\n{r.stdout}\n{r.stderr}\nexit {r.returncode} in {time.perf_counter() - t0:.1f} s\n")
    if r.returncode not in ok:
        raise SystemExit(f"failed ({r.returncode}): {' '.join(cmd)}\n{r.stderr[-2000:]}")
    return r


def bare(py, plans, out_json, log, duration):
    cmd = [py, "bench/bare_trt_clock.py", "--mode", "graph", "--duration", str(duration), "--warmup-ms", "200",
           "--json", str(out_json)]
    for p in plans:
        cmd += ["--plan", str(p)]
    run(cmd, log, ok=(0, 1))  # 1: some plan failed; the JSON says which and why
    doc = json.loads(Path(out_json).read_text())
    return {Path(p["plan"]).name: [r["median_ms"] for r in p.get("repeats") or []] for p in doc["plans"]
            if p.get("status") == "ok"}, doc


def harness(py, plans, results, log, duration, extra=()):
    cmd = [py, "-m", "trtbench", "run", *extra, "--no-data-transfers", "--trials", "3", "--duration", str(duration),
           "--warmup", "200", "--max-iterations", "3000", "--results", str(results), "-q"]
    for p in plans:
        cmd += ["--engine", str(p)]
    r = run(cmd, log)
    path = r.stdout.strip().splitlines()[-1].split("results: ")[-1]
    doc = read_results(path)
    return {Path(rec.variant.model.path).name: rec.headline("compute").value for rec in doc.records if rec.ok}, path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--plans", required=True, help="folder of .plan files")
    ap.add_argument("--out", required=True)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--duration", type=float, default=0.3)
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--control", default="--no-nvml",
                    help="a run flag for a second trtbench side (default --no-nvml; '' for none)")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    plans = sorted(Path(args.plans).glob("*.plan"))
    if not plans:
        raise SystemExit(f"no .plan files in {args.plans}: nothing to check")
    log = out / "clock-check.log"
    bare_meds, ours, ours_quiet, meta = {}, {}, {}, None
    for k in range(args.reps):
        order = ("bare", "trtbench") if k % 2 == 0 else ("trtbench", "bare")
        for side in order:
            if side == "bare":
                got, meta = bare(args.python, plans, out / f"bare-{k}.json", log, args.duration)
                for name, meds in got.items():
                    bare_meds.setdefault(name, []).extend(meds)
            else:
                got, _ = harness(args.python, plans, out / "trtbench-results", log, args.duration)
                for name, v in got.items():
                    ours.setdefault(name, []).append(v)
                # the same with one flag changed (by default without the NVML sampler process)
                if args.control:
                    got, _ = harness(args.python, plans, out / "trtbench-results-control", log, args.duration,
                                     [args.control])
                    for name, v in got.items():
                        ours_quiet.setdefault(name, []).append(v)
    rows = []
    for p in plans:
        name = p.name
        b = median(bare_meds[name]) if bare_meds.get(name) else None
        t = median(ours[name]) if ours.get(name) else None
        ratio = t / b if b and t else None
        q = median(ours_quiet[name]) if ours_quiet.get(name) else None
        rows.append({"plan": name, "bare_median_ms": b, "trtbench_compute_ms": t, "ratio": ratio,
                     "trtbench_control_ms": q, "ratio_control": q / b if b and q else None,
                     "bare_runs": bare_meds.get(name), "trtbench_runs": ours.get(name),
                     "trtbench_control_runs": ours_quiet.get(name),
                     "pass": ratio is not None and abs(ratio - 1) <= TOLERANCE})
    doc = {"what": "trtbench compute (graph, no transfers) vs bare TensorRT + CUDA events (graph)", "tolerance": TOLERANCE,
           "reps": args.reps, "control": args.control, "gpu": (meta or {}).get("gpu"), "tensorrt": (meta or {}).get("tensorrt"), "plans": rows,
           "all_pass": all(r["pass"] for r in rows)}
    (out / "clock-check.json").write_text(json.dumps(doc, indent=1))
    lines = [f"| plan | bare clock (ms) | trtbench compute (ms) | ratio | within 2% | {args.control or 'no control'}: ratio |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        f = (lambda x: "-" if x is None else f"{x:.4f}")
        ratio = "-" if r["ratio"] is None else f"{r['ratio']:.4f}"
        quiet = "-" if r["ratio_control"] is None else f"{r['ratio_control']:.4f}"
        lines.append(f"| {r['plan']} | {f(r['bare_median_ms'])} | {f(r['trtbench_compute_ms'])} | {ratio} | "
                     f"{'yes' if r['pass'] else 'NO'} | {quiet} |")
    (out / "clock-check.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
