"""Writing results is linear: 1,000 variants x 20,000 samples (3 trials each), appended line by line.

Prints the time per variant for the first and the last tenth of the matrix (a file rewritten per variant
grows quadratically: the last tenth would take ~10x the first), the total, the file size and the time to
read it back (``read_results``, one call), and writes the numbers as JSON.

    python bench/bench_results_write.py OUT.json [--variants 1000] [--samples 20000]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from trtbench.config.settings import RunSettings  # noqa: E402
from trtbench.matrix.spec import Variant  # noqa: E402
from trtbench.models.loading import ModelSource  # noqa: E402
from trtbench.results.record import Trial, VariantRecord  # noqa: E402
from trtbench.results.store import ResultsWriter, read_results  # noqa: E402
from trtbench.timing.samples import RawSamples  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--variants", type=int, default=1000)
    ap.add_argument("--samples", type=int, default=20000)
    ap.add_argument("--trials", type=int, default=3)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    per_trial = args.samples // args.trials
    settings = RunSettings(trials=args.trials)
    with tempfile.TemporaryDirectory() as tmp:
        w = ResultsWriter(tmp, {"command": "bench_results_write", "machine": {"host": "h", "os": "o", "cpu": "c",
                          "python": "3", "packages": {}}, "settings": settings.to_dict(), "matrix": {}, "excluded": []})
        times = []
        t_all = time.perf_counter()
        for i in range(args.variants):
            t0 = time.perf_counter()
            v = Variant(ModelSource(f"m{i}"), "onnxruntime", 1, "fp32", "implicit")
            w.variant(VariantRecord(v, v.id, "ok", planned_trials=args.trials))
            for k in range(args.trials):
                x = (0.1 + rng.random(per_trial) * 0.01).round(6).tolist()
                raw = RawSamples(h2d=x, compute=x, d2h=x, enqueue=x, latency=x, e2e=x, walltime_s=1.0)
                w.trial(v.id, Trial.measured(raw, index=k, round=k, position=i, process="bench", reloaded=True,
                                             started=0.0, ended=1.0, compute_timing="host"))
            times.append(time.perf_counter() - t0)
        w.finish()
        total = time.perf_counter() - t_all
        size = w.path.stat().st_size
        t0 = time.perf_counter()
        doc = read_results(str(w.path))
        read_s = time.perf_counter() - t0
    tenth = max(1, args.variants // 10)
    first, last = sum(times[:tenth]) / tenth, sum(times[-tenth:]) / tenth
    out = {"variants": args.variants, "samples_per_variant": per_trial * args.trials, "trials": args.trials,
           "write_total_s": total, "per_variant_first_tenth_s": first, "per_variant_last_tenth_s": last,
           "last_over_first": last / first, "file_bytes": size, "read_s": read_s, "records_read": len(doc.records),
           "machine": {"python": platform.python_version(), "cpu": platform.processor() or platform.machine()},
           "note": "each variant = 1 record line + one line per trial, 6 series per trial; numbers include "
                   "making the synthetic samples"}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1))
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
