"""trtbench's throughput under load against an independent multi-stream loop, on the same TensorRT plan.

For each repetition: ``bench/bare_trt_multistream.py`` (bare TensorRT runtime + cuda-python, nothing of
trtbench: N contexts, N streams, a CUDA graph each, trtexec's GPU-span throughput) runs the plan with N queries
in flight, then ``trtbench run --engine PLAN --concurrency N --no-data-transfers`` does, each in its own
process, graph mode on both sides, no data transfers (so both time the same thing: N streams of the plan's GPU
work). Repetitions alternate the order, so drift hits both alike. The verdict per plan: trtbench's throughput
(median over trials of the trials' GPU-span throughput) over the bare loop's (median over repetitions) at
least ``--min-ratio`` (0.95). The trtbench side is the harness as users run it (its own process, its
default trial protocol), so the ratio includes everything trtbench adds per query.

    python3.9 bench/load_compare.py --plans DIR --out OUT [--streams 4] [--reps 2] [--python python3.9]
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


def run(cmd, log):
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True)
    with open(log, "a", encoding="utf-8") as f:
        f.write(f"$ {' '.join(cmd)}\n{r.stdout}\n{r.stderr}\nexit {r.returncode} in {time.perf_counter() - t0:.1f} s\n")
    if r.returncode != 0:
        raise SystemExit(f"failed ({r.returncode}): {' '.join(cmd)}\n{r.stderr[-2000:]}")
    return r


def bare(py, plan, streams, out_json, log, duration):
    run([py, "bench/bare_trt_multistream.py", "--plan", str(plan), "--streams", str(streams), "--mode", "graph",
         "--duration", str(duration), "--warmup-ms", "300", "--json", str(out_json)], log)
    doc = json.loads(Path(out_json).read_text())
    res = doc["results"][0]
    return res["qps_gpu"], res["latency_median_ms"], doc


def harness(py, plan, streams, results, log, duration, extra=()):
    r = run([py, "-m", "trtbench", "run", *extra, "--engine", str(plan), "--concurrency", str(streams), "--no-data-transfers",
             "--trials", "3", "--duration", str(duration), "--warmup", "300", "--results", str(results), "-q"], log)
    path = r.stdout.strip().splitlines()[-1].split("results: ")[-1]
    rec = read_results(path).records[0]
    if not rec.ok:
        raise SystemExit(f"trtbench did not measure {plan}: {rec.status}: {rec.reason}")
    e2e = rec.headline("e2e")
    ceilings = [t.samples.load.get("harness_ceiling_qps") for t in rec.trials if t.samples.load]
    return rec.queries_per_s, e2e.value if e2e else None, path, rec.trials[0].compute_timing, ceilings


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--plans", required=True, help="folder of .plan files")
    ap.add_argument("--out", required=True)
    ap.add_argument("--streams", type=int, default=4, help="queries in flight on both sides")
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--duration", type=float, default=1.0)
    ap.add_argument("--min-ratio", type=float, default=0.95)
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--control", default="", help="a run flag for a second trtbench side (e.g. --control=--spin-wait)")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log = out / "load-compare.log"
    rows = []
    plans = sorted(Path(args.plans).glob("*.plan"))
    if not plans:
        raise SystemExit(f"no .plan files in {args.plans}: nothing to check")
    for plan in plans:
        bare_qps, ours, control, meta, extra = [], [], [], None, {}
        for k in range(args.reps):
            for side in (("bare", "trtbench") if k % 2 == 0 else ("trtbench", "bare")):
                if side == "bare":
                    qps, lat, meta = bare(args.python, plan, args.streams, out / f"bare-{plan.stem}-{k}.json", log,
                                          args.duration)
                    bare_qps.append(qps)
                else:
                    qps, lat, path, timing, ceilings = harness(args.python, plan, args.streams, out / "trtbench-results",
                                                               log, args.duration)
                    ours.append(qps)
                    extra = {"compute_timing": timing, "harness_ceiling_qps": ceilings, "results": path}
                    if args.control:  # the same with one flag changed, right after
                        qps, _, cpath, _, _ = harness(args.python, plan, args.streams, out / "trtbench-results-control",
                                                      log, args.duration, [args.control])
                        control.append(qps)
                        extra["control_results"] = cpath
        b, t = median(bare_qps), median(ours)
        ratio = t / b if b else None
        c = median(control) if control else None
        rows.append({"plan": plan.name, "streams": args.streams, "bare_qps": b, "trtbench_qps": t, "ratio": ratio,
                     "bare_runs": bare_qps, "trtbench_runs": ours, "control": args.control or None,
                     "control_qps": c, "control_runs": control, "ratio_control": c / b if b and c else None, **extra,
                     "pass": ratio is not None and ratio >= args.min_ratio})
    doc = {"what": f"trtbench throughput at concurrency {args.streams} (trtbench run --engine --concurrency "
                   f"{args.streams} --no-data-transfers, CUDA graphs) vs bench/bare_trt_multistream.py on the same "
                   f"plan (graph mode), GPU-span throughput on both sides", "min_ratio": args.min_ratio,
           "reps": args.reps, "duration_s": args.duration, "gpu": (meta or {}).get("gpu"),
           "tensorrt": (meta or {}).get("tensorrt"), "plans": rows, "all_pass": all(r["pass"] for r in rows)}
    (out / "load-compare.json").write_text(json.dumps(doc, indent=1))
    lines = [f"| plan | streams | bare loop (q/s) | trtbench (q/s) | ratio | >= {args.min_ratio:g} | "
             f"{args.control or 'no control'}: ratio |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        ratio = "-" if r["ratio"] is None else f"{r['ratio']:.4f}"
        lines.append(f"| {r['plan']} | {r['streams']} | {r['bare_qps']:.1f} | {r['trtbench_qps']:.1f} | {ratio} | "
                     f"{'yes' if r['pass'] else 'NO'} | "
                     f"{'-' if r['ratio_control'] is None else format(r['ratio_control'], '.4f')} |")
    (out / "load-compare.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    sys.exit(0 if doc["all_pass"] else 1)


if __name__ == "__main__":
    main()
