"""``trtbench run``: benchmark a matrix (default: the built-in models on the best available backend)."""

from __future__ import annotations

import shlex
import sys
import time

from trtbench.backends.registry import best_available
from trtbench.config.configure import configure
from trtbench.config.options import ALL_OPTIONS, add_argparse_options


def register(sub) -> None:
    p = sub.add_parser(
        "run", help="benchmark a matrix of variants and write a results file",
        description="Benchmark every variant of the matrix (model x backend x batch x profile x precision x "
                    "build mode) and write results/<run-id>/results.json. With no arguments: the built-in "
                    "models, batches 1 and 8, fp32, implicit and explicit builds, on the best available backend.")
    add_argparse_options(p, ALL_OPTIONS)
    p.add_argument("--engine", metavar="PLAN", help="benchmark an existing TensorRT plan file instead of a "
                   "model (its I/O tensors and profiles are read from the engine)")
    p.add_argument("--shapes", metavar="SHAPES", help="with --engine: run shapes, trtexec syntax "
                   "name:1x3x224x224,... (default: the profile's opt shapes, or --batch on them)")
    p.add_argument("--quiet", "-q", action="store_true", help="print only the summary table")
    p.set_defaults(func=cmd_run)


def cmd_run(args) -> int:
    values = vars(args)
    if args.engine:
        from trtbench.backends.tensorrt.plan_run import run_engine_file

        return run_engine_file(args)
    matrix, settings, results_dir = configure(values, best_available)
    from trtbench.report.summary import summary_table
    from trtbench.runner import plan_matrix, run_matrix

    variants, excluded = plan_matrix(matrix)
    say = (lambda *a: None) if args.quiet else (lambda *a: print(*a, flush=True))
    say(f"trtbench: {len(variants)} variant(s), {len(excluded)} excluded combination(s); backends "
        f"{', '.join(matrix.backends)}; {settings.mode} mode, >= {settings.iterations} queries and "
        f">= {settings.duration_s:g} s each")
    t0 = time.perf_counter()

    def progress(i, n, record):
        st = record.get("stats")
        detail = (f"compute p50 {st['stages']['compute']['median']:.3f} ms, "
                  f"{st['throughput']['inferences_per_s']:,.0f} infer/s") if st else record.get("reason", "")
        say(f"[{i}/{n}] {record['variant']['id']}: {record['status']}  {detail}")

    outcome = run_matrix(matrix, settings, results_dir, command=shlex.join(["trtbench"] + sys.argv[1:]),
                         on_record=progress, variants=variants, excluded=excluded)
    print(summary_table(outcome.records, outcome.excluded))
    counts = {s: sum(r["status"] == s for r in outcome.records) for s in ("ok", "skipped", "failed")}
    print(f"{counts['ok']} ok, {counts['skipped']} skipped, {counts['failed']} failed in "
          f"{time.perf_counter() - t0:.1f} s; results: {outcome.path}")
    if outcome.interrupted:
        print("trtbench: interrupted; the variants measured so far are in the results file", file=sys.stderr)
        return 130
    return 0
