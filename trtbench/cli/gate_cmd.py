"""``trtbench gate`` (regression gate for GPU CI) and ``trtbench ab`` (interleaved A/B, then gate)."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

from trtbench.errors import RegressionFound, UserError


def register(sub) -> None:
    p = sub.add_parser("gate", help="decide, noise-aware, whether a candidate run regressed against a baseline",
                       description="Compare candidate results against baseline results (results files, "
                                   "pytest-benchmark JSON or directories). Exit 0: pass, 1: regression, "
                                   "2: usage or input error.")
    p.add_argument("--baseline", nargs="+", required=True, metavar="PATH")
    p.add_argument("--candidate", nargs="+", required=True, metavar="PATH")
    add_gate_options(p)
    p.set_defaults(func=cmd_gate)

    a = sub.add_parser("ab", help="run two candidates interleaved on the same GPU, then gate B against A",
                       description="Interleaved A/B: the variants of A and of B run alternately (ABBA order, "
                                   "--rounds rounds) on the same machine in one job, which removes most "
                                   "runner-to-runner noise; then B is gated against A. A and B are run flags, "
                                   "e.g. --a \"-m old.onnx\" --b \"-m new.onnx\"; the other flags apply to both.")
    a.add_argument("--a", required=True, metavar="FLAGS", help="run flags of candidate A (the baseline)")
    a.add_argument("--b", required=True, metavar="FLAGS", help="run flags of candidate B")
    a.add_argument("--rounds", type=int, default=4, help="alternations (default 4; each runs every variant)")
    from trtbench.config.options import ALL_OPTIONS, add_argparse_options

    add_argparse_options(a, [o for o in ALL_OPTIONS if o.dest not in ("results",)])
    a.add_argument("--results", default="results", metavar="DIR", help="where A's and B's results go")
    add_gate_options(a)
    a.set_defaults(func=cmd_ab)


def add_gate_options(p) -> None:
    p.add_argument("--fail-on", action="append", metavar="SPEC",
                   help="rule, e.g. compute.p50:5%%, latency.p99:10%%, h2d.median:5%%, memory.peak:10%%, "
                        "energy:10%%, accuracy.rel_l2:abs:1e-3 (repeatable; default: compute.p50:5%% h2d.p50:10%% "
                        "d2h.p50:10%% latency.p99:10%%)")
    p.add_argument("--fdr", type=float, default=0.01, help="false-discovery rate across the matrix (default 0.01)")
    p.add_argument("--min-change-us", type=float, default=0.5, metavar="US",
                   help="noise floor: a stage change smaller than this many microseconds is never a regression "
                        "(default 0.5, the CUDA event timer's resolution)")
    p.add_argument("--allow-env-mismatch", action="store_true",
                   help="compare runs whose GPU, driver, CUDA or TensorRT versions differ")
    p.add_argument("--markdown", metavar="FILE", help="write the markdown summary here (it is also appended "
                   "to $GITHUB_STEP_SUMMARY when that is set)")
    p.add_argument("--junit", metavar="FILE", help="write JUnit XML here")
    p.add_argument("--json", metavar="FILE", help="write the JSON verdict here")


def run_gate(base_paths, cand_paths, args) -> int:
    from trtbench.analysis.load import load_runs
    from trtbench.gate.decide import env_mismatches, gate
    from trtbench.gate.outputs import as_json, junit, markdown
    from trtbench.gate.spec import parse_specs

    specs = parse_specs(args.fail_on)
    if not 0 < args.fdr < 1:
        raise UserError(f"bad --fdr {args.fdr}: it is a rate between 0 and 1, e.g. 0.01")
    base, cand = load_runs(base_paths), load_runs(cand_paths)
    mismatch = env_mismatches(base, cand)
    if mismatch and not args.allow_env_mismatch:
        raise UserError("the runs were measured in different environments (" + "; ".join(mismatch) +
                        "): compare like with like, or pass --allow-env-mismatch")
    verdict = gate(base, cand, specs, fdr=args.fdr, min_change_ms=args.min_change_us / 1e3)
    verdict.env_mismatch = mismatch
    texts = [s.text for s in specs]
    md = markdown(verdict, texts)
    print(md)
    for path, text in ((args.markdown, md), (args.junit, junit(verdict)), (args.json, as_json(verdict, texts))):
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            Path(path).write_text(text, encoding="utf-8")
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as f:
            f.write(md)
    if not verdict.passed:
        raise RegressionFound(f"{len(verdict.regressions)} regression(s) found")
    return 0


def cmd_gate(args) -> int:
    return run_gate(args.baseline, args.candidate, args)


def cmd_ab(args) -> int:
    from trtbench.ab import interleaved_ab

    a_path, b_path = interleaved_ab(vars(args), shlex.split(args.a), shlex.split(args.b), args.rounds, args.results)
    print(f"A: {a_path}\nB: {b_path}")
    return run_gate([a_path], [b_path], args)
