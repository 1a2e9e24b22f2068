"""Calibrating ``trtbench ab`` on real runs: A/A jobs must not fail; real slowdowns must be caught.

- A/A: ``--aa-jobs`` jobs of ``trtbench ab`` with identical sides over a >= 3-variant matrix.
- Slowdowns: ``--slow-jobs`` jobs pairing calibration base models with two models that carry extra GPU
  work (``bench/calib_models.py``: a wider first MatMul), the ones whose measured slowdown (independent clock,
  ``bench/clock_check.py``) is closest to 2% and to 5%: A = their bases (a copy where both share one);
  B = the 2% model, the 5% one.
Each job is a real ``interleaved_ab`` run (fresh worker processes per round and side, ABBA), gated with
ab's default rules, exactly what ``trtbench ab`` does; the jobs run one after another in this process
(one process start and one preload for all jobs, which saves device time; the measured processes are
new for every round of every job).

    python bench/ab_calibration.py --models DIR --clock clock-check.json --out OUT [--aa-jobs 20]
        [--slow-jobs 20] [--rounds 4] -- <run flags for both sides>
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from trtbench.cli.main import build_parser  # noqa: E402
from trtbench.compare.engine import compare_runs  # noqa: E402
from trtbench.compare.load import load_runs  # noqa: E402
from trtbench.compare.rules import AB_DEFAULT_SPECS, parse_specs  # noqa: E402
from trtbench.run.ab import interleaved_ab  # noqa: E402


def family(name: str) -> str:
    """``calib`` of ``calib_k64``, ``calib8`` of ``calib8_k32``: the models that share a base."""
    return name.split("_")[0]


def pick_sizes(clock: dict, batch: str = "2048"):
    """(model for ~2%, its ratio), (model for ~5%, its ratio) from the independent clock's medians of the
    calibration plans at ``batch``, each model over the base of its own family (``calib_base``,
    ``calib8_base``)."""
    def bare_ms(row):  # clock-check.json before the launch gate had one bare figure; since, one per method
        return row["bare_ms"][clock["bare_methods"][0]] if "bare_ms" in row else row["bare_median_ms"]

    med = {r["plan"].split("-")[0].split(".")[0]: bare_ms(r) for r in clock["plans"] if bare_ms(r)
           and r["plan"].startswith("calib") and r["plan"].split(".plan")[0].endswith(f"-b{batch}")}
    ratios = {k: v / med[f"{family(k)}_base"] for k, v in med.items()
              if "_base" not in k and f"{family(k)}_base" in med}
    two = min(ratios, key=lambda k: abs(ratios[k] - 1.02))
    five = min((k for k in ratios if k != two), key=lambda k: abs(ratios[k] - 1.05))
    return (two, ratios[two]), (five, ratios[five]), ratios


def a_sides(two: str, five: str):
    """The A-side models paired with the 2% and the 5% model: each one's own base (a copy where both share one,
    so the pair gives two variants)."""
    a_two = f"{family(two)}_base"
    return a_two, (f"{family(five)}_base" if family(five) != family(two) else f"{family(five)}_base_c")


def summarize(jobs, two, five) -> dict:
    """Counts over finished jobs (``ab-jobs.json``'s, also of a call that ran out of time): A/A jobs failed, and
    per slowdown job the verdict on each slower model's compute (caught = called a regression)."""
    aa = [j for j in jobs if j["kind"] == "aa"]
    slow = [j for j in jobs if j["kind"] == "slow"]

    def finding(j, a_model):  # the compute.p50 finding of the variant A's model made (none: not judged)
        return next((v for k, v in j["findings"].items() if k.startswith(a_model + "-") and k.endswith(" compute.p50")),
                    {"verdict": "missing", "ratio": None})

    def tally(values) -> dict:
        values = list(values)
        return {v: values.count(v) for v in sorted(set(values))}

    out = {"slowdowns_by_independent_clock": {"two": list(two), "five": list(five)},
           "aa_jobs": len(aa), "aa_failed": sum(j["failed"] for j in aa),
           "aa_compute_verdicts": tally(v["verdict"] for j in aa for k, v in j["findings"].items() if "compute" in k),
           "slow_jobs": len(slow)}
    for label, a_model in zip(("two", "five"), a_sides(two[0], five[0])):
        out[f"verdicts_{label}"] = tally(finding(j, a_model)["verdict"] for j in slow)
        out[f"caught_{label}"] = out[f"verdicts_{label}"].get("regression", 0)
        out[f"ab_ratios_{label}"] = [None if finding(j, a_model)["ratio"] is None else round(finding(j, a_model)["ratio"], 4)
                                     for j in slow]
    out["wall_s_per_job"] = {"aa": sum(j["wall_s"] for j in aa) / max(len(aa), 1),
                             "slow": sum(j["wall_s"] for j in slow) / max(len(slow), 1)}
    return out


def job(kind: str, k: int, a: str, b: str, rounds: int, flags, out: Path) -> dict:
    args = build_parser().parse_args(["ab", f"--a={a}", f"--b={b}", "--rounds", str(rounds)] + list(flags))
    t0 = time.perf_counter()
    a_path, b_path = interleaved_ab(vars(args), a, b, args.rounds, str(out / f"{kind}-{k:02d}"))
    wall = time.perf_counter() - t0
    verdict = compare_runs(load_runs([a_path]), load_runs([b_path]), parse_specs(None, AB_DEFAULT_SPECS))
    findings = {f"{f.variant} {f.metric}": {"verdict": f.verdict, "ratio": f.ratio, "ci": f.ci,
                                           "detectable": f.detectable, "note": f.note}
                for f in verdict.findings}
    return {"kind": kind, "job": k, "wall_s": wall, "paired": verdict.paired, "failed": not verdict.passed(),
            "findings": findings, "a": a_path, "b": b_path}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", required=True)
    ap.add_argument("--clock", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--aa-jobs", type=int, default=20)
    ap.add_argument("--slow-jobs", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--aa-models", default="calib_base.onnx,resnet,transformer")
    ap.add_argument("--aa-batch", default="512", help="batch of the A/A jobs' variants")
    ap.add_argument("--slow-batch", default="2048", help="batch of the slowdown jobs' variants")
    ap.add_argument("flags", nargs=argparse.REMAINDER)
    if sys.argv[1:2] == ["--summarize"]:  # python bench/ab_calibration.py --summarize ab-jobs.json OUT.json
        if len(sys.argv) != 4:
            ap.error("--summarize takes two paths: ab-jobs.json (or ab-calibration.json) and the summary to write")
        doc = json.loads(Path(sys.argv[2]).read_text())
        sizes = doc["summary"]["slowdowns_by_independent_clock"] if "summary" in doc else doc  # finished, or not
        Path(sys.argv[3]).write_text(json.dumps(summarize(doc["jobs"], sizes["two"], sizes["five"]), indent=1))
        return
    args = ap.parse_args()
    flags = [f for f in args.flags if f != "--"]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    m = Path(args.models)
    (two, r2), (five, r5), ratios = pick_sizes(json.loads(Path(args.clock).read_text()), args.slow_batch)
    a_two, a_five = (f"{x}.onnx" for x in a_sides(two, five))
    aa_models = ",".join(str(m / x) if x.endswith(".onnx") else x for x in args.aa_models.split(","))
    jobs = []
    t0 = time.perf_counter()
    for k in range(max(args.aa_jobs, args.slow_jobs)):  # alternate the kinds so drift spreads over both
        if k < args.aa_jobs:
            side = f"-m {aa_models} --batch {args.aa_batch}"
            jobs.append(job("aa", k, side, side, args.rounds, flags, out))
        if k < args.slow_jobs:
            jobs.append(job("slow", k, f"-m {m / a_two},{m / a_five} --batch {args.slow_batch}",
                            f"-m {m / (two + '.onnx')},{m / (five + '.onnx')} --batch {args.slow_batch}", args.rounds,
                            flags, out))
        # every job is kept as it ends: a call that runs out of time still has the jobs it finished
        (out / "ab-jobs.json").write_text(json.dumps({"two": [two, r2], "five": [five, r5], "jobs": jobs}, indent=1))
        print(f"job {k + 1}: {time.perf_counter() - t0:.0f} s", flush=True)
    summary = dict(summarize(jobs, (two, r2), (five, r5)), rounds=args.rounds, flags=flags,
                   rules=list(AB_DEFAULT_SPECS), total_wall_s=time.perf_counter() - t0)
    summary["slowdowns_by_independent_clock"]["all"] = ratios
    (out / "ab-calibration.json").write_text(json.dumps({"summary": summary, "jobs": jobs}, indent=1))
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
