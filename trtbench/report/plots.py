"""The report's plots (matplotlib, headless). Each function takes rows (one per measured variant) and
returns a Figure, or None when the runs hold nothing to plot. Per-variant bar charts show at most
``MAX_BARS`` variants (the table lists them all)."""

from __future__ import annotations

from collections import defaultdict
from typing import Dict, List, Optional

MAX_BARS = 40
MAX_PANELS = 9
COLORS = {"h2d": "#4C72B0", "compute": "#DD8452", "d2h": "#55A868"}


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _med(r, stage, key="median"):
    s = ((r.get("stats") or {}).get("stages") or {}).get(stage) or {}
    return s.get(key) if s.get("n") else None


def _label(r):
    return r["variant"]["id"] + r.get("_runtag", "")


def stage_breakdown(rows: List[dict]):
    rows = [r for r in rows if _med(r, "compute") is not None][:MAX_BARS]
    if not rows:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(10, 0.32 * len(rows) + 1.5))
    left = [0.0] * len(rows)
    for stage in ("h2d", "compute", "d2h"):
        vals = [_med(r, stage) or 0.0 for r in rows]
        ax.barh(range(len(rows)), vals, left=left, color=COLORS[stage], label=stage)
        left = [a + b for a, b in zip(left, vals)]
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([_label(r) for r in rows], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("median time per query (ms)")
    ax.set_title("Stage breakdown (H2D + compute + D2H = latency)")
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def _panels(rows):
    groups: Dict[tuple, List[dict]] = defaultdict(list)
    for r in rows:
        v = r["variant"]
        groups[(v["model"], v["backend"])].append(r)
    return list(groups.items())[:MAX_PANELS]


def _by_batch(rows, value):
    lines: Dict[str, List[tuple]] = defaultdict(list)
    for r in rows:
        y = value(r)
        if y is not None:
            v = r["variant"]
            lines[f"{v['precision']} {v['build_mode']}{r.get('_runtag', '')}"].append((v["batch"], y))
    return {k: sorted(pts) for k, pts in lines.items()}


def _grid(rows, value, ylabel, title, dashed=None, logy=False):
    panels = _panels([r for r in rows if value(r) is not None])
    if not panels:
        return None
    plt = _plt()
    n = len(panels)
    cols = min(3, n)
    nrows = (n + cols - 1) // cols
    fig, axes = plt.subplots(nrows, cols, figsize=(4.2 * cols, 3.2 * nrows), squeeze=False)
    for ax, ((model, backend), prs) in zip(axes.flat, panels):
        for name, pts in _by_batch(prs, value).items():
            line, = ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=name)
            if dashed:
                dpts = _by_batch(prs, dashed).get(name, [])
                ax.plot([p[0] for p in dpts], [p[1] for p in dpts], ls="--", color=line.get_color(), alpha=0.6)
        ax.set_xscale("log", base=2)
        if logy:
            ax.set_yscale("log")
        ax.set_title(f"{model} / {backend}", fontsize=9)
        ax.set_xlabel("batch")
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def latency_vs_batch(rows):
    return _grid(rows, lambda r: _med(r, "latency"), "latency (ms)",
                 "Latency vs batch: median (solid) and p99 (dashed), per precision and build mode",
                 dashed=lambda r: _med(r, "latency", "p99"))


def throughput_vs_batch(rows):
    def ips(r):
        return ((r.get("stats") or {}).get("throughput") or {}).get("inferences_per_s")

    return _grid(rows, ips, "inferences / s", "Throughput vs batch", logy=True)


def _nvml(r, key):
    return (((r.get("nvml") or {}).get("summary")) or {}).get(key)


