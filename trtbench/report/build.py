"""``trtbench report``: read runs, draw the plots, write ``index.html`` (self-contained: images embedded
as data URIs, no network) and ``report.md`` (images beside it as PNG files).

Every name that comes from a results file (models, paths, ids, reasons, hosts) is escaped in both the
HTML and the markdown: a results file cannot inject markup or script into the report."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Dict, List, Optional

from trtbench.analysis.compare import compare_samples, summary_comparison
from trtbench.analysis.load import Run, load_runs
from trtbench.report.plots import PLOTS


def _e(x) -> str:
    return html.escape("" if x is None else str(x), quote=True)


def _md(x) -> str:
    s = "" if x is None else str(x)
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    for ch in "\\`*_[]|#!":
        s = s.replace(ch, "\\" + ch)
    return s.replace("\n", " ")


def _stage(r, stage, key="median"):
    s = ((r.get("stats") or {}).get("stages") or {}).get(stage) or {}
    return s.get(key) if s.get("n") else None


def _fmt(x, digits=3):
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:,.{digits}f}"
    return str(x)


COLUMNS = ("variant", "run", "h2d p50", "compute p50", "d2h p50", "latency p50", "latency p99", "e2e p50",
           "infer/s", "peak mem MiB", "energy mJ/inf", "rel_l2", "top1", "flags")


def variant_row(run: Run, r: dict) -> List[str]:
    nv = ((r.get("nvml") or {}).get("summary")) or {}
    acc = r.get("accuracy") or {}
    thr = ((r.get("stats") or {}).get("throughput") or {}).get("inferences_per_s")
    mem = nv.get("peak_process_mem_bytes") or nv.get("peak_mem_used_bytes")
    return [r["variant"]["id"], run.run_id, _fmt(_stage(r, "h2d")), _fmt(_stage(r, "compute")), _fmt(_stage(r, "d2h")),
            _fmt(_stage(r, "latency")), _fmt(_stage(r, "latency", "p99")), _fmt(_stage(r, "e2e")),
            _fmt(thr, 0), _fmt(mem / 2 ** 20 if mem else None, 0),
            _fmt(nv["energy_per_inference_j"] * 1e3 if nv.get("energy_per_inference_j") is not None else None),
            f"{acc['rel_l2']:.2e}" if acc.get("rel_l2") is not None else "-",
            _fmt(acc.get("top1"), 3), ",".join(r.get("quality") or []) or "-"]


def comparisons(baseline: List[Run], candidate: List[Run], metric: str = "compute") -> List[dict]:
    base: Dict[str, dict] = {}
    for run in baseline:
        base.update({k: v for k, v in run.by_id().items() if v["status"] == "ok"})
    out = []
    for run in candidate:
        for vid, r in run.by_id().items():
            b = base.get(vid)
            if b is None or r["status"] != "ok":
                continue
            bs, cs = (b.get("samples") or {}).get(metric), (r.get("samples") or {}).get(metric)
            if bs and cs:
                c = compare_samples(bs, cs)
            elif _stage(b, metric) is not None and _stage(r, metric) is not None:
                c = summary_comparison(b["stats"]["stages"][metric], r["stats"]["stages"][metric])
            else:
                continue
            significant = c.p_value is not None and c.p_value < 0.01 and (c.ci_low > 1.0 or c.ci_high < 1.0)
            out.append({"id": vid, "metric": metric, **c.to_dict(), "significant": significant})
    out.sort(key=lambda d: -abs(d["ratio"] - 1.0))
    regress = [d for d in out if d["ratio"] > 1.0]
    improve = [d for d in out if d["ratio"] <= 1.0]
    return regress + improve


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return buf.getvalue()


def render(paths: List[str], out_dir: str, baseline: Optional[List[str]] = None,
           variant: Optional[str] = None, title: str = "trtbench report") -> Dict[str, str]:
    runs = load_runs(paths)
    base_runs = load_runs(baseline) if baseline else []
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    multi = len(runs) > 1
    ok_rows = [dict(r, _runtag=f" #{i + 1}" if multi else "") for i, run in enumerate(runs) for r in run.records
               if r["status"] == "ok"]
    images = []
    for name, fn in PLOTS:
        fig = fn(ok_rows, variant) if name == "nvml_timeseries" else fn(ok_rows)
        if fig is None:
            continue
        data = _png(fig)
        (out / f"{name}.png").write_bytes(data)
        images.append((name, data))
    comp = comparisons(base_runs, runs) if base_runs else []
    (out / "index.html").write_text(_html(title, runs, images, comp, base_runs), encoding="utf-8")
    (out / "report.md").write_text(_markdown(title, runs, images, comp, base_runs), encoding="utf-8")
    return {"html": str(out / "index.html"), "markdown": str(out / "report.md"),
            "images": [f"{n}.png" for n, _ in images], "variants": sum(len(r.records) for r in runs)}


CAPTIONS = {"stage_breakdown": "Stage breakdown per variant", "latency_vs_batch": "Latency percentiles against batch",
            "throughput_vs_batch": "Throughput against batch", "memory_utilization": "Peak GPU memory and utilisation",
            "energy_per_inference": "Energy per inference", "accuracy_vs_speed": "Accuracy against speed",
            "nvml_timeseries": "NVML time series", "implicit_vs_explicit": "Implicit against explicit"}

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


def _machine_rows(runs: List[Run]):
    rows = []
    for i, run in enumerate(runs):
        m = run.machine or {}
        gpu = m.get("gpu") or {}
        gpu_text = (f"{gpu.get('name')} (cc {gpu.get('compute_capability')}, driver {gpu.get('driver')}, CUDA "
                    f"{gpu.get('cuda_runtime')})" if gpu.get("name") else (gpu.get("reason") or "none"))
        pk = m.get("packages") or {}
        rows.append([f"#{i + 1}", run.run_id, run.kind, m.get("host"), m.get("cpu"), m.get("python"), gpu_text,
                     pk.get("tensorrt") or "-", pk.get("torch") or "-", pk.get("onnxruntime") or "-", run.source])
    return rows


MACHINE_COLS = ("#", "run", "kind", "host", "cpu", "python", "gpu", "tensorrt", "torch", "onnxruntime", "file")
COMP_COLS = ("variant", "metric", "baseline p50 ms", "candidate p50 ms", "ratio", "99% CI", "p", "significant")


def _comp_rows(comp):
    return [[d["id"], d["metric"], _fmt(d["baseline_median"]), _fmt(d["candidate_median"]), f"{d['ratio']:.3f}",
             f"{d['ci_low']:.3f}-{d['ci_high']:.3f}", "-" if d["p_value"] is None else f"{d['p_value']:.1e}",
             "yes" if d["significant"] else "no"] for d in comp]


def _unmeasured(runs):
    rows = [[r["variant"]["id"], r["status"], r.get("reason"), run.run_id] for run in runs for r in run.records
            if r["status"] != "ok"]
    rows += [[f"{e['model']}/{e['backend']}/{e['precision']}/{e['build_mode']}/b{e['batch']}"
              + (f"/{e['profile']}" if e.get("profile") else ""), "excluded", e["reason"], run.run_id]
             for run in runs for e in run.excluded]
    return rows


def _html(title, runs, images, comp, base_runs) -> str:
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{_e(title)}</title><style>{CSS}</style>"
             f"</head><body><h1>{_e(title)}</h1>"]
    n = sum(len(r.records) for r in runs)
    ok = sum(1 for run in runs for r in run.records if r["status"] == "ok")
    parts.append(f"<p>{len(runs)} run(s), {n} variant(s), {ok} measured. Times in milliseconds; percentiles are "
                 f"nearest-rank as in trtexec; latency = H2D + compute + D2H; e2e = H2D start to D2H end.</p>")
    if comp:
        parts.append(f"<h2>Comparison against the baseline ({len(base_runs)} run(s))</h2>"
                     "<p class='note'>Ratio of compute medians (candidate / baseline), bootstrap 99% interval, "
                     "Mann-Whitney U p-value; biggest regressions first, then improvements.</p>")
        parts.append(_table_html(COMP_COLS, _comp_rows(comp)))
    for name, data in images:
        b64 = base64.b64encode(data).decode()
        parts.append(f"<figure><figcaption><b>{_e(CAPTIONS.get(name, name))}</b></figcaption>"
                     f"<img alt='{_e(name)}' src='data:image/png;base64,{b64}'></figure>")
    rows = [variant_row(run, r) for run in runs for r in run.records if r["status"] == "ok"]
    parts.append("<h2>Variants</h2>" + _table_html(COLUMNS, rows))
    un = _unmeasured(runs)
    if un:
        parts.append("<h2>Failed, skipped and excluded</h2>" + _table_html(("variant", "status", "reason", "run"), un))
    parts.append("<h2>Machines</h2>" + _table_html(MACHINE_COLS, _machine_rows(runs)))
    parts.append("</body></html>")
    return "".join(parts)


def _markdown(title, runs, images, comp, base_runs) -> str:
    out = [f"# {_md(title)}", ""]
    n = sum(len(r.records) for r in runs)
    out.append(f"{len(runs)} run(s), {n} variant(s). Times in ms; percentiles nearest-rank (trtexec); "
               f"latency = H2D + compute + D2H.")
    if comp:
        out += ["", "## Comparison against the baseline", "", _table_md(COMP_COLS, _comp_rows(comp))]
    for name, _ in images:
        out += ["", f"### {CAPTIONS.get(name, name)}", "", f"![{name}]({name}.png)"]
    rows = [variant_row(run, r) for run in runs for r in run.records if r["status"] == "ok"]
    out += ["", "## Variants", "", _table_md(COLUMNS, rows)]
    un = _unmeasured(runs)
    if un:
        out += ["", "## Failed, skipped and excluded", "", _table_md(("variant", "status", "reason", "run"), un)]
    out += ["", "## Machines", "", _table_md(MACHINE_COLS, _machine_rows(runs)), ""]
    return "\n".join(out)
