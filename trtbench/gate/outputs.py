"""The gate's outputs: a markdown summary (for $GITHUB_STEP_SUMMARY), JUnit XML (one test case per
variant and metric) and a JSON verdict."""

from __future__ import annotations

import json
from typing import List
from xml.sax.saxutils import escape, quoteattr

from trtbench.gate.decide import Verdict

ICON = {"regression": "❌ regression", "missing": "❌ missing", "failed": "❌ failed", "minor": "⚠️ minor",
        "improvement": "✅ improvement", "pass": "✅ pass", "no-data": "➖ no data"}


def _md(s) -> str:
    s = "" if s is None else str(s)
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    for ch in "\\`*_[]|":
        s = s.replace(ch, "\\" + ch)
    return s


def _num(x, fmt="{:.4g}"):
    return "-" if x is None else fmt.format(x)


def markdown(v: Verdict, specs: List[str]) -> str:
    head = "### trtbench gate: " + ("PASS" if v.passed else f"FAIL ({len(v.regressions)} regression(s))")
    lines = [head, "", "Rules: " + ", ".join(f"`{s}`" for s in specs) +
             ". A regression is significant (Mann-Whitney U, Benjamini-Hochberg across the matrix, the 99% "
             "interval of the ratio excludes 1) and its interval reaches the threshold.", ""]
    if v.env_mismatch:
        lines += ["**Environment differs (allowed):** " + "; ".join(_md(m) for m in v.env_mismatch), ""]
    for w in v.warnings:
        lines.append(f"- ⚠️ {_md(w)}")
    order = {"regression": 0, "missing": 0, "failed": 0, "minor": 1, "improvement": 2, "no-data": 3, "pass": 4}
    rows = sorted(v.findings, key=lambda f: (order.get(f.verdict, 5), -(abs((f.ratio or 1) - 1))))
    lines += ["", "| variant | metric | verdict | baseline | candidate | ratio | 99% CI | p |", "|---|---|---|---|---|---|---|---|"]
    for f in rows:
        ci = f"{f.ci[0]:.3f}-{f.ci[1]:.3f}" if f.ci else "-"
        lines.append(f"| {_md(f.variant)} | {_md(f.metric)} | {ICON.get(f.verdict, f.verdict)} | {_num(f.baseline)} | "
                     f"{_num(f.candidate)} | {_num(f.ratio, '{:.3f}')} | {ci} | {_num(f.p_value, '{:.1e}')} |")
    return "\n".join(lines) + "\n"


def junit(v: Verdict) -> str:
    cases = []
    for f in v.findings:
        name = quoteattr(f"{f.variant} {f.metric}")
        body = ""
        detail = (f"verdict={f.verdict} baseline={f.baseline} candidate={f.candidate} ratio={f.ratio} ci={f.ci} "
                  f"p={f.p_value} rule={f.threshold} {f.note}")
        if f.verdict in ("regression", "missing", "failed"):
            body = f"<failure message={quoteattr(f.verdict)}>{escape(detail)}</failure>"
        elif f.verdict == "no-data":
            body = f"<skipped message={quoteattr(f.note or 'no data')}/>"
        else:
            body = f"<system-out>{escape(detail)}</system-out>"
        cases.append(f'  <testcase classname="trtbench.gate" name={name}>{body}</testcase>')
    failures = len(v.regressions)
    skipped = sum(f.verdict == "no-data" for f in v.findings)
    return ('<?xml version="1.0" encoding="utf-8"?>\n'
            f'<testsuite name="trtbench gate" tests="{len(v.findings)}" failures="{failures}" errors="0" '
            f'skipped="{skipped}">\n' + "\n".join(cases) + "\n</testsuite>\n")


def as_json(v: Verdict, specs: List[str]) -> str:
    d = v.to_dict()
    d["rules"] = specs
    return json.dumps(d, indent=1)
