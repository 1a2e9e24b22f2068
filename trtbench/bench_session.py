"""The benchmark matrix inside pytest: planning, sharding, running a variant through the
``benchmark`` fixture, the native results file, and merging pytest-xdist workers.

pytest-benchmark's standard stats for a variant are trtbench's own measured per-query end-to-end
latencies (CUDA events on a GPU), replayed into the fixture through its timer, so
``--benchmark-compare``/``--benchmark-compare-fail`` judge the real measurement; ``extra_info``
carries every stage's statistics, the NVML summary, accuracy, quality flags and the variant spec.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import List, Optional, Tuple

from trtbench.errors import UserError
from trtbench.matrix.spec import Variant
from trtbench.results.store import RESULTS_FILE, ResultsWriter, atomic_write_json, new_run_id, utc_now


def parse_shard(text: Optional[str]) -> Optional[Tuple[int, int]]:
    if not text:
        return None
    try:
        i, n = (int(x) for x in str(text).split("/"))
    except ValueError:
        raise UserError(f"bad --trtbench-shard {text!r}: write I/N with 1 <= I <= N, e.g. 2/4") from None
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


def extra_info(record: dict) -> dict:
    st = record.get("stats") or {}
    return {"trtbench_variant": record["variant"], "status": record["status"], "reason": record.get("reason"),
            "stages": st.get("stages"), "throughput": st.get("throughput"), "quality": record.get("quality"),
            "nvml": (record.get("nvml") or {}).get("summary"), "accuracy": _short_accuracy(record.get("accuracy")),
            "timing": record.get("timing"), "backend": record.get("backend"),
            "stats_source": "trtbench per-query end-to-end latency (seconds), as measured by its stage timer"}


def _short_accuracy(acc):
    if not acc:
        return acc
    return {k: acc.get(k) for k in ("rel_l2", "max_abs", "cosine", "top1", "inaccurate", "tolerance")}


def standard_series(record: dict) -> List[float]:
    s = record["samples"]
    ms = s["e2e"] or s["compute"]
    return [x / 1e3 for x in ms]


class ReplayTimer:
    """A clock for pytest-benchmark's runner that advances by one measured sample per round: each
    round's ``end - start`` is exactly one of trtbench's measured query times."""

    def __init__(self, samples_s: List[float]) -> None:
        self.samples = samples_s
        self.t = 0.0
        self.calls = 0

    def __call__(self) -> float:
        if self.calls % 2 == 1:
            self.t += self.samples[(self.calls // 2) % len(self.samples)]
        self.calls += 1
        return self.t


def feed_benchmark(benchmark, record: dict) -> None:
    """Put a measured record into pytest-benchmark's fixture (stats + extra_info)."""
    benchmark.extra_info.update(extra_info(record))
    samples = standard_series(record)
    if getattr(benchmark, "disabled", False):
        benchmark.pedantic(lambda: None, rounds=1, iterations=1)
        return
    if not hasattr(benchmark, "_timer"):
        raise RuntimeError("this pytest-benchmark has no _timer to replay trtbench's samples into")
    benchmark._timer = ReplayTimer(samples)
    benchmark.pedantic(lambda: None, rounds=len(samples), iterations=1, warmup_rounds=0)


