"""``trtbench report``: read runs, draw the plots, write ``index.html`` (self-contained: images embedded
as data URIs, no network) and ``report.md`` (images beside it as PNG files).

Every figure is a headline over trials (median of the trial medians) with the between-trial spread; a
``--baseline`` comparison is the gate's own (``trtbench.compare.engine``): the same ratio, interval and
verdict ``trtbench gate`` gives for the same pair. Every name that comes from a results file (models,
paths, ids, reasons, hosts) is escaped in both the HTML and the markdown: a results file cannot inject
markup or script into the report."""

from __future__ import annotations

import base64
import html
import io
import math
from pathlib import Path
from typing import Dict, List, Optional

from trtbench.compare.engine import Finding, compare_runs
from trtbench.errors import UserError
from trtbench.compare.load import load_runs
from trtbench.compare.rules import parse_specs
from trtbench.report.load import (LOAD_COLS, LOAD_PLOTS, PARETO_COLS, budgets_of, load_points, load_rows,
                                  pareto_rows)
from trtbench.report.plots import PLOTS, Row
from trtbench.results.quality import eager_enqueue
from trtbench.results.record import VariantRecord
from trtbench.results.store import RunDocument


def _e(x) -> str:
    return html.escape("" if x is None else str(x), quote=True)


def _md(x) -> str:
    s = "".join(" " if c in "\r\n\t" else (c if c.isprintable() else "?") for c in ("" if x is None else str(x)))
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    for ch in "\\`*_[]|#!$":
        s = s.replace(ch, "\\" + ch)
    return s


def _head(r: VariantRecord, series: str, stat: str = "median"):
    h = r.headline(series)
    return h.get(stat) if h is not None else None


def _fmt(x, digits=3):
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:,.{digits}f}"
    return str(x)


COLUMNS = ("variant", "run", "trials", "h2d p50", "compute p50", "± trials", "launch", "d2h p50", "latency p50",
           "latency p99", "e2e p50", "infer/s", "peak mem MiB", "energy mJ/inf", "rel_l2", "top1", "flags")


def variant_row(run: RunDocument, r: VariantRecord) -> List[str]:
    nv = r.nvml_summary
    acc = r.accuracy or {}
    mem = nv.get("peak_process_mem_bytes") or nv.get("peak_mem_used_bytes")
    compute = r.headline("compute")
    gpu = str(r.timing.get("timer", "")).startswith("cuda")
    return [r.id, run.run_id, str(len(r.trials)), _fmt(_head(r, "h2d")), _fmt(compute.value if compute else None),
            f"{compute.spread:.1%}" if compute and compute.trials > 1 else "-",
            _fmt(eager_enqueue(r.trials) if gpu else None), _fmt(_head(r, "d2h")), _fmt(_head(r, "latency")),
            _fmt(_head(r, "latency", "p99")), _fmt(_head(r, "e2e")), _fmt(r.inferences_per_s, 0),
            _fmt(mem / 2 ** 20 if mem else None, 0),
            _fmt(nv["energy_per_inference_j"] * 1e3 if nv.get("energy_per_inference_j") is not None else None),
            f"{acc['rel_l2']:.2e}" if acc.get("rel_l2") is not None else "-",
            _fmt(acc.get("top1"), 3), ",".join(r.quality) or "-"]


def comparisons(baseline: List[RunDocument], candidate: List[RunDocument]) -> List[Finding]:
    """The gate's comparison with its default rules, regressions first."""
    order = {"regression": 0, "missing": 0, "failed": 0, "no-data": 1, "inconclusive": 1, "minor": 2,
             "improvement": 3, "pass": 4}
    v = compare_runs(baseline, candidate, parse_specs(None))
    return sorted(v.findings, key=lambda f: (order.get(f.verdict, 5), -abs((f.ratio or 1.0) - 1.0)))


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return buf.getvalue()


def render(paths: List[str], out_dir: str, baseline: Optional[List[str]] = None,
           variant: Optional[str] = None, title: str = "trtbench report",
           latency_budget_ms: Optional[float] = None) -> Dict[str, str]:
    runs = load_runs(paths)
    base_runs = load_runs(baseline) if baseline else []
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".trtbench-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise UserError(f"cannot write the report to {out_dir} ({exc.strerror or type(exc).__name__}): pass -o with a "
                        f"writable folder") from None
    ok_rows = [Row(i, f"#{i + 1} {run.run_id}", r) for i, run in enumerate(runs) for r in run.records if r.ok]
    images = []
    for name, fn in PLOTS + LOAD_PLOTS:
        fig = fn(ok_rows, variant) if name == "nvml_timeseries" else fn(ok_rows)
        if fig is None:
            continue
        data = _png(fig)
        (out / f"{name}.png").write_bytes(data)
        images.append((name, data))
    comp = comparisons(base_runs, runs) if base_runs else []
    load = _load_tables(runs, ok_rows, latency_budget_ms)
    (out / "index.html").write_text(_html(title, runs, images, comp, base_runs, load), encoding="utf-8")
    (out / "report.md").write_text(_markdown(title, runs, images, comp, base_runs, load), encoding="utf-8")
    return {"html": str(out / "index.html"), "markdown": str(out / "report.md"),
            "images": [f"{n}.png" for n, _ in images], "variants": sum(len(r.records) for r in runs),
            "warnings": [w for r in runs + base_runs for w in r.warnings]}


