"""The report's plots (matplotlib, headless). Each function takes rows (``Row``: a run and one of its measured
records) and returns a Figure, or None when there is nothing to plot.

Every figure is a headline over trials (median of the trial medians) drawn with the between-trial spread
as an error bar (lowest to highest trial median); grids get one panel per run and model/backend, so two
runs are never mixed into one legend. Per-variant bar charts show at most ``MAX_BARS`` variants (the
table lists them all). Names from results files are drawn as plain text (no mathtext)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

from trtbench.results.record import Headline, VariantRecord

MAX_BARS = 40
MAX_PANELS = 12
COLORS = {"h2d": "#4C72B0", "compute": "#DD8452", "d2h": "#55A868"}


@dataclass(frozen=True)
class Row:
    run: int  # index of the run in the report
    run_label: str
    rec: VariantRecord


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def text(s) -> str:
    """A name from a results file as plain text: '$' would start mathtext, control characters break lines."""
    return "".join(c if c.isprintable() else "?" for c in str(s)).replace("$", r"\$")


def _head(r: VariantRecord, series: str) -> Optional[Headline]:
    return r.headline(series)


def _err(h: Headline) -> Tuple[float, float]:
    return h.value - h.low, h.high - h.value


def _label(row: Row, multi: bool) -> str:
    return text(row.rec.id + (f" #{row.run + 1}" if multi else ""))


def stage_breakdown(rows: List[Row]):
    rows = [r for r in rows if _head(r.rec, "compute") is not None][:MAX_BARS]
    if not rows:
        return None
    multi = len({r.run for r in rows}) > 1
    plt = _plt()
    fig, ax = plt.subplots(figsize=(10, 0.32 * len(rows) + 1.5))
    left = [0.0] * len(rows)
    for stage in ("h2d", "compute", "d2h"):
        heads = [_head(r.rec, stage) for r in rows]
        vals = [h.value if h else 0.0 for h in heads]
        xerr = None
        if stage == "compute":
            lo_hi = [_err(h) for h in heads]
            xerr = [[a for a, _ in lo_hi], [b for _, b in lo_hi]]
        ax.barh(range(len(rows)), vals, left=left, color=COLORS[stage], label=stage, xerr=xerr, capsize=2)
        left = [a + b for a, b in zip(left, vals)]
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([_label(r, multi) for r in rows], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("median over trials of the trial medians (ms); bars: lowest..highest trial (compute)")
    ax.set_title("Stage breakdown (H2D + compute + D2H = latency)")
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def _panels(rows: List[Row], axis: Optional[str] = None):
    """Panels per run, model and backend (and per named dim when ``axis`` is one: only variants that have it)."""
    groups: Dict[tuple, List[Row]] = defaultdict(list)
    for r in rows:
        v = r.rec.variant
        if axis is None or axis in dict(v.dims):
            groups[(r.run, r.run_label, v.model.name, v.backend)].append(r)
    return list(groups.items())[:MAX_PANELS]


def _dims_text(v, leave_out: Optional[str] = None) -> str:
    return "".join(f" {n}{x}" for n, x in v.dims if n != leave_out)


def _load_tag(v) -> str:
    """A variant's load axes for a legend (empty for one query in flight, closed loop)."""
    return "".join([f" c{v.concurrency}" if v.concurrency != 1 else "", f" r{v.request_rate:g}" if v.request_rate else "",
                    f" budget {v.latency_budget_ms:g} ms" if v.latency_budget_ms is not None else ""])


