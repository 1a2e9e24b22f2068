"""Request rates for an open-loop sweep, as shares of a measured closed-loop throughput.

    python bench/load_rates.py RESULTS_DIR VARIANT_ID [--shares 0.25,0.5,0.75,0.9]

prints the rates comma-separated (queries/s, rounded), for ``trtbench run --request-rate``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from trtbench.compare.load import load_runs  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results")
    ap.add_argument("variant")
    ap.add_argument("--shares", default="0.25,0.5,0.75,0.9")
    args = ap.parse_args()
    recs = [r for run in load_runs([args.results]) for r in run.records if r.id == args.variant and r.ok]
    if not recs or not recs[-1].queries_per_s:
        raise SystemExit(f"load_rates: no measured {args.variant} in {args.results}")
    qps = recs[-1].queries_per_s
    print(",".join(f"{qps * float(s):.0f}" for s in args.shares.split(",")))


if __name__ == "__main__":
    main()