CAPTIONS = {"stage_breakdown": "Stage breakdown per variant", "latency_vs_batch": "Latency percentiles against batch",
            "latency_vs_dim": "Latency against a swept named dim (sequence length)",
            "throughput_vs_batch": "Throughput against batch", "memory_utilization": "Peak GPU memory and utilisation",
            "energy_per_inference": "Energy per inference", "accuracy_vs_speed": "Accuracy against speed",
            "nvml_timeseries": "NVML time series", "implicit_vs_explicit": "Implicit against explicit",
            "latency_throughput": "Latency against throughput under load (the knee starred)"}

CSS = """body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem;color:#222;max-width:1400px}
table{border-collapse:collapse;font-size:12px;margin:1rem 0}th,td{border:1px solid #ddd;padding:3px 6px;text-align:right}
th{background:#f4f4f4;position:sticky;top:0}td:first-child,th:first-child{text-align:left;font-family:monospace}
.bad{color:#b00}.good{color:#070}figure{margin:1.5rem 0}img{max-width:100%;border:1px solid #eee}
.note{color:#666;font-size:13px}code{background:#f4f4f4;padding:1px 3px}"""


def _table_html(header, rows) -> str:
    h = "".join(f"<th>{_e(c)}</th>" for c in header)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{h}</tr></thead><tbody>{body}</tbody></table>"


