"""Did a trial's place in its worker process move its number? Re-reads committed results files.

For every results file whose trials ran in worker processes, each trial is either the first its worker
measured (``position`` 0 of its round with ``--isolation round``; every trial with ``--isolation process``,
where each trial has a worker of its own) or a later one (the worker had loaded and released other engines
before it). Per variant: the compute medians of both groups, so a harness artifact tied to the load
history of a process shows as a gap between them. Only graph-timed trials of one timer definition are
pooled (the trials' timer string without the wait mode), and only trials of one GPU.

    python bench/first_load_split.py results/h200-2026-11-26c results/h200-2026-11-26d [--match transformer]
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import defaultdict
from pathlib import Path
from statistics import median

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from trtbench.results.store import read_results  # noqa: E402


def short(vid: str) -> str:
    return re.sub(r"_tensorrt_engine.*|-tensorrt-engine.*", "", vid)


def split(paths, match: str = ""):
    """{(variant, GPU, timer): {"first": [ms], "later": [ms]}} over every results file under ``paths`` (each
    machine built its own engines: only trials of one GPU are pooled)."""
    groups = defaultdict(lambda: {"first": [], "later": []})
    for root in paths:
        for f in sorted(Path(root).rglob("results.jsonl*")):
            doc = read_results(str(f.parent))
            isolation = doc.protocol.get("isolation") or doc.settings.get("isolation")
            gpu = ((doc.machine or {}).get("gpu") or {}).get("uuid") or "?"
            if isolation not in ("process", "round"):
                continue
            per_trial = isolation == "process" and doc.protocol.get("worker_start") is not None and \
                _one_trial_per_worker(doc)
            for rec in doc.records:
                if not rec.ok or match not in rec.id:
                    continue
                for t in rec.trials:
                    if t.compute_timing != "graph":
                        continue
                    timer = ":".join(t.samples.timer.split(":")[:5]).replace(":blocking", "").replace(":spin", "")
                    timer += "" if doc.settings.get("data_transfers", True) else " (no transfers)"
                    first = per_trial or t.position == 0
                    groups[(short(rec.id), gpu[:12], timer)]["first" if first else "later"].append(
                        t.stats["compute"].median)
    return groups


def _one_trial_per_worker(doc) -> bool:
    seen = defaultdict(int)
    for rec in doc.records:
        for t in rec.trials:
            seen[t.process] += 1
    return bool(seen) and max(seen.values()) == 1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("paths", nargs="+")
    ap.add_argument("--match", default="", help="only variants whose id contains this")
    args = ap.parse_args()
    groups = split(args.paths, args.match)
    print("| variant | GPU | timer | first load: n, median (ms), range | later load: n, median (ms), range | later / first |")
    print("|---|---|---|---|---|---|")
    for (vid, gpu, timer), g in sorted(groups.items()):
        a, b = g["first"], g["later"]
        if not a or not b:
            continue
        cell = lambda xs: f"{len(xs)}, {median(xs):.4f}, {min(xs):.4f}-{max(xs):.4f}"  # noqa: E731
        print(f"| {vid} | {gpu} | {timer} | {cell(a)} | {cell(b)} | {median(b) / median(a):.3f} |")


if __name__ == "__main__":
    main()
