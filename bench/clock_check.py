"""trtbench's compute figure against an independent clock, on the same TensorRT plans.

For each repetition: ``bench/bare_trt_clock.py`` (bare TensorRT runtime + CUDA events, nothing of
trtbench) times every plan, then ``trtbench run --engine ...`` does, each in its own process, graph mode
on both sides, one query in flight, no data transfers (so both time the same thing: the plan's GPU
work; ``--trtbench-transfers`` runs trtbench with its transfers, to see how far that figure moves). Repetitions alternate the order (bare first, then trtbench first) so drift hits both alike. The
verdict per plan: trtbench's headline (median over trials of the trial medians) over the bare clock's
median (median over repetitions) with the first of --bare-methods (default ``gated``: the stream held until
the end event is enqueued, so neither side times the host's launch gap), within +-2%. That method runs each
plan in a bare process of its own (``--no-bare-per-plan``: all in one), as trtbench's trials each load their
engine first in a fresh worker: an engine loaded after others in one process can run slower. The other methods are
shown beside it: ``query`` (an event pair around each launch, the gap timed) and ``stream`` (launches back
to back, the GPU kept fed: a method that shares no mechanism with the gate). The control side runs
trtbench with the ``--control`` flags (default ``--no-launch-gate``). Exit 1 when a plan is outside 2%.

    python bench/clock_check.py --plans DIR --out OUT [--reps 2] [--python python3.9]
"""

from __future__ import annotations

import argparse
import json
import shlex
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


def bare(py, plans, out_json, log, duration, method):
    cmd = [py, "bench/bare_trt_clock.py", "--mode", "graph", "--method", method, "--duration", str(duration),
           "--warmup-ms", "200", "--json", str(out_json)]
    for p in plans:
        cmd += ["--plan", str(p)]
    run(cmd, log, ok=(0, 1))  # 1: some plan failed; the JSON says which and why
    doc = json.loads(Path(out_json).read_text())
    got = {Path(p["plan"]).name: [r["median_ms"] for r in p.get("repeats") or []] for p in doc["plans"]
           if p.get("status") == "ok"}
    host_bound = {Path(p["plan"]).name for p in doc["plans"] if any(r.get("host_bound") for r in p.get("repeats") or [])}
    return got, host_bound, doc


def bare_per_plan(py, plans, out_json, log, duration, method):
    """``bare`` with each plan in a process of its own (``out_json`` gets a ``-<n>`` per plan): every plan is
    then the first engine its process loads, as in trtbench's trials."""
    got, host_bound, meta = {}, set(), None
    for i, p in enumerate(plans):
        g, hb, meta = bare(py, [p], Path(out_json).with_name(f"{Path(out_json).stem}-{i}.json"), log, duration, method)
        got.update(g)
        host_bound |= hb
    return got, host_bound, meta


