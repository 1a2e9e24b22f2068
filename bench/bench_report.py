"""Benchmark: ``trtbench report`` over 1,000 variants (target: under 30 s on a 2-core machine).

The variants are made from one real measured record (a CPU run of the built-in mlp on onnxruntime, 3
trials of 2,000 raw samples a stage) copied under 1,000 ids across models, precisions, modes and batches,
in 10 results files, plus a baseline so the comparison (the gate's engine, per-trial values) runs too.

    python bench/bench_report.py [OUT.json]
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path


def make_runs(root: Path, variants: int = 1000, files: int = 10) -> None:
    """One real measured record (3 trials, 2,000 samples a trial), copied under ``variants`` ids into
    ``files`` results files per side."""
    from dataclasses import replace

    from trtbench.config.settings import RunSettings
    from trtbench.matrix.spec import Variant
    from trtbench.models.loading import ModelSource
    from trtbench.results.fingerprint import machine_fingerprint
    from trtbench.results.store import ResultsWriter
    from trtbench.run.session import RunSession, plain_arm

    settings = RunSettings(warmup_ms=10, duration_s=0.2, iterations=2000, max_iterations=2000, isolation="inline")
    session = RunSession([plain_arm([Variant(ModelSource("mlp"), "onnxruntime", 8, "fp32", "implicit")], settings)],
                         str(root / "seed"), command="bench_report", matrices=[{}], excluded=[[]])
    rec = session.run().records[0]
    machine = machine_fingerprint()
    per = variants // files
    k = 0
    for side in ("baseline", "candidate"):
        for f in range(files):
            w = ResultsWriter(str(root / side), {"machine": machine, "settings": settings.to_dict(), "matrix": {},
                                                 "excluded": []}, run_id=f"{side}-{f}")
            for _ in range(per):
                i = k % variants
                v = Variant(ModelSource(f"model{i // 40}"), "onnxruntime", 2 ** ((i // 4) % 10),
                            ("fp32", "fp16")[i % 2], ("implicit", "explicit")[(i // 2) % 2])
                r = replace(rec, variant=v, id=v.id)
                w.variant(r)
                for t in r.trials:
                    w.trial(r.id, t)
                k += 1
            w.finish()


def main(out: str) -> int:
    from trtbench.report.build import render
    from trtbench.results.fingerprint import git_state

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_runs(root)
        t0 = time.perf_counter()
        res = render([str(root / "candidate")], str(root / "report"), baseline=[str(root / "baseline")])
        seconds = time.perf_counter() - t0
    doc = {"benchmark": "trtbench report, 1,000 variants + 1,000-variant baseline", "seconds": seconds,
           "variants": res["variants"], "plots": len(res["images"]), "cpu_count": os.cpu_count(),
           "target_seconds": 30, "pass": seconds < 30, "git": git_state(str(Path(__file__).resolve().parents[1]))}
    Path(out).write_text(json.dumps(doc, indent=1))
    print(json.dumps(doc))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "bench-report.json"))
