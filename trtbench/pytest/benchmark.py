"""The bridge between trtbench's records and pytest-benchmark: sharding, the fixture's stats, extra_info,
the xdist merge of results files, and the benchmark JSON the controller writes under xdist.

pytest-benchmark's standard stats for a variant are trtbench's own measured per-query end-to-end
latencies (CUDA events on a GPU) of all its trials, replayed into the fixture through its timer, so
``--benchmark-compare``/``--benchmark-compare-fail`` judge the real measurement; ``extra_info`` carries
the headlines, every trial's statistics (so ``trtbench gate`` judges this JSON trial by trial), the NVML
summary, accuracy, quality flags and the variant spec.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional, Tuple

from trtbench.errors import UserError
from trtbench.matrix.spec import Variant
from trtbench.results.record import VariantRecord
from trtbench.results.store import RESULTS_FILE, read_text, utc_now
from trtbench.timing.samples import LOAD_SERIES, SERIES


def parse_shard(text: Optional[str]) -> Optional[Tuple[int, int]]:
    if not text:
        return None
    parts = str(text).split("/")
    if len(parts) != 2 or not all(p.isascii() and p.isdigit() for p in parts):
        raise UserError(f"bad --trtbench-shard {text!r}: write I/N with 1 <= I <= N, e.g. 2/4")
    i, n = int(parts[0]), int(parts[1])
    if not 1 <= i <= n:
        raise UserError(f"bad --trtbench-shard {text!r}: need 1 <= I <= N")
    return i, n


def shard(variants: List[Variant], spec: Optional[Tuple[int, int]]) -> List[Variant]:
    """Shard i of n: every n-th variant of the matrix sorted by id, starting at the i-th; the n shards
    cover the matrix exactly once, deterministically on every machine."""
    if spec is None:
        return variants
    i, n = spec
    ordered = sorted(variants, key=lambda v: v.id)
    return [v for k, v in enumerate(ordered) if k % n == i - 1]


def _trial_summary(t) -> dict:
    d = t.to_dict()
    s = d["samples"]
    d["samples"] = {k: [] for k in SERIES}
    d["samples"].update(walltime_s=s["walltime_s"], queries=s["queries"], warmup_queries=s["warmup_queries"],
                        timer=s["timer"])
    if s.get("load") is not None:  # under load: concurrency, rates, span, harness ceiling, budget search
        d["samples"]["load"] = s["load"]
    return d


def extra_info(record: VariantRecord) -> dict:
    heads = {s: h.to_dict() for s in SERIES + LOAD_SERIES for h in [record.headline(s)] if h is not None}
    acc = record.accuracy
    return {"trtbench_variant": record.variant.to_dict(), "trtbench_id": record.id, "status": record.status,
            "reason": record.reason, "headlines": heads,
            "throughput": {"queries_per_s": record.queries_per_s, "inferences_per_s": record.inferences_per_s},
            "quality": list(record.quality), "nvml": record.nvml_summary or None,
            "accuracy": {k: acc.get(k) for k in ("rel_l2", "max_abs", "cosine", "top1", "inaccurate", "tolerance",
                                                 "nonfinite")} if acc else acc,
            "timing": dict(record.timing), "backend": dict(record.backend),
            "trials": [_trial_summary(t) for t in record.trials],
            "stats_source": "trtbench per-query end-to-end latency (seconds) of every trial, as measured by its "
                            "stage timer (under load: the response time, from each query's scheduled arrival)"}


def standard_series(record: VariantRecord) -> List[float]:
    ms = record.pooled("response") or record.pooled("e2e") or record.pooled("compute")
    return [x / 1e3 for x in ms]


#: the timer's name in pytest-benchmark's JSON ("options"), in a plain run and under xdist alike
REPLAY_TIMER = "trtbench_replay"


class ReplayTimer:
    """A clock for pytest-benchmark's runner that advances by one measured sample per round: each
    round's ``end - start`` is exactly one of trtbench's measured query times."""

    __name__ = REPLAY_TIMER  # what pytest-benchmark writes for the timer (a function's name)

    def __init__(self, samples_s: List[float]) -> None:
        self.samples = samples_s
        self.t = 0.0
        self.calls = 0

    def __call__(self) -> float:
        if self.calls % 2 == 1:
            self.t += self.samples[(self.calls // 2) % len(self.samples)]
        self.calls += 1
        return self.t


def feed_benchmark(benchmark, record: VariantRecord) -> None:
    """Put a measured record into pytest-benchmark's fixture (stats + extra_info)."""
    benchmark.extra_info.update(extra_info(record))
    # the params as JSON can hold them (pytest-benchmark writes an object as "UNSERIALIZABLE[...]"): the variant id,
    # as the xdist controller writes them too
    benchmark.params = {k: (v.id if isinstance(v, Variant) else v) for k, v in (benchmark.params or {}).items()} \
        if getattr(benchmark, "params", None) is not None else None
    samples = standard_series(record)
    if getattr(benchmark, "disabled", False):
        benchmark.pedantic(lambda: None, rounds=1, iterations=1)
        return
    if not hasattr(benchmark, "_timer"):
        raise RuntimeError("this pytest-benchmark has no _timer to replay trtbench's samples into")
    benchmark._timer = ReplayTimer(samples)
    benchmark.pedantic(lambda: None, rounds=len(samples), iterations=1, warmup_rounds=0)


def merge_parts(run_dir: Path) -> Optional[Path]:
    """Merge the per-session parts of one pytest run (``part-*/results.jsonl``, from xdist workers) into
    ``run_dir/results.jsonl``: one header, every record and trial, one end."""
    parts = sorted(run_dir.glob(f"part-*/{RESULTS_FILE}"))
    if not parts:
        return None
    header, body, statuses = None, [], []
    for p in parts:
        for line in read_text(p).splitlines():
            if not line.strip():
                continue
            doc = json.loads(line)
            if doc.get("event") == "header":
                if header is None:
                    header = dict(doc, run_id=run_dir.name)
                    workers = sorted({q.parent.name.split("-")[1] for q in parts if q.parent.name.count("-") >= 2})
                    header["protocol"] = dict(header.get("protocol") or {}, parts=len(parts), workers=workers,
                                              note="pytest-xdist: each variant's trials ran back to back on its "
                                                   "worker (not interleaved across the matrix)")
            elif doc.get("event") == "end":
                statuses.append(doc["status"])
            else:
                body.append(line)
    status = "complete" if statuses and all(s == "complete" for s in statuses) and len(statuses) == len(parts) \
        else "interrupted"
    out = run_dir / RESULTS_FILE
    with open(out, "w", encoding="utf-8") as f:
        f.write(json.dumps(header, separators=(",", ":")) + "\n")
        for line in body:
            f.write(line.rstrip("\n") + "\n")
        f.write(json.dumps({"event": "end", "status": status, "finished": utc_now(), "reason": None}) + "\n")
    for p in parts:
        p.unlink()
        try:
            p.parent.rmdir()
        except OSError:
            pass
    return out


def unmeasured(records: List[VariantRecord], excluded: List[dict]) -> dict:
    return {"failed": [{"id": r.id, "reason": r.reason} for r in records if r.status == "failed"],
            "skipped": [{"id": r.id, "reason": r.reason} for r in records if r.status == "skipped"],
            "excluded": excluded}


__all__ = ["parse_shard", "shard", "feed_benchmark", "merge_parts", "unmeasured", "extra_info"]
