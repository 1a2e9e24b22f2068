"""Copy results files without their raw per-query samples (per-trial statistics, counts and wall times
kept), gzipped: how large GPU evidence is committed. ``read_results``, ``trtbench report`` and ``trtbench
gate`` read the copies (every trial statistic the gate uses is there); the raw samples are not.

    python bench/strip_samples.py SRC_DIR DST_DIR      (every results.jsonl under SRC_DIR, same layout)
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

SERIES = ("h2d", "compute", "d2h", "enqueue", "latency", "e2e")


def strip(line: str) -> str:
    doc = json.loads(line)
    if doc.get("event") == "trial":
        s = doc["trial"]["samples"]
        s["queries"] = len(s.get("compute") or [])
        for k in SERIES:
            s[k] = []
        s.update(extra_series_dropped=True)
        for k in [k for k in s if isinstance(s[k], list)]:
            s[k] = []
    return json.dumps(doc, separators=(",", ":"))


def main() -> None:
    src, dst = Path(sys.argv[1]), Path(sys.argv[2])
    n = 0
    for f in sorted(src.rglob("results.jsonl")):
        out = dst / f.relative_to(src)
        out = out.with_name(out.name + ".gz")
        out.parent.mkdir(parents=True, exist_ok=True)
        with open(f, encoding="utf-8") as i, gzip.open(out, "wt", encoding="utf-8") as o:
            for line in i:
                if line.strip():
                    o.write(strip(line) + "\n")
        n += 1
    print(f"{n} file(s) -> {dst}")


if __name__ == "__main__":
    main()
