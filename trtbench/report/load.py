"""Reading runs under load: latency-throughput curves, their knee, and the best configuration under a budget.

A **point** is one measured variant: throughput (queries/s from the GPU span, median over trials; inferences/s
multiplies the batch in) against latency under load (the ``response`` series: scheduled arrival, or issue in
a closed loop, to D2H end; p50 and p99, medians over trials). A concurrency-1 variant measured by the
single-query timers joins its curve as the closed loop's first point, with its end-to-end time as latency.

- **curves**: one panel per run, model, backend, precision and batch; the closed loop over concurrencies is
  one line, each open loop (one concurrency, several request rates) another; p50 solid, p99 dashed.
- **the knee**: the point with the most throughput per millisecond of median latency (Kleinrock's power,
  throughput / latency): beyond it latency grows faster than throughput.
- **the Pareto front** per run and model, across precision x batch x concurrency (x request rate): the points
  no other point beats on both inferences/s and p99. Under a latency budget the best configuration is the
  front's highest inferences/s whose p99 is within it.
- a **budget search** variant (``--latency-budget``) is drawn as a diamond at its answer.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from trtbench.report.plots import Row, _plt, text
from trtbench.results.record import VariantRecord
from trtbench.timing.stats import median_of

MAX_PANELS = 12


@dataclass(frozen=True)
class LoadPoint:
    row: Row
    loop: str  # closed | open | budget | single (concurrency 1, single-query timer)
    qps: float
    p50: float
    p99: float
    ceiling: Optional[float] = None  # harness ceiling (q/s) at this concurrency, median over trials

    @property
    def rec(self) -> VariantRecord:
        return self.row.rec

    @property
    def ips(self) -> float:
        return self.qps * self.rec.variant.batch

    @property
    def key(self) -> Tuple:
        v = self.rec.variant
        return (self.row.run, self.row.run_label, v.model.name, v.backend, v.precision, v.build_mode, v.batch)

    @property
    def label(self) -> str:
        v = self.rec.variant
        if self.loop == "open":
            return f"r{v.request_rate:g}"
        if self.loop == "budget":
            return f"budget {v.latency_budget_ms:g} ms"
        return f"c{v.concurrency}"


def point_of(row: Row) -> Optional[LoadPoint]:
    rec = row.rec
    v = rec.variant
    qps = rec.queries_per_s
    series = "response" if v.under_load else "e2e"
    h = rec.headline(series)
    if not qps or h is None or h.get("p99") is None:
        return None
    loop = "single"
    if v.latency_budget_ms is not None:
        loop = "budget"
    elif v.request_rate is not None:
        loop = "open"
    elif v.under_load:
        loop = "closed"
    ceiling = median_of([t.samples.load["harness_ceiling_qps"] for t in rec.trials
                       if t.samples.load and t.samples.load.get("harness_ceiling_qps")])
    return LoadPoint(row, loop, qps, h.value, h.get("p99"), ceiling)


def load_points(rows: Sequence[Row]) -> List[LoadPoint]:
    """Points of every group (model, backend, precision, build mode, batch, run) with a variant under load."""
    pts = [p for p in (point_of(r) for r in rows) if p is not None]
    loaded = {p.key for p in pts if p.loop != "single"}
    return [p for p in pts if p.key in loaded]


def knee(points: Sequence[LoadPoint]) -> Optional[LoadPoint]:
    """The point of greatest power (throughput / median latency)."""
    pts = [p for p in points if p.p50 > 0]
    return max(pts, key=lambda p: p.qps / p.p50) if pts else None


def pareto_front(points: Sequence[LoadPoint]) -> List[LoadPoint]:
    """Points no other point beats on both inferences/s (higher) and p99 (lower), by inferences/s."""
    front = [p for p in points
             if not any((q.ips >= p.ips and q.p99 <= p.p99) and (q.ips > p.ips or q.p99 < p.p99) for q in points)]
    return sorted(front, key=lambda p: p.ips)


def best_under(points: Sequence[LoadPoint], budget_ms: float) -> Optional[LoadPoint]:
    within = [p for p in points if p.p99 <= budget_ms]
    return max(within, key=lambda p: p.ips) if within else None


def budgets_of(rows: Sequence[Row]) -> List[float]:
    return sorted({r.rec.variant.latency_budget_ms for r in rows if r.rec.variant.latency_budget_ms is not None})


def _fmt(x: Optional[float], digits: int = 3) -> str:
    return "-" if x is None else f"{x:,.{digits}f}"


PARETO_COLS = ("run", "model", "budget p99 ms", "variant", "precision", "batch", "concurrency", "offered q/s",
               "infer/s", "p50 ms", "p99 ms", "best under budget")


def pareto_rows(points: Sequence[LoadPoint], budgets: Mapping[int, Sequence[Optional[float]]]) -> List[List[str]]:
    """Per run, model and budget (``budgets``: run index -> budgets, None for the front alone): the Pareto front
    (cheapest first) with the best configuration under the budget marked; a model with nothing within the budget
    says so. Budget-search variants are answers, not configurations at a fixed load: they are left out."""
    by_model: Dict[Tuple, List[LoadPoint]] = defaultdict(list)
    for p in points:
        if p.loop != "budget":
            by_model[(p.row.run, p.row.run_label, p.rec.variant.model.name)].append(p)
    out = []
    for (run, run_label, model), pts in sorted(by_model.items(), key=lambda kv: (kv[0][0], kv[0][2])):
        front = pareto_front(pts)
        for budget in budgets.get(run) or [None]:
            best = best_under(pts, budget) if budget is not None else None
            shown = front + ([best] if best is not None and best not in front else [])
            for p in shown:
                v = p.rec.variant
                mark = "best" if p is best else ("over budget" if budget is not None and p.p99 > budget else "")
                out.append([run_label, model, _fmt(budget, 3) if budget is not None else "-", p.rec.id, v.precision,
                            str(v.batch), str(v.concurrency), f"{v.request_rate:g}" if v.request_rate else "-",
                            _fmt(p.ips, 0), _fmt(p.p50), _fmt(p.p99), mark])
            if budget is not None and best is None:
                out.append([run_label, model, _fmt(budget, 3), f"none of {len(pts)} configurations keeps p99 within "
                            f"the budget", "-", "-", "-", "-", "-", "-", "-", "not reachable"])
    return out


LOAD_COLS = ("variant", "loop", "conc.", "offered q/s", "achieved q/s", "infer/s", "response p50", "response p99",
             "queue p99", "harness ceiling q/s", "budget answer", "flags")


def _budget_answer(rec: VariantRecord) -> str:
    found = [t.samples.load.get("search") for t in rec.trials if t.samples.load and t.samples.load.get("search")]
    if not found:
        return "-"
    answers = [f["answer_qps"] for f in found if f.get("reachable")]
    if not answers:
        return "not reachable"
    return f"{median_of(answers):,.1f} q/s ({len(answers)}/{len(found)} trials)"


def load_rows(records: Sequence[VariantRecord]) -> List[List[str]]:
    """One row per variant measured under load (the terminal summary and the report's table)."""
    rows = []
    for rec in records:
        if not (rec.ok and rec.variant.under_load):
            continue
        p = point_of(Row(0, "", rec))
        loads = [t.samples.load for t in rec.trials if t.samples.load]
        loop = loads[0].get("loop", "?") if loads else "?"
        achieved = median_of([lo["achieved_qps"] for lo in loads if lo.get("achieved_qps") is not None])
        queue = rec.headline("queue")
        rows.append([rec.id, loop, str(rec.variant.concurrency),
                     f"{rec.variant.request_rate:g}" if rec.variant.request_rate else "-", _fmt(achieved, 1),
                     _fmt(rec.inferences_per_s, 0), _fmt(p.p50 if p else None), _fmt(p.p99 if p else None),
                     _fmt(queue.get("p99") if queue else None), _fmt(p.ceiling if p else None, 0),
                     _budget_answer(rec), ",".join(rec.quality) or "-"])
    return rows


def latency_throughput(rows: Sequence[Row]):
    """The curves (see the module docstring); None when no variant ran under load."""
    groups: Dict[Tuple, List[LoadPoint]] = defaultdict(list)
    for p in load_points(rows):
        groups[p.key].append(p)
    if not groups:
        return None
    items = sorted(groups.items(), key=lambda kv: kv[0])[:MAX_PANELS]
    plt = _plt()
    cols = min(3, len(items))
    nrows = (len(items) + cols - 1) // cols
    fig, axes = plt.subplots(nrows, cols, figsize=(4.8 * cols, 3.6 * nrows), squeeze=False)
    for ax, ((_, run_label, model, backend, prec, mode, batch), pts) in zip(axes.flat, items):
        lines: Dict[str, List[LoadPoint]] = defaultdict(list)
        for p in pts:
            if p.loop in ("closed", "single"):
                lines["closed loop"].append(p)
            elif p.loop == "open":
                lines[f"open loop c{p.rec.variant.concurrency}"].append(p)
        for name, lp in sorted(lines.items()):
            lp.sort(key=lambda p: (p.rec.variant.concurrency, p.rec.variant.request_rate or 0))
            xs = [p.qps for p in lp]
            line = ax.plot(xs, [p.p50 for p in lp], marker="o", label=text(f"{name} p50"))[0]
            ax.plot(xs, [p.p99 for p in lp], marker="x", ls="--", color=line.get_color(), label=text(f"{name} p99"))
            for p in lp:
                ax.annotate(text(p.label), (p.qps, p.p50), fontsize=6, xytext=(2, 2), textcoords="offset points")
            k = knee(lp)
            if k is not None and len(lp) > 1:
                ax.plot([k.qps], [k.p50], marker="*", ms=14, color=line.get_color(), ls="none",
                        label=text(f"{name} knee ({k.label})"))
        for p in pts:
            if p.loop == "budget":
                ax.plot([p.qps], [p.p99], marker="D", color="k", ls="none")
                ax.axhline(p.rec.variant.latency_budget_ms, color="k", lw=0.6, ls=":")
                ax.annotate(text(f"{p.label} c{p.rec.variant.concurrency}"), (p.qps, p.p99), fontsize=6,
                            xytext=(2, -8), textcoords="offset points")
        ax.set_yscale("log")
        ax.set_xlabel("throughput (queries / s, GPU span)")
        ax.set_ylabel("latency under load (ms)")
        ax.set_title(text(f"{model} {backend} {prec} {mode} b{batch} — {run_label}"), fontsize=8)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=6)
    for ax in list(axes.flat)[len(items):]:
        ax.axis("off")
    fig.suptitle("Latency against throughput under load (p50 solid, p99 dashed, knee = star, budget answer = diamond)",
                 fontsize=9)
    fig.tight_layout()
    return fig


LOAD_PLOTS = (("latency_throughput", latency_throughput),)