def harness(py, plans, results, log, duration, extra=(), transfers=False):
    cmd = [py, "-m", "trtbench", "run", *extra, *([] if transfers else ["--no-data-transfers"]), "--trials", "3",
           "--duration", str(duration),
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
    ap.add_argument("--bare-methods", default="gated,query,stream",
                    help="bare_trt_clock.py --method values; the first is the reference the verdict uses")
    ap.add_argument("--control", default="--no-launch-gate",
                    help="run flags for a second trtbench side (default --no-launch-gate; '' for none)")
    ap.add_argument("--trtbench-transfers", action="store_true",
                    help="run trtbench with its data transfers (its default; compute is then timed by event nodes "
                         "inside the graph) while the bare clock runs without: is compute the same quantity?")
    ap.add_argument("--bare-per-plan", action=argparse.BooleanOptionalAction, default=True,
                    help="the first of --bare-methods with each plan in its own process (default: yes; trtbench's "
                         "trials each load their engine first thing in a fresh process too); the other methods "
                         "time every plan in one process")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    plans = sorted(Path(args.plans).glob("*.plan"))
    if not plans:
        raise SystemExit(f"no .plan files in {args.plans}: nothing to check")
    methods = [m for m in args.bare_methods.split(",") if m]
    log = out / "clock-check.log"
    bare_meds = {m: {} for m in methods}
    host_bound, ours, control, meta = set(), {}, {}, None
    for k in range(args.reps):
        order = ("bare", "trtbench") if k % 2 == 0 else ("trtbench", "bare")
        for side in order:
            if side == "bare":
                for m in methods:
                    each = bare_per_plan if args.bare_per_plan and m == methods[0] else bare
                    got, hb, meta = each(args.python, plans, out / f"bare-{m}-{k}.json", log, args.duration, m)
                    host_bound |= hb
                    for name, meds in got.items():
                        bare_meds[m].setdefault(name, []).extend(meds)
            else:
                got, _ = harness(args.python, plans, out / "trtbench-results", log, args.duration,
                                 transfers=args.trtbench_transfers)
                for name, v in got.items():
                    ours.setdefault(name, []).append(v)
                if args.control:  # the same with one flag changed (by default the launch gate off)
                    got, _ = harness(args.python, plans, out / "trtbench-results-control", log, args.duration,
                                     shlex.split(args.control), transfers=args.trtbench_transfers)
                    for name, v in got.items():
                        control.setdefault(name, []).append(v)

    def med(d, name):
        return median(d[name]) if d.get(name) else None

    def ratio(a, b):
        return a / b if a and b else None

    ref = methods[0]
    rows = []
    for p in plans:
        name = p.name
        bare_ms = {m: med(bare_meds[m], name) for m in methods}
        t, c = med(ours, name), med(control, name)
        r = ratio(t, bare_ms[ref])
        rows.append({"plan": name, "bare_ms": bare_ms, "trtbench_compute_ms": t, "ratio": r,
                     "ratios": {m: ratio(t, bare_ms[m]) for m in methods},
                     "trtbench_control_ms": c, "control_ratios": {m: ratio(c, bare_ms[m]) for m in methods},
                     "bare_runs": {m: bare_meds[m].get(name) for m in methods}, "trtbench_runs": ours.get(name),
                     "trtbench_control_runs": control.get(name), "bare_stream_host_bound": name in host_bound,
                     "pass": r is not None and abs(r - 1) <= TOLERANCE})
    side = "with its data transfers" if args.trtbench_transfers else "no transfers"
    doc = {"what": f"trtbench compute (graph, {side}) vs bare TensorRT + CUDA events (graph, no transfers, "
                   f"--method {ref})",
           "bare_per_plan": args.bare_per_plan, "trtbench_transfers": args.trtbench_transfers,
           "tolerance": TOLERANCE, "reps": args.reps, "bare_methods": methods, "control": args.control,
           "gpu": (meta or {}).get("gpu"), "tensorrt": (meta or {}).get("tensorrt"), "plans": rows,
           "all_pass": all(r["pass"] for r in rows)}
    (out / "clock-check.json").write_text(json.dumps(doc, indent=1))
    f = (lambda x: "-" if x is None else f"{x:.4f}")
    head = (["plan"] + [f"bare {m} (ms)" for m in methods] + ["trtbench (ms)"] + [f"/ {m}" for m in methods]
            + [f"within 2% of {ref}"] + ([f"{args.control}: / {m}" for m in methods] if args.control else []))
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = ([r["plan"]] + [f(r["bare_ms"][m]) + ("*" if m == "stream" and r["bare_stream_host_bound"] else "")
                                for m in methods] + [f(r["trtbench_compute_ms"])]
                 + [f(r["ratios"][m]) for m in methods] + ["yes" if r["pass"] else "NO"]
                 + ([f(r["control_ratios"][m]) for m in methods] if args.control else []))
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("`*`: the bare clock's back-to-back launches were host-bound (the host needed 80% or more of the GPU's "
                 "time per launch), so that figure holds launch gaps.")
    (out / "clock-check.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    sys.exit(0 if doc["all_pass"] else 1)


if __name__ == "__main__":
    main()
