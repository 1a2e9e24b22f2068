"""``trtbench gate`` and ``trtbench ab``: noise-aware regression verdicts (thin front ends over
``trtbench.compare.engine`` and ``trtbench.run.ab``)."""

from __future__ import annotations

import os
from pathlib import Path

from trtbench.compare.engine import compare_runs, env_mismatches
from trtbench.compare.load import load_runs
from trtbench.compare.rules import AB_DEFAULT_SPECS, DEFAULT_SPECS, parse_specs
from trtbench.config.numbers import NumberRule, parse_number
from trtbench.config.options import ALL_OPTIONS, add_argparse_options
from trtbench.errors import RegressionFound, UserError
from trtbench.gate.outputs import as_json, junit, markdown, status_line
from trtbench.run.ab import interleaved_ab


def register(sub) -> None:
    p = sub.add_parser("gate", help="decide, noise-aware, whether a candidate run regressed against a baseline",
                       description="Compare candidate results against baseline results (results files, "
                                   "pytest-benchmark JSON or directories). The unit is the trial. Exit 0: pass, "
                                   "1: regression (or inconclusive with --strict), 2: usage or input error, "
                                   "including data the gate cannot judge.")
    p.add_argument("--baseline", nargs="+", required=True, metavar="PATH",
                   help="baseline run(s); with several runs of a variant, the newest is the baseline and the older "
                        "ones are history")
    p.add_argument("--candidate", nargs="+", required=True, metavar="PATH")
    p.add_argument("--history", nargs="+", metavar="PATH", help="earlier baseline runs of the same variants: their "
                   "run-to-run spread widens the interval when it exceeds the spread between trials")
    add_gate_options(p, DEFAULT_SPECS)
    p.set_defaults(func=cmd_gate)

    a = sub.add_parser("ab", help="run two candidates interleaved on the same GPU, then gate B against A",
                       description="Interleaved A/B: A's and B's variants run in the same rounds (ABBA order), each "
                                   "trial of each side in its own worker process, every trial written as it ends; "
                                   "B is then gated against A round by round (paired). A and B are run flags, e.g. "
                                   "--a \"-m old.onnx\" --b \"-m new.onnx\"; the other flags apply to both.")
    a.add_argument("--a", required=True, metavar="FLAGS", help="run flags of candidate A (the baseline)")
    a.add_argument("--b", required=True, metavar="FLAGS", help="run flags of candidate B")
    a.add_argument("--rounds", default="6", metavar="N", help="rounds (default 6): each gives one trial of every "
                   "variant on each side")
    add_argparse_options(a, [o for o in ALL_OPTIONS if o.dest not in ("results", "trials")])
    a.add_argument("--results", default="results", metavar="DIR", help="where A's and B's results go")
    add_gate_options(a, AB_DEFAULT_SPECS)
    a.set_defaults(func=cmd_ab)


def add_gate_options(p, defaults) -> None:
    p.add_argument("--fail-on", action="append", metavar="SPEC",
                   help="rule, e.g. compute.p50:5%%, latency.p99:10%%, throughput:5%%, memory.peak:10%%, "
                        "energy:10%%, accuracy.rel_l2:abs:1e-3 (repeatable; default: " +
                        " ".join(defaults).replace("%", "%%") + ")")
    p.add_argument("--fdr", default="0.01", help="false-discovery rate across the comparison (default 0.01)")
    p.add_argument("--min-change-us", default="0.5", metavar="US",
                   help="noise floor: a stage change smaller than this many microseconds is never a regression "
                        "(default 0.5, the CUDA event timer's resolution)")
    p.add_argument("--strict", action="store_true", help="fail on inconclusive verdicts too (the data could not "
                   "rule out a threshold-sized regression)")
    p.add_argument("--allow-env-mismatch", action="store_true",
                   help="compare runs whose GPU, driver, CUDA or TensorRT versions differ")
    p.add_argument("--markdown", metavar="FILE", help="write the markdown summary here (it is also appended "
                   "to $GITHUB_STEP_SUMMARY when that is set)")
    p.add_argument("--junit", metavar="FILE", help="write JUnit XML here")
    p.add_argument("--json", metavar="FILE", help="write the JSON verdict here")
    p.set_defaults(gate_defaults=tuple(defaults))


def _write(path: str, text: str, flag: str) -> None:
    p = Path(path)
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UserError(f"cannot write {flag} {path} ({exc.strerror or type(exc).__name__}): give a writable file "
                        f"path") from None


def run_gate(base_paths, cand_paths, args, history_paths=None) -> int:
    specs = parse_specs(args.fail_on, args.gate_defaults)
    fdr = parse_number(args.fdr, NumberRule(float, 0.0, 0.5, above=True), "--fdr")
    floor_us = parse_number(args.min_change_us, NumberRule(float, 0.0, 1e6, unit="microseconds"), "--min-change-us")
    base, cand = load_runs(base_paths, "baseline results"), load_runs(cand_paths, "candidate results")
    history = load_runs(history_paths, "history results") if history_paths else []
    mismatch = env_mismatches(base, cand)
    if mismatch and not args.allow_env_mismatch:
        raise UserError("the runs were measured in different environments (" + "; ".join(mismatch) +
                        "): compare like with like, or pass --allow-env-mismatch")
    verdict = compare_runs(base, cand, specs, history=history, fdr=fdr, min_change_ms=floor_us / 1e3)
    verdict.env_mismatch = mismatch
    texts = [s.text for s in specs]
    md = markdown(verdict, texts, args.strict)
    for path, text, flag in ((args.markdown, md, "--markdown"), (args.junit, junit(verdict, args.strict), "--junit"),
                             (args.json, as_json(verdict, texts, args.strict), "--json")):
        if path:
            _write(path, text, flag)
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        try:
            with open(summary, "a", encoding="utf-8") as f:
                f.write(md)
        except OSError as exc:
            raise UserError(f"cannot append to $GITHUB_STEP_SUMMARY {summary} ({exc.strerror}): check the runner") \
                from None
    print(md)
    if verdict.regressions:
        raise RegressionFound(f"{len(verdict.regressions)} regression(s) found")
    if verdict.unjudged:
        first = verdict.unjudged[0]
        raise UserError(f"the gate cannot judge {len(verdict.unjudged)} check(s) (first: {first.variant} "
                        f"{first.metric}: {first.note}): give runs with that data or drop the rule")
    if args.strict and verdict.inconclusive:
        raise RegressionFound(f"--strict: {len(verdict.inconclusive)} inconclusive check(s)")
    return 0


def cmd_gate(args) -> int:
    return run_gate(args.baseline, args.candidate, args, args.history)


def cmd_ab(args) -> int:
    a_path, b_path = interleaved_ab(vars(args), args.a, args.b, args.rounds, args.results)
    print(f"A: {a_path}\nB: {b_path}")
    return run_gate([a_path], [b_path], args)


__all__ = ["register", "run_gate", "status_line"]
