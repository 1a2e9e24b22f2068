"""The gate's outputs: a markdown summary (for $GITHUB_STEP_SUMMARY), JUnit XML (one test case per
variant and metric) and a JSON verdict. Every name that comes from a results file is neutralised:
markdown cannot gain a heading or a table row from a variant id, XML never holds a character XML 1.0
forbids, JSON never holds NaN."""

from __future__ import annotations

import json
import math
import re
from typing import List
from xml.sax.saxutils import escape, quoteattr

from trtbench.compare.engine import Verdict

ICON = {"regression": "❌ regression", "missing": "❌ missing", "failed": "❌ failed", "no-data": "⛔ cannot judge",
        "inconclusive": "❔ inconclusive", "minor": "⚠️ minor", "improvement": "✅ improvement", "pass": "✅ pass"}
ORDER = {"regression": 0, "missing": 0, "failed": 0, "no-data": 0, "inconclusive": 1, "minor": 2, "improvement": 3,
         "pass": 4}
_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def one_line(s) -> str:
    """Control characters (newlines, ESC, NUL) become spaces / '?': a name stays on its line."""
    return "".join(" " if c in "\r\n\t" else (c if c.isprintable() else "?") for c in ("" if s is None else str(s)))


def md(s) -> str:
    s = one_line(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    for ch in "\\`*_[]|#!$":
        s = s.replace(ch, "\\" + ch)
    return s


def _num(x, fmt="{:.4g}"):
    return "-" if x is None or (isinstance(x, float) and not math.isfinite(x)) else fmt.format(x)


def _pct(x):
    return "-" if x is None or not math.isfinite(x) else f"{x:.1%}"


def status_line(v: Verdict, strict: bool) -> str:
    if v.unjudged:
        return f"CANNOT JUDGE ({len(v.unjudged)} check(s) without data)"
    if v.regressions:
        return f"FAIL ({len(v.regressions)} regression(s))"
    if strict and v.inconclusive:
        return f"FAIL (--strict: {len(v.inconclusive)} inconclusive)"
    return "PASS" + (f" ({len(v.inconclusive)} inconclusive)" if v.inconclusive else "")


def markdown(v: Verdict, specs: List[str], strict: bool = False) -> str:
    how = ("paired by round (interleaved ab job)" if v.paired else
           "separate runs: Welch t on log trial values, widened by the history's run-to-run variance")
    lines = ["### trtbench gate: " + status_line(v, strict), "",
             "Rules: " + ", ".join(f"`{md(s)}`" for s in specs) + f". Unit: the trial; {how}; Benjamini-Hochberg "
             "across the comparison; a regression is significant and at least the threshold; inconclusive: the "
             "interval cannot rule out the threshold (detectable = smallest change this data resolves).", ""]
    if v.env_mismatch:
        lines += ["**Environment differs (allowed):** " + "; ".join(md(m) for m in v.env_mismatch), ""]
    for w in v.warnings:
        lines.append(f"- ⚠️ {md(w)}")
    rows = sorted(v.findings, key=lambda f: (ORDER.get(f.verdict, 5), -(abs((f.ratio or 1) - 1))))
    lines += ["", "| variant | metric | verdict | baseline | candidate | ratio | 99% CI | detectable | trials | note |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for f in rows:
        ci = f"{f.ci[0]:.3f}-{f.ci[1]:.3f}" if f.ci and all(math.isfinite(x) for x in f.ci) else "-"
        trials = f"{f.trials[0]}/{f.trials[1]}" if f.trials else "-"
        lines.append(f"| {md(f.variant)} | {md(f.metric)} | {ICON.get(f.verdict, md(f.verdict))} | {_num(f.baseline)} | "
                     f"{_num(f.candidate)} | {_num(f.ratio, '{:.3f}')} | {ci} | {_pct(f.detectable)} | {trials} | "
                     f"{md(f.note)[:300]} |")
    return "\n".join(lines) + "\n"


def xml_text(s) -> str:
    return _XML_BAD.sub("?", "" if s is None else str(s))


def junit(v: Verdict, strict: bool = False) -> str:
    cases = []
    for f in v.findings:
        name = quoteattr(xml_text(f"{f.variant} {f.metric}"))
        detail = xml_text(f"verdict={f.verdict} baseline={f.baseline} candidate={f.candidate} ratio={f.ratio} "
                          f"ci={f.ci} p={f.p_value} detectable={f.detectable} rule={f.threshold} {f.note}")
        if f.verdict in ("regression", "missing", "failed", "no-data") or (strict and f.verdict == "inconclusive"):
            body = f"<failure message={quoteattr(f.verdict)}>{escape(detail)}</failure>"
        else:
            body = f"<system-out>{escape(detail)}</system-out>"
        cases.append(f'  <testcase classname="trtbench.gate" name={name}>{body}</testcase>')
    failures = sum(1 for f in v.findings if f.verdict in ("regression", "missing", "failed", "no-data")
                   or (strict and f.verdict == "inconclusive"))
    return ('<?xml version="1.0" encoding="utf-8"?>\n'
            f'<testsuite name="trtbench gate" tests="{len(v.findings)}" failures="{failures}" errors="0" '
            f'skipped="0">\n' + "\n".join(cases) + "\n</testsuite>\n")


def as_json(v: Verdict, specs: List[str], strict: bool = False) -> str:
    d = v.to_dict(strict)
    d["rules"] = specs
    return json.dumps(d, indent=1, allow_nan=False)
