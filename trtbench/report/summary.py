"""The summary table ``trtbench run`` prints: one row per variant, then skipped/failed/excluded.

Figures are headlines: the median over trials of each trial's median, with the between-trial spread
(``±``, the coefficient of variation of the trial medians) beside compute, because that spread is what
a second run will see."""

from __future__ import annotations

from typing import List, Optional, Sequence

from trtbench.report.load import LOAD_COLS, load_rows
from trtbench.results.quality import eager_enqueue
from trtbench.results.record import VariantRecord


def _ms(x: Optional[float]) -> str:
    return f"{x:.3f}" if x is not None else "-"


def format_table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> str:
    widths = [max(len(str(r[i])) for r in list(rows) + [header]) for i in range(len(header))]

    def line(r):
        return "  ".join(str(c).rjust(w) if i else str(c).ljust(w) for i, (c, w) in enumerate(zip(r, widths)))

    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(r) for r in rows])


def safe(text: object) -> str:
    """A name from a results file or a model path, printable on a terminal (no control characters)."""
    return "".join(c if c.isprintable() else "?" for c in str(text))


def row(r: VariantRecord) -> List[str]:
    def head(series: str, stat: str = "median") -> Optional[float]:
        h = r.headline(series)
        return h.get(stat) if h is not None else None

    compute = r.headline("compute")
    acc = r.accuracy or {}
    ips = r.inferences_per_s
    return [safe(r.id), str(len(r.trials)), _ms(head("h2d")), _ms(compute.value if compute else None),
            f"{compute.spread * 100:.1f}%" if compute and compute.trials > 1 else "-", _ms(eager_enqueue(r.trials) if str(r.timing.get("timer", "")).startswith("cuda") else None),
            _ms(head("d2h")), _ms(head("latency")), _ms(head("latency", "p99")),
            f"{ips:,.0f}" if ips else "-", f"{acc['rel_l2']:.1e}" if acc.get("rel_l2") is not None else "-",
            ",".join(r.quality) or "-"]


HEADER = ["variant", "trials", "h2d", "compute", "+-", "launch", "d2h", "latency", "p99", "infer/s", "rel_l2", "flags"]
NOTE = ("times in ms, median over trials of the trial medians; +- = spread of compute between trials (CV); compute "
        "is timed on a CUDA graph where it could be captured (record: timing.compute_window); launch = host time of "
        "one eager compute call; "
        "latency = h2d + compute + d2h; p99 nearest-rank (as trtexec); rel_l2 = error against the fp32 reference")


def summary_table(records: Sequence[VariantRecord], excluded: Sequence[dict] = ()) -> str:
    ok = [r for r in records if r.ok]
    out: List[str] = []
    if ok:
        out.append(format_table([row(r) for r in ok], HEADER))
        out.append(NOTE)
        fallbacks = {t.compute_timing for r in ok for t in r.trials if "fallback" in t.compute_timing}
        for f in sorted(fallbacks):
            out.append(f"compute timed eagerly where: {safe(f)}")
        around = {t.compute_timing for r in ok for t in r.trials if "unavailable" in t.compute_timing}
        for f in sorted(around):
            out.append(f"compute timed with events around the graph launch where: {safe(f)}")
        loaded = load_rows(ok)
        if loaded:
            out.append("under load (throughput from the GPU span; response = arrival to D2H end, ms):")
            out.append(format_table([[safe(c) for c in r] for r in loaded], LOAD_COLS))
    for status in ("skipped", "failed"):
        bad = [r for r in records if r.status == status]
        if bad:
            out.append(f"{status} ({len(bad)}):")
            out.extend(f"  {safe(r.id)}: {safe(r.reason)}" for r in bad)
    failed_trials = [(r, f) for r in records for f in r.extra.get("failed_trials", [])]
    if failed_trials:
        out.append(f"failed trials ({len(failed_trials)}):")
        out.extend(f"  {safe(r.id)} round {f['round']}: {safe(f['reason'])}" for r, f in failed_trials)
    if excluded:
        out.append(f"excluded by the matrix rules ({len(excluded)}):")
        seen = set()
        for e in excluded:
            line = f"  {e['model']}/{e['backend']}/{e['precision']}/{e['build_mode']}/b{e['batch']}" + \
                   (f"/{e['profile']}" if e.get("profile") else "") + f": {e['reason']}"
            if line not in seen:
                seen.add(line)
                out.append(safe(line))
    return "\n".join(out)
