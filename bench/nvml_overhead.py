"""What NVML sampling costs, under the trial protocol: separate ``trtbench run`` processes with the sampler
on and off, alternated ABBA (``--pairs`` pairs of pairs), the same cached variant(s). Per run the headline
(median over trials of the trial medians) of latency and compute; the overhead is the ratio of the
on-runs' mean to the off-runs' mean, with the spread between runs of each kind beside it, so the claim is
only as strong as the run-to-run spread allows.

    python bench/nvml_overhead.py --out OUT [--pairs 3] -- <trtbench run flags>
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from trtbench.results.store import read_results  # noqa: E402


def _stats(xs):
    m = sum(xs) / len(xs)
    sd = math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1)) if len(xs) > 1 else 0.0
    return m, sd


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("flags", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    flags = [f for f in args.flags if f != "--"]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    order = []
    for _ in range(args.pairs):
        order += ["off", "on", "on", "off"]
    runs = {"on": [], "off": []}
    with open(out / "nvml-overhead.log", "a", encoding="utf-8") as log:
        for kind in order:
            cmd = [args.python, "-m", "trtbench", "run", "-q", "--results", str(out / "runs")] + flags
            cmd += ["--no-nvml"] if kind == "off" else []
            r = subprocess.run(cmd, capture_output=True, text=True)
            log.write(f"$ {' '.join(cmd)}\n{r.stdout}\n{r.stderr}\nexit {r.returncode}\n")
            if r.returncode != 0:
                raise SystemExit(f"run failed: {r.stderr[-1500:]}")
            doc = read_results(r.stdout.strip().splitlines()[-1].split("results: ")[-1])
            runs[kind].append({rec.id: {s: rec.headline(s).value for s in ("latency", "compute")}
                               for rec in doc.records if rec.ok})
    result = {}
    for vid in runs["on"][0]:
        for s in ("latency", "compute"):
            on = [r[vid][s] for r in runs["on"]]
            off = [r[vid][s] for r in runs["off"]]
            (m1, s1), (m0, s0) = _stats(on), _stats(off)
            result[f"{vid} {s}"] = {"on_mean_ms": m1, "off_mean_ms": m0, "overhead": m1 / m0 - 1,
                                    "run_to_run_cv_on": s1 / m1, "run_to_run_cv_off": s0 / m0, "on": on, "off": off}
    doc = {"order": order, "flags": flags, "result": result}
    (out / "nvml-overhead.json").write_text(json.dumps(doc, indent=1))
    for k, v in result.items():
        print(f"{k}: on {v['on_mean_ms']:.4f} ms vs off {v['off_mean_ms']:.4f} ms = {v['overhead']:+.2%}; "
              f"run-to-run CV on {v['run_to_run_cv_on']:.2%}, off {v['run_to_run_cv_off']:.2%}")


if __name__ == "__main__":
    main()
