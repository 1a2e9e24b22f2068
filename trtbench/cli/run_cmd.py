"""``trtbench run``: benchmark a matrix (default: the built-in models on the best available backend), or
prebuilt TensorRT plans with ``--engine``. A thin front end over ``trtbench.run.session``."""

from __future__ import annotations

import shlex
import sys
import time

from trtbench.backends.registry import best_available
from trtbench.backends.tensorrt.engine_file import plan_variants
from trtbench.config.configure import configure
from trtbench.config.options import ALL_OPTIONS, add_argparse_options
from trtbench.config.parse import parse_batches, parse_shapes
from trtbench.errors import UserError
from trtbench.matrix.expand import with_load_axes
from trtbench.report.summary import safe, summary_table
from trtbench.run.measure import host_timer_note
from trtbench.run.plan import plan_matrix
from trtbench.run.session import RunSession, plain_arm


def register(sub) -> None:
    p = sub.add_parser(
        "run", help="benchmark a matrix of variants and write a results file",
        description="Benchmark every variant of the matrix (model x backend x batch x profile x precision x "
                    "build mode) in interleaved trials and write results/<run-id>/results.jsonl. With no "
                    "arguments: the built-in models, batches 1 and 8, fp32, implicit and explicit builds, on the "
                    "best available backend.")
    add_argparse_options(p, ALL_OPTIONS)
    p.add_argument("--engine", metavar="PLAN", action="append", help="benchmark an existing TensorRT plan file "
                   "instead of a model (its I/O tensors and profiles are read from the engine); repeatable")
    p.add_argument("--shapes", metavar="SHAPES", help="with --engine: run shapes, trtexec syntax "
                   "name:1x3x224x224,... (default: the profile's opt shapes, or --batch on them)")
    p.add_argument("--quiet", "-q", action="store_true", help="print only the summary table")
    p.set_defaults(func=cmd_run)


def _progress(quiet: bool, cuda_graph_asked: bool = False):
    described = []

    def say(kind, info):
        if kind == "warning":
            print(f"trtbench: warning: {info['message']}", file=sys.stderr, flush=True)
            return
        if kind == "described":
            described.append(info["record"])
        elif kind == "round" and info["round"] == 0:  # the build pass is over: say what the host timer leaves aside
            note = host_timer_note(described, cuda_graph_asked)
            if note:
                print(f"trtbench: note: {note}", file=sys.stderr, flush=True)
        if quiet:
            return
        if kind == "described":
            r = info["record"]
            what = "ready" if r.status == "ok" else f"{r.status}: {r.reason}"
            print(f"  {safe(r.id)}: {safe(what)}", flush=True)
        elif kind == "round":
            print(f"round {info['round'] + 1}/{info['rounds']}", flush=True)
        elif kind == "trial":
            r, t = info["record"], info["trial"]
            c = t.value("compute")
            print(f"  {safe(r.id)}: compute p50 {c:.4f} ms ({t.samples.queries} queries, {t.compute_timing})"
                  if c is not None else f"  {safe(r.id)}: measured", flush=True)
        elif kind == "trial_failed":
            print(f"  {safe(info['record'].id)}: trial failed: {safe(info['reason'])}", flush=True)
    return say


def cmd_run(args) -> int:
    values = vars(args)
    if args.engine:
        values = dict(values, models=None, backends=["tensorrt"])
    matrix, settings, results_dir = configure(values, best_available)
    if args.engine:
        if matrix.dims:
            raise UserError("--dim sweeps a model's named dims; a prebuilt plan runs at --shapes (trtexec syntax)")
        if args.shapes and args.batches:
            raise UserError("give --shapes or --batch with --engine, not both")
        shapes = parse_shapes(args.shapes, "--shapes") if args.shapes else {}
        batches = list(parse_batches(args.batches)) if args.batches else [None]
        variants = [x for v in plan_variants(args.engine, batches, shapes, settings.device)
                    for x in with_load_axes(matrix, v)]  # --concurrency/--request-rate/--latency-budget
        excluded = []
        matrix_doc = {"engines": [str(e) for e in args.engine], "batches": [b for b in batches if b is not None],
                      "shapes": {k: list(v) for k, v in shapes.items()}, "concurrencies": list(matrix.concurrencies),
                      "request_rates": list(matrix.request_rates), "latency_budget_ms": matrix.latency_budget_ms}
    else:
        variants, excluded = plan_matrix(matrix, settings)
        matrix_doc = matrix.to_dict()
    if not variants:
        raise UserError(f"nothing to run: all {len(excluded)} combination(s) of the matrix are excluded "
                        f"(first: {excluded[0].reason if excluded else 'none'}); change the batches or profiles")
    loads = sum(v.under_load for v in variants)
    print(f"trtbench: {len(variants)} variant(s), {len(excluded)} excluded combination(s); {settings.trials} trial(s) "
          f"each, {settings.isolation} isolation; {settings.mode} mode" +
          (f" ({loads} under load: queries in flight, open loop or a latency budget)" if loads else "") +
          f", >= {settings.iterations} queries and >= {settings.duration_s:g} s per trial", flush=True)
    t0 = time.perf_counter()
    session = RunSession([plain_arm(variants, settings)], results_dir,
                         command=shlex.join(["trtbench"] + sys.argv[1:]), matrices=[matrix_doc],
                         excluded=[[e.to_dict() for e in excluded]], progress=_progress(args.quiet, bool(args.cuda_graph)))
    outcome = session.run()
    records = outcome.records
    print(summary_table(records, [e.to_dict() for e in excluded]))
    counts = {s: sum(r.status == s for r in records) for s in ("ok", "skipped", "failed")}
    print(f"{counts['ok']} ok, {counts['skipped']} skipped, {counts['failed']} failed in "
          f"{time.perf_counter() - t0:.1f} s (order seed {outcome.seed}); results: {outcome.arms[0].path}")
    if outcome.status != "complete":
        print(f"trtbench: {outcome.status}; the trials measured so far are in the results file", file=sys.stderr)
        return 143 if outcome.status == "aborted" else 130  # 128 + SIGTERM / SIGINT, as a shell reports them
    if counts["ok"] == 0:
        raise UserError(f"no variant was measured ({counts['skipped']} skipped, {counts['failed']} failed): see the "
                        f"reasons above")
    return 0
