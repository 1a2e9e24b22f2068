"""The pytest plugin (the ``trtbench`` pytest11 entry point): ``pytest bench/ --benchmark-json out.json``
runs the benchmark matrix as a pytest-benchmark suite.

- Options are the CLI's (``trtbench.config.options``), as ``--trtbench-*``; plus ``--trtbench-shard I/N``.
- A test that takes the ``trtbench_variant`` argument is parametrized with the matrix's variants (ids
  are the variant ids, so ``-k "explicit and b32"`` selects); without ``--trtbench-matrix`` the
  ``matrix.toml`` beside the test module is used.
- ``trtbench_suite.measure(variant, benchmark)``: the first test to ask runs the run session over every
  *selected* variant (trials interleaved across them, as ``trtbench run`` does), writing the native
  results file; each test then feeds its variant's record to pytest-benchmark, and skips or fails with
  the variant's reason.
- Under pytest-xdist each worker is pinned to its own GPU and measures its tests' variants one at a time
  (their trials back to back); the controller merges the workers' results files and, since
  pytest-benchmark disables itself under xdist, writes the benchmark JSON.
- Failed, skipped and excluded variants go into the benchmark JSON under ``"trtbench"``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Dict, List

import pytest

from trtbench.backends.registry import best_available, uses_gpu
from trtbench.config.configure import configure
from trtbench.config.options import ALL_OPTIONS, add_pytest_options
from trtbench.errors import UserError
from trtbench.gpu.fingerprint import gpu_block
from trtbench.matrix.spec import Variant
from trtbench.pytest.benchmark import feed_benchmark, merge_parts, parse_shard, shard, unmeasured
from trtbench.pytest.benchmark_json import benchmark_json, record_nodeid
from trtbench.results.fingerprint import package_versions
from trtbench.results.record import VariantRecord
from trtbench.results.store import new_run_id, read_results
from trtbench.run.plan import plan_matrix
from trtbench.run.session import RunSession, plain_arm

_SUITE = pytest.StashKey()
_RUN_ID = pytest.StashKey()
_SELECTED = pytest.StashKey()


def pytest_addoption(parser):
    group = parser.getgroup("trtbench", "trtbench benchmark matrix")
    add_pytest_options(group, ALL_OPTIONS)
    group.addoption("--trtbench-shard", dest="trtbench_shard", default=None, metavar="I/N",
                    help="run shard I of N of the matrix (deterministic; the N shards cover it exactly once)")


def _worker_id(config):
    wi = getattr(config, "workerinput", None)
    return wi.get("workerid") if wi else None


def _pin_worker_gpu(worker: str) -> None:
    """gwN uses GPU N (mod the GPUs visible), set before this process touches CUDA."""
    try:
        import pynvml

        pynvml.nvmlInit()
        count = pynvml.nvmlDeviceGetCount()
    except Exception:
        return
    if count == 0:
        return
    visible = [v for v in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if v.strip()] or \
        [str(i) for i in range(count)]
    os.environ["CUDA_VISIBLE_DEVICES"] = visible[int(worker.lstrip("gw") or 0) % len(visible)]


def pytest_configure(config):
    config.addinivalue_line("markers", "trtbench: a trtbench benchmark-matrix variant")
    worker = _worker_id(config)
    if worker:
        config.stash[_RUN_ID] = config.workerinput.get("trtbench_run_id")
        _pin_worker_gpu(worker)
    else:
        config.stash[_RUN_ID] = new_run_id()
    config.stash[_SUITE] = None
    config.stash[_SELECTED] = None
    _check_options(config)


def _values(config) -> dict:
    return {o.dest: config.getoption("trtbench_" + o.dest) for o in ALL_OPTIONS}


def _check_options(config) -> None:
    """Bad --trtbench-* input is a usage error at startup (exit code 4), not a collection error."""
    values = _values(config)
    try:
        parse_shard(config.getoption("trtbench_shard"))
        if any(v not in (None, False) for v in values.values()):
            configure(values, lambda: "onnxruntime")
    except UserError as exc:
        raise pytest.UsageError(f"trtbench: {exc}") from None


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node):  # xdist: the workers share the controller's run id
    node.workerinput["trtbench_run_id"] = node.config.stash[_RUN_ID]


class Suite:
    """One per pytest process (controller or xdist worker): the planned matrix and its records."""

    def __init__(self, config, matrix, settings, results_dir: str) -> None:
        self.config, self.settings, self.results_dir = config, settings, results_dir
        self.matrix = matrix
        variants, excluded = plan_matrix(matrix, settings)
        self.variants = shard(variants, parse_shard(config.getoption("trtbench_shard")))
        self.excluded = [e.to_dict() for e in excluded]
        self.records: Dict[str, VariantRecord] = {}
        self.paths: List[str] = []
        self.worker = _worker_id(config)
        self._parts = 0

    @property
    def run_dir(self) -> Path:
        return Path(self.results_dir) / self.config.stash[_RUN_ID]

    def _session(self, variants: List[Variant]) -> None:
        if self.worker:  # one part per measured variant; the controller merges them
            self._parts += 1
            results_dir, run_id = str(self.run_dir), f"part-{self.worker}-{self._parts}"
        else:
            results_dir, run_id = self.results_dir, self.config.stash[_RUN_ID]
        session = RunSession([plain_arm(variants, self.settings)], results_dir, command="pytest " + " ".join(sys.argv[1:]),
                             matrices=[self.matrix.to_dict()], excluded=[self.excluded], run_ids=[run_id])
        outcome = session.run()
        self.paths.append(outcome.arms[0].path)
        for r in outcome.records:
            self.records[r.id] = r
        if outcome.status != "complete":
            raise KeyboardInterrupt

    def record(self, variant: Variant) -> VariantRecord:
        if variant.id not in self.records:
            selected = self.config.stash.get(_SELECTED, None)
            if self.worker or not selected:
                self._session([variant])
            else:
                self._session([v for v in self.variants if v.id in selected and v.id not in self.records])
        return self.records[variant.id]

    def measure(self, variant: Variant, benchmark) -> VariantRecord:
        record = self.record(variant)
        if record.status == "skipped":
            pytest.skip(record.reason)
        if record.status == "failed":
            pytest.fail(f"{variant.id}: {record.reason}", pytrace=False)
        feed_benchmark(benchmark, record)
        return record


def get_suite(config, default_matrix=None) -> Suite:
    suite = config.stash.get(_SUITE, None)
    if suite is None:
        values = _values(config)
        if not values.get("matrix") and default_matrix and Path(default_matrix).is_file():
            values["matrix"] = str(default_matrix)
        try:
            matrix, settings, results_dir = configure(values, best_available)
            suite = Suite(config, matrix, settings, results_dir)
        except UserError as exc:
            raise pytest.UsageError(f"trtbench: {exc}") from None
        config.stash[_SUITE] = suite
    return suite


def pytest_generate_tests(metafunc):
    if "trtbench_variant" not in metafunc.fixturenames:
        return
    default = Path(str(metafunc.module.__file__)).with_name("matrix.toml")
    variants = get_suite(metafunc.config, default).variants
    metafunc.parametrize("trtbench_variant", variants, ids=[v.id for v in variants])


def pytest_collection_finish(session):
    """The variants left after -k/-m selection are the ones the first measurement interleaves."""
    ids = set()
    for item in session.items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and "trtbench_variant" in callspec.params:
            ids.add(callspec.params["trtbench_variant"].id)
    session.config.stash[_SELECTED] = ids


@pytest.fixture
def trtbench_suite(request):
    return get_suite(request.config)


@pytest.hookimpl(optionalhook=True)
def pytest_benchmark_update_machine_info(config, machine_info):
    suite = config.stash.get(_SUITE, None)
    gpu = None
    if suite is not None and any(uses_gpu(v.backend) for v in suite.variants):
        gpu = gpu_block(suite.settings.device)
    pk = package_versions()
    machine_info["trtbench"] = {"gpu": gpu, "driver": (gpu or {}).get("driver"),
                                "cuda_runtime": (gpu or {}).get("cuda_runtime"),
                                "tensorrt": pk.get("tensorrt") or pk.get("tensorrt-lean-cu13-bindings"),
                                "packages": pk}


@pytest.hookimpl(optionalhook=True)
def pytest_benchmark_update_json(config, benchmarks, output_json):
    suite = config.stash.get(_SUITE, None)
    if suite is None:
        return
    output_json["trtbench"] = {"run_id": config.stash[_RUN_ID], "results": suite.paths[0] if suite.paths else None,
                               **unmeasured(list(suite.records.values()), suite.excluded)}


def pytest_runtest_logreport(report):
    if report.when == "call":  # the xdist controller learns each variant's test id from the workers' reports
        record_nodeid(report.nodeid)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session, exitstatus):
    config = session.config
    if _worker_id(config) or getattr(config.option, "dist", "no") in ("no", None):
        return
    # xdist controller: merge the workers' results, then write the benchmark JSON pytest-benchmark skipped
    values = _values(config)
    try:
        results_dir = configure(values, lambda: "onnxruntime")[2]
    except UserError:
        return
    merged = merge_parts(Path(results_dir) / config.stash[_RUN_ID])
    target = getattr(config.option, "benchmark_json", None)
    if merged is None or not target:
        return
    doc = read_results(str(merged))
    out = benchmark_json(config, session, doc)
    path = target.name if hasattr(target, "name") else str(target)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(out, f, indent=4)


__all__ = ["Suite", "get_suite"]