def memory_and_utilization(rows):
    rows = [r for r in rows if _nvml(r, "peak_mem_used_bytes") is not None][:MAX_BARS]
    if not rows:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(10, 0.32 * len(rows) + 1.5))
    mem = [(_nvml(r, "peak_process_mem_bytes") or _nvml(r, "peak_mem_used_bytes")) / 2 ** 20 for r in rows]
    ax.barh(range(len(rows)), mem, color="#8172B3", label="peak GPU memory (MiB)")
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([_label(r) for r in rows], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("peak GPU memory of the process (MiB)")
    ax2 = ax.twiny()
    ax2.plot([_nvml(r, "mean_gpu_util_pct") or 0 for r in rows], range(len(rows)), "o", color="#C44E52",
             label="mean GPU utilisation (%)")
    ax2.set_xlim(0, 100)
    ax2.set_xlabel("mean GPU utilisation (%)", color="#C44E52")
    ax.set_title("Peak memory and mean utilisation", pad=30)
    fig.tight_layout()
    return fig


def energy_per_inference(rows):
    rows = [r for r in rows if _nvml(r, "energy_per_inference_j") is not None][:MAX_BARS]
    if not rows:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(10, 0.32 * len(rows) + 1.5))
    ax.barh(range(len(rows)), [_nvml(r, "energy_per_inference_j") * 1e3 for r in rows], color="#937860")
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([_label(r) for r in rows], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("energy per inference (mJ), from NVML's energy counter over >= 1 s windows")
    ax.set_title("Energy per inference")
    fig.tight_layout()
    return fig


def accuracy_vs_speed(rows):
    pts = [(r, (r.get("accuracy") or {}).get("rel_l2"), _med(r, "compute")) for r in rows]
    pts = [p for p in pts if p[1] is not None and p[2] is not None]
    if not pts:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    by_p = defaultdict(list)
    for r, err, t in pts:
        by_p[r["variant"]["precision"]].append((t, max(err, 1e-9), r.get("accuracy", {}).get("inaccurate")))
    for prec, ps in sorted(by_p.items()):
        ax.scatter([p[0] for p in ps], [p[1] for p in ps], label=prec, alpha=0.8,
                   edgecolors=["red" if p[2] else "none" for p in ps])
    ax.set_yscale("log")
    ax.set_xlabel("compute median (ms)")
    ax.set_ylabel("relative L2 error vs fp32 reference")
    ax.set_title("Accuracy against speed (red edge: inaccurate)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def nvml_timeseries(rows, variant_id: Optional[str] = None):
    cands = [r for r in rows if ((r.get("nvml") or {}).get("series") or {}).get("t_s")]
    if variant_id:
        cands = [r for r in cands if r["variant"]["id"] == variant_id]
    if not cands:
        return None
    r = cands[0]
    s = r["nvml"]["series"]
    plt = _plt()
    fig, axes = plt.subplots(4, 1, figsize=(9, 8), sharex=True)
    for ax, (key, label) in zip(axes, (("power_w", "power (W)"), ("gpu_util_pct", "GPU util (%)"),
                                       ("sm_clock_mhz", "SM clock (MHz)"), ("mem_used_bytes", "memory used (MiB)"))):
        ys = s.get(key) or []
        pts = [(t, y / 2 ** 20 if key == "mem_used_bytes" else y) for t, y in zip(s["t_s"], ys) if y is not None]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], lw=1)
        ax.set_ylabel(label, fontsize=8)
    axes[-1].set_xlabel("time since the sampler started (s)")
    fig.suptitle(f"NVML telemetry: {r['variant']['id']}")
    fig.tight_layout()
    return fig


def implicit_vs_explicit(rows):
    pairs = defaultdict(dict)
    for r in rows:
        v = r["variant"]
        m = _med(r, "latency")
        if m is not None:
            pairs[(v["model"], v["backend"], v["precision"], v["batch"], r.get("_runtag", ""))][v["build_mode"]] = m
    both = [(k, d) for k, d in pairs.items() if "implicit" in d and "explicit" in d][:MAX_BARS]
    if not both:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(10, 0.4 * len(both) + 1.5))
    y = range(len(both))
    ax.barh([i - 0.2 for i in y], [d["implicit"] for _, d in both], height=0.4, label="implicit (static)")
    ax.barh([i + 0.2 for i in y], [d["explicit"] for _, d in both], height=0.4, label="explicit (dynamic)")
    ax.set_yticks(list(y))
    ax.set_yticklabels([f"{m}-{b}-{p}-b{bs}{tag}" for (m, b, p, bs, tag), _ in both], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("median latency (ms)")
    ax.set_title("Implicit (static shapes) against explicit (dynamic profile), same batch")
    ax.legend()
    fig.tight_layout()
    return fig


PLOTS = (("stage_breakdown", stage_breakdown), ("latency_vs_batch", latency_vs_batch),
         ("throughput_vs_batch", throughput_vs_batch), ("memory_utilization", memory_and_utilization),
         ("energy_per_inference", energy_per_inference), ("accuracy_vs_speed", accuracy_vs_speed),
         ("nvml_timeseries", nvml_timeseries), ("implicit_vs_explicit", implicit_vs_explicit))