def _grid(rows: List[Row], value, ylabel: str, title: str, dashed=None, logy: bool = False, axis: Optional[str] = None):
    """Lines against the batch, or (``axis``) against a named dim such as seq, one line per other setting."""
    panels = _panels([r for r in rows if value(r.rec) is not None], axis)
    if not panels:
        return None
    plt = _plt()
    n = len(panels)
    cols = min(3, n)
    nrows = (n + cols - 1) // cols
    fig, axes = plt.subplots(nrows, cols, figsize=(4.4 * cols, 3.3 * nrows), squeeze=False)
    for ax, ((_, run_label, model, backend), prs) in zip(axes.flat, panels):
        lines: Dict[str, List[tuple]] = defaultdict(list)
        for r in prs:
            y = value(r.rec)
            v = r.rec.variant
            if axis is None:
                lines[f"{v.precision} {v.build_mode}{_dims_text(v)}{_load_tag(v)}"].append((v.batch, y, r.rec))
            else:
                lines[f"{v.precision} {v.build_mode} b{v.batch}{_dims_text(v, axis)}{_load_tag(v)}"].append(
                    (dict(v.dims)[axis], y, r.rec))
        for name, pts in sorted(lines.items()):
            pts.sort(key=lambda p: p[0])
            xs = [p[0] for p in pts]
            ys = [p[1][0] for p in pts]
            yerr = [[p[1][0] - p[1][1] for p in pts], [p[1][2] - p[1][0] for p in pts]]
            line = ax.errorbar(xs, ys, yerr=yerr, marker="o", capsize=3, label=text(name))
            if dashed:
                dpts = [(x, dashed(rec)) for x, _, rec in pts]
                dpts = [(x, d) for x, d in dpts if d is not None]
                ax.plot([p[0] for p in dpts], [p[1] for p in dpts], ls="--", color=line.lines[0].get_color(), alpha=0.6)
        ax.set_xscale("log", base=2)
        if logy:
            ax.set_yscale("log")
        ax.set_title(text(f"{model} / {backend} — {run_label}"), fontsize=8)
        ax.set_xlabel(text(axis) if axis else "batch")
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def _trio(h: Optional[Headline]):
    return (h.value, h.low, h.high) if h is not None else None


def latency_vs_batch(rows):
    def p99(rec):
        h = rec.headline("latency")
        return h.get("p99") if h else None

    return _grid(rows, lambda rec: _trio(rec.headline("latency")), "latency (ms)",
                 "Latency vs batch: median over trials (bars: lowest..highest trial), p99 dashed", dashed=p99)


def throughput_vs_batch(rows):
    def ips(rec):
        vals = sorted(t.queries_per_s * rec.variant.batch for t in rec.trials if t.queries_per_s > 0)
        if not vals:
            return None
        return (rec.inferences_per_s, vals[0], vals[-1])

    return _grid(rows, ips, "inferences / s", "Throughput vs batch (bars: lowest..highest trial)", logy=True)


def _nvml(r: VariantRecord, key):
    return r.nvml_summary.get(key)


