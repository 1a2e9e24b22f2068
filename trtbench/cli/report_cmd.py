"""``trtbench report``: comparison reports from results files and pytest-benchmark JSON."""

from __future__ import annotations

from pathlib import Path

from trtbench.config.load import parse_latency_budget
from trtbench.report.build import render


def register(sub) -> None:
    p = sub.add_parser("report", help="render HTML/markdown reports with plots from results",
                       description="Read native results files and pytest-benchmark JSON (files or directories, "
                                   "searched recursively) and write reports/<name>/index.html (self-contained), "
                                   "report.md and the plots as PNG files.")
    p.add_argument("paths", nargs="+", help="results files, pytest-benchmark JSON files, or directories")
    p.add_argument("-o", "--output", metavar="DIR", help="output directory (default: reports/<name>)")
    p.add_argument("--name", default=None, help="report name (default: the first path's name)")
    p.add_argument("--baseline", nargs="+", metavar="PATH", help="baseline run(s) to compare against")
    p.add_argument("--variant", metavar="ID", help="variant whose NVML time series is plotted")
    p.add_argument("--title", default="trtbench report", help="report title")
    p.add_argument("--latency-budget", metavar="T", help="p99 budget of the best-configuration table, e.g. 10ms "
                   "(default: the budgets the runs searched under, else the Pareto front alone)")
    p.set_defaults(func=cmd_report)


def cmd_report(args) -> int:
    name = args.name or (Path(args.paths[0]).resolve().name or "report")
    out = args.output or str(Path("reports") / name)
    budget = parse_latency_budget(args.latency_budget) if args.latency_budget is not None else None
    res = render(args.paths, out, baseline=args.baseline, variant=args.variant, title=args.title,
                 latency_budget_ms=budget)
    print(f"report of {res['variants']} variant(s): {res['html']} and {res['markdown']} "
          f"({len(res['images'])} plots)")
    return 0