class BenchSession:
    """One per pytest process (controller or xdist worker)."""

    def __init__(self, matrix, settings, results_dir: str, run_id: str, worker: Optional[str],
                 shard_spec=None) -> None:
        self.matrix, self.settings, self.results_dir = matrix, settings, results_dir
        self.run_id, self.worker, self.shard_spec = run_id, worker, shard_spec
        self.writer: Optional[ResultsWriter] = None
        self.records: List[dict] = []
        self._planned = None

    def plan(self):
        if self._planned is None:
            from trtbench.runner import plan_matrix

            variants, excluded = plan_matrix(self.matrix)
            self._planned = (shard(variants, self.shard_spec), excluded)
        return self._planned

    def _writer(self) -> ResultsWriter:
        if self.writer is None:
            from trtbench.backends.registry import backend_info, uses_gpu
            from trtbench.results.fingerprint import machine_fingerprint

            variants, excluded = self.plan()
            gpu = None
            if any(uses_gpu(v.backend) for v in variants):
                gpu = gpu_block(self.settings.device)
            self.writer = ResultsWriter(self.results_dir, machine=machine_fingerprint(gpu),
                                        settings=self.settings.to_dict(), matrix=self.matrix.to_dict(),
                                        excluded=[e.to_dict() for e in excluded],
                                        command="pytest " + " ".join(os.sys.argv[1:]), run_id=self.run_id)
            if self.worker:  # each worker writes its own envelope; the controller merges them
                self.writer.path = Path(self.results_dir) / self.run_id / f"results-{self.worker}.json"
            self.writer.doc["pytest"] = {"worker": self.worker, "shard": list(self.shard_spec or ()) or None}
            self.writer._flush()
        return self.writer

    def run(self, variant: Variant) -> dict:
        from trtbench.runner import default_sampler_factory, run_variant

        writer = self._writer()
        record = run_variant(variant, self.settings, default_sampler_factory() if self.settings.nvml else None,
                             artifacts_dir=str(writer.directory))
        writer.add(record)
        self.records.append(record)
        return record

    def finish(self) -> None:
        if self.writer is not None:
            self.writer.finish("complete")


def gpu_block(device: int):
    try:
        from trtbench.gpu.fingerprint import gpu_fingerprint

        return gpu_fingerprint(device)
    except Exception as exc:
        return {"available": False, "reason": f"{type(exc).__name__}: {exc}"}


def merge_worker_files(run_dir: Path) -> Optional[Path]:
    """Merge ``results-gw*.json`` of one run into ``results.json`` (variants concatenated, one envelope)."""
    parts = sorted(run_dir.glob("results-gw*.json"))
    if not parts:
        return None
    docs = [json.loads(p.read_text()) for p in parts]
    merged = dict(docs[0])
    merged["variants"] = [r for d in docs for r in d["variants"]]
    merged["status"] = "complete" if all(d["status"] == "complete" for d in docs) else "interrupted"
    merged["finished"] = utc_now()
    merged["pytest"] = {"workers": [d.get("pytest", {}).get("worker") for d in docs],
                        "gpus": [d["machine"].get("gpu") for d in docs]}
    out = run_dir / RESULTS_FILE
    atomic_write_json(out, merged)
    for p in parts:
        p.unlink()
    return out


def benchmark_json_from_records(records: List[dict], machine_info: dict, commit_info: dict) -> dict:
    """pytest-benchmark's JSON format, built from trtbench records (used when pytest-benchmark is
    disabled, as it is under xdist)."""
    from pytest_benchmark import __version__ as pb_version
    from pytest_benchmark.stats import Stats

    benches = []
    for r in records:
        if r["status"] != "ok":
            continue
        stats = Stats()
        for x in standard_series(r):
            stats.update(x)
        d = stats.as_dict()
        d["iterations"] = 1
        vid = r["variant"]["id"]
        benches.append({"group": None, "name": f"test_variant[{vid}]", "fullname": f"bench/test_matrix.py::"
                        f"test_variant[{vid}]", "params": {"trtbench_variant": vid}, "param": vid,
                        "extra_info": extra_info(r), "options": {"source": "trtbench (xdist merge)"}, "stats": d})
    return {"machine_info": machine_info, "commit_info": commit_info, "benchmarks": benches,
            "datetime": utc_now(), "version": pb_version}


def unmeasured(records: List[dict], excluded: List[dict]) -> dict:
    return {"failed": [{"id": r["variant"]["id"], "reason": r["reason"]} for r in records if r["status"] == "failed"],
            "skipped": [{"id": r["variant"]["id"], "reason": r["reason"]} for r in records if r["status"] == "skipped"],
            "excluded": excluded}


__all__ = ["BenchSession", "new_run_id", "parse_shard", "shard", "feed_benchmark", "merge_worker_files",
           "benchmark_json_from_records", "unmeasured"]