def memory_and_utilization(rows):
    rows = [r for r in rows if _nvml(r.rec, "peak_mem_used_bytes") is not None][:MAX_BARS]
    if not rows:
        return None
    multi = len({r.run for r in rows}) > 1
    plt = _plt()
    fig, ax = plt.subplots(figsize=(10, 0.32 * len(rows) + 1.5))
    mem = [(_nvml(r.rec, "peak_process_mem_bytes") or _nvml(r.rec, "peak_mem_used_bytes")) / 2 ** 20 for r in rows]
    ax.barh(range(len(rows)), mem, color="#8172B3", label="peak GPU memory (MiB)")
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([_label(r, multi) for r in rows], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("peak GPU memory of the measuring process (MiB)")
    ax2 = ax.twiny()
    ax2.plot([_nvml(r.rec, "mean_gpu_util_pct") or 0 for r in rows], range(len(rows)), "o", color="#C44E52")
    ax2.set_xlim(0, 100)
    ax2.set_xlabel("mean GPU utilisation (%)", color="#C44E52")
    ax.set_title("Peak memory and mean utilisation", pad=30)
    fig.tight_layout()
    return fig


def energy_per_inference(rows):
    rows = [r for r in rows if _nvml(r.rec, "energy_per_inference_j") is not None][:MAX_BARS]
    if not rows:
        return None
    multi = len({r.run for r in rows}) > 1
    plt = _plt()
    fig, ax = plt.subplots(figsize=(10, 0.32 * len(rows) + 1.5))
    ax.barh(range(len(rows)), [_nvml(r.rec, "energy_per_inference_j") * 1e3 for r in rows], color="#937860")
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([_label(r, multi) for r in rows], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("energy per inference (mJ), from NVML's energy counter over >= 1 s of trial windows")
    ax.set_title("Energy per inference")
    fig.tight_layout()
    return fig


def accuracy_vs_speed(rows):
    pts = [(r.rec, (r.rec.accuracy or {}).get("rel_l2"), r.rec.headline("compute")) for r in rows]
    pts = [p for p in pts if p[1] is not None and p[2] is not None]
    if not pts:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    by_p = defaultdict(list)
    for rec, err, h in pts:
        by_p[rec.variant.precision].append((h, max(err, 1e-9), (rec.accuracy or {}).get("inaccurate")))
    for prec, ps in sorted(by_p.items()):
        ax.errorbar([p[0].value for p in ps], [p[1] for p in ps], xerr=[[p[0].value - p[0].low for p in ps],
                    [p[0].high - p[0].value for p in ps]], fmt="o", label=text(prec), alpha=0.8, capsize=2)
        bad = [p for p in ps if p[2]]
        if bad:
            ax.scatter([p[0].value for p in bad], [p[1] for p in bad], facecolors="none", edgecolors="red", s=90)
    ax.set_yscale("log")
    ax.set_xlabel("compute, median over trials (ms)")
    ax.set_ylabel("relative L2 error vs fp32 reference")
    ax.set_title("Accuracy against speed (red ring: inaccurate)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def nvml_timeseries(rows, variant_id: Optional[str] = None):
    cands = [r for r in rows if ((r.rec.nvml or {}).get("series") or {}).get("t_s")]
    if variant_id:
        cands = [r for r in cands if r.rec.id == variant_id]
    if not cands:
        return None
    r = cands[0].rec
    s = r.nvml["series"]
    plt = _plt()
    fig, axes = plt.subplots(4, 1, figsize=(9, 8), sharex=True)
    for ax, (key, label) in zip(axes, (("power_w", "power (W)"), ("gpu_util_pct", "GPU util (%)"),
                                       ("sm_clock_mhz", "SM clock (MHz)"), ("mem_used_bytes", "memory used (MiB)"))):
        ys = s.get(key) or []
        pts = [(t, y / 2 ** 20 if key == "mem_used_bytes" else y) for t, y in zip(s["t_s"], ys) if y is not None]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], ".", ms=2)
        ax.set_ylabel(label, fontsize=8)
    axes[-1].set_xlabel("seconds since the variant's first trial started (trial windows only)")
    fig.suptitle(text(f"NVML telemetry: {r.id}"))
    fig.tight_layout()
    return fig


def implicit_vs_explicit(rows):
    pairs: Dict[tuple, Dict[str, Headline]] = defaultdict(dict)
    for r in rows:
        v = r.rec.variant
        h = r.rec.headline("latency")
        if h is not None:
            pairs[(v.model.name + _dims_text(v).replace(" ", "-"), v.backend, v.precision, v.batch, r.run)][v.build_mode] = h
    both = [(k, d) for k, d in pairs.items() if "implicit" in d and "explicit" in d][:MAX_BARS]
    if not both:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(10, 0.4 * len(both) + 1.5))
    y = list(range(len(both)))
    for off, mode, lab in ((-0.2, "implicit", "implicit (static)"), (0.2, "explicit", "explicit (dynamic)")):
        hs = [d[mode] for _, d in both]
        ax.barh([i + off for i in y], [h.value for h in hs], height=0.4, label=lab,
                xerr=[[h.value - h.low for h in hs], [h.high - h.value for h in hs]], capsize=2)
    ax.set_yticks(y)
    ax.set_yticklabels([text(f"{m}-{b}-{p}-b{bs} #{run + 1}") for (m, b, p, bs, run), _ in both], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("latency, median over trials (ms); bars: lowest..highest trial")
    ax.set_title("Implicit (static shapes) against explicit (dynamic profile), same batch")
    ax.legend()
    fig.tight_layout()
    return fig


def latency_vs_dim(rows):
    """Latency against the first swept named dim (sequence length), one line per precision, mode and batch."""
    names = list(dict.fromkeys(n for r in rows for n, _ in r.rec.variant.dims))
    if not names:
        return None

    def p99(rec):
        h = rec.headline("latency")
        return h.get("p99") if h else None

    return _grid(rows, lambda rec: _trio(rec.headline("latency")), "latency (ms)",
                 text(f"Latency vs {names[0]}: median over trials, p99 dashed"),
                 dashed=p99, axis=names[0])


PLOTS = (("stage_breakdown", stage_breakdown), ("latency_vs_batch", latency_vs_batch), ("latency_vs_dim", latency_vs_dim),
         ("throughput_vs_batch", throughput_vs_batch), ("memory_utilization", memory_and_utilization),
         ("energy_per_inference", energy_per_inference), ("accuracy_vs_speed", accuracy_vs_speed),
         ("nvml_timeseries", nvml_timeseries), ("implicit_vs_explicit", implicit_vs_explicit))