def _table_md(header, rows) -> str:
    lines = ["| " + " | ".join(_md(c) for c in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_md(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _machine_rows(runs: List[RunDocument]):
    rows = []
    for i, run in enumerate(runs):
        m = run.machine or {}
        gpu = m.get("gpu") or {}
        gpu_text = (f"{gpu.get('name')} (cc {gpu.get('compute_capability')}, driver {gpu.get('driver')}, CUDA "
                    f"{gpu.get('cuda_runtime')})" if gpu.get("name") else (gpu.get("reason") or "none"))
        pk = m.get("packages") or {}
        rows.append([f"#{i + 1}", run.run_id, f"{run.kind}, {run.status}", m.get("host"), m.get("cpu"), m.get("python"), gpu_text,
                     pk.get("tensorrt") or "-", pk.get("torch") or "-", pk.get("onnxruntime") or "-", run.source])
    return rows


MACHINE_COLS = ("#", "run", "kind", "host", "cpu", "python", "gpu", "tensorrt", "torch", "onnxruntime", "file")
COMP_COLS = ("variant", "metric", "verdict", "baseline", "candidate", "ratio", "99% CI", "detectable", "trials", "p")


def _ci(f: Finding) -> str:
    return f"{f.ci[0]:.3f}-{f.ci[1]:.3f}" if f.ci and all(math.isfinite(x) for x in f.ci) else "-"


def _comp_rows(comp: List[Finding]):
    return [[f.variant, f.metric, f.verdict, _fmt(f.baseline), _fmt(f.candidate),
             f"{f.ratio:.3f}" if f.ratio is not None else "-", _ci(f),
             f"{f.detectable:.1%}" if f.detectable is not None and f.detectable < 1e9 else "-",
             f"{f.trials[0]}/{f.trials[1]}" if f.trials else "-",
             "-" if f.p_value is None else f"{f.p_value:.1e}"] for f in comp]


def _unmeasured(runs):
    rows = [[r.id, r.status, r.reason, run.run_id] for run in runs for r in run.records if not r.ok]
    rows += [[f"{e['model']}/{e['backend']}/{e['precision']}/{e['build_mode']}/b{e['batch']}"
              + (f"/{e['profile']}" if e.get("profile") else ""), "excluded", e["reason"], run.run_id]
             for run in runs for e in run.excluded]
    return rows


LOAD_NOTE = ("Under load: throughput is completed queries over the GPU span (first query start to last query end, "
             "trtexec's definition); latency under load is the response time, from each query's scheduled arrival "
             "(closed loop: its issue) to its D2H end, queueing included. The harness ceiling is the rate the harness "
             "itself reaches with a no-op compute at that concurrency; a variant at 80% of it or more is flagged "
             "harness_bound. Pareto front: the configurations no other beats on both inferences/s and p99; best = the "
             "front's highest inferences/s whose p99 is within the budget.")


def _load_tables(runs, ok_rows, budget_ms):
    """(variants under load, Pareto rows): empty when nothing ran under load. The budget of the best-configuration
    table: ``budget_ms`` for every run when given, else each run's own searched budgets, else none (front only)."""
    rows = [r for run in runs for r in load_rows(run.records)]
    points = load_points(ok_rows)
    budgets = {i: [budget_ms] if budget_ms is not None else budgets_of([r for r in ok_rows if r.run == i]) or [None]
               for i in range(len(runs))}
    return rows, (pareto_rows(points, budgets) if points else [])


def _html(title, runs, images, comp, base_runs, load=((), ())) -> str:
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{_e(title)}</title><style>{CSS}</style>"
             f"</head><body><h1>{_e(title)}</h1>"]
    n = sum(len(r.records) for r in runs)
    ok = sum(1 for run in runs for r in run.records if r.ok)
    parts.append(f"<p>{len(runs)} run(s), {n} variant(s), {ok} measured. Times in milliseconds, each the median over "
                 f"trials of the trial medians (± = spread of compute between trials); percentiles are nearest-rank as "
                 f"in trtexec; latency = H2D + compute + D2H; e2e = H2D start to D2H end.</p>")
    for w in [w for r in runs + base_runs for w in r.warnings]:
        parts.append(f"<p class='bad'>{_e(w)}</p>")
    if comp:
        parts.append(f"<h2>Comparison against the baseline ({len(base_runs)} run(s))</h2>"
                     "<p class='note'>The gate's comparison (default rules): per-trial values, ratio candidate / "
                     "baseline with its 99% interval, the smallest change the data could detect, and the verdict; "
                     "regressions first.</p>")
        parts.append(_table_html(COMP_COLS, _comp_rows(comp)))
    for name, data in images:
        b64 = base64.b64encode(data).decode()
        parts.append(f"<figure><figcaption><b>{_e(CAPTIONS.get(name, name))}</b></figcaption>"
                     f"<img alt='{_e(name)}' src='data:image/png;base64,{b64}'></figure>")
    rows = [variant_row(run, r) for run in runs for r in run.records if r.ok]
    parts.append("<h2>Variants</h2>" + _table_html(COLUMNS, rows))
    if load[0] or load[1]:
        parts.append(f"<h2>Under load</h2><p class='note'>{_e(LOAD_NOTE)}</p>" + _table_html(LOAD_COLS, load[0]))
        if load[1]:
            parts.append("<h3>Best configuration per model under the latency budget (Pareto front)</h3>" +
                         _table_html(PARETO_COLS, load[1]))
    un = _unmeasured(runs)
    if un:
        parts.append("<h2>Failed, skipped and excluded</h2>" + _table_html(("variant", "status", "reason", "run"), un))
    parts.append("<h2>Machines</h2>" + _table_html(MACHINE_COLS, _machine_rows(runs)))
    parts.append("</body></html>")
    return "".join(parts)


def _markdown(title, runs, images, comp, base_runs, load=((), ())) -> str:
    out = [f"# {_md(title)}", ""]
    n = sum(len(r.records) for r in runs)
    out.append(f"{len(runs)} run(s), {n} variant(s). Times in ms, medians over trials (± = spread between trials); "
               f"percentiles nearest-rank (trtexec); latency = H2D + compute + D2H.")
    out += [f"- warning: {_md(w)}" for r in runs + base_runs for w in r.warnings]
    if comp:
        out += ["", "## Comparison against the baseline", "", _table_md(COMP_COLS, _comp_rows(comp))]
    for name, _ in images:
        out += ["", f"### {CAPTIONS.get(name, name)}", "", f"![{name}]({name}.png)"]
    rows = [variant_row(run, r) for run in runs for r in run.records if r.ok]
    out += ["", "## Variants", "", _table_md(COLUMNS, rows)]
    if load[0] or load[1]:
        out += ["", "## Under load", "", _md(LOAD_NOTE), "", _table_md(LOAD_COLS, load[0])]
        if load[1]:
            out += ["", "### Best configuration per model under the latency budget (Pareto front)", "",
                    _table_md(PARETO_COLS, load[1])]
    un = _unmeasured(runs)
    if un:
        out += ["", "## Failed, skipped and excluded", "", _table_md(("variant", "status", "reason", "run"), un)]
    out += ["", "## Machines", "", _table_md(MACHINE_COLS, _machine_rows(runs)), ""]
    return "\n".join(out)
