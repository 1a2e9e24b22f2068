"""The summary table ``trtbench run`` prints: one row per variant, then skipped/failed/excluded."""

from __future__ import annotations

from typing import List, Sequence


def _ms(stats: dict, stage: str, key: str) -> str:
    s = stats.get("stages", {}).get(stage)
    return f"{s[key]:.3f}" if s and s.get("n") else "-"


def format_table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> str:
    widths = [max(len(str(r[i])) for r in list(rows) + [header]) for i in range(len(header))]
    line = lambda r: "  ".join(str(c).rjust(w) if i else str(c).ljust(w) for i, (c, w) in enumerate(zip(r, widths)))
    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(r) for r in rows])


def summary_table(records: Sequence[dict], excluded: Sequence[dict] = ()) -> str:
    ok = [r for r in records if r["status"] == "ok"]
    out: List[str] = []
    if ok:
        header = ["variant", "h2d p50", "compute p50", "d2h p50", "latency p50", "p99", "infer/s", "n", "rel_l2",
                  "flags"]
        rows = []
        for r in ok:
            st = r["stats"]
            acc = r.get("accuracy") or {}
            flags = list(r.get("quality") or [])
            rows.append([r["variant"]["id"], _ms(st, "h2d", "median"), _ms(st, "compute", "median"),
                         _ms(st, "d2h", "median"), _ms(st, "latency", "median"), _ms(st, "latency", "p99"),
                         f"{st['throughput']['inferences_per_s']:,.0f}", str(st["stages"]["compute"]["n"]),
                         f"{acc['rel_l2']:.1e}" if acc.get("rel_l2") is not None else "-",
                         ",".join(flags) or "-"])
        out.append(format_table(rows, header))
        out.append("times in ms; p99 is nearest-rank (as trtexec); latency = h2d + compute + d2h; rel_l2 = error against the fp32 onnxruntime reference")
    for status in ("skipped", "failed"):
        bad = [r for r in records if r["status"] == status]
        if bad:
            out.append(f"{status} ({len(bad)}):")
            out.extend(f"  {r['variant']['id']}: {r['reason']}" for r in bad)
    if excluded:
        out.append(f"excluded by the matrix rules ({len(excluded)}):")
        seen = set()
        for e in excluded:
            line = f"  {e['model']}/{e['backend']}/{e['precision']}/{e['build_mode']}/b{e['batch']}" + \
                   (f"/{e['profile']}" if e.get("profile") else "") + f": {e['reason']}"
            if line not in seen:
                seen.add(line)
                out.append(line)
    return "\n".join(out)
