"""The pytest plugin (the ``trtbench`` pytest11 entry point): ``pytest bench/ --benchmark-json out.json``
runs the benchmark matrix as a pytest-benchmark suite.

- Options are ``trtbench.options`` (the CLI's), as ``--trtbench-*``; plus ``--trtbench-shard I/N``.
- A test that takes the ``trtbench_variant`` argument is parametrized with the matrix's variants (ids
  are the variant ids, so ``-k "explicit and b32"`` selects); without ``--trtbench-matrix`` the
  ``matrix.toml`` beside the test module is used.
- ``trtbench_session.measure(variant, benchmark)`` measures, writes the native results file, feeds
  pytest-benchmark, and skips or fails the test with the variant's reason.
- Failed, skipped and excluded variants go into the benchmark JSON under ``"trtbench"``.
- Under pytest-xdist each worker is pinned to its own GPU and writes its own envelope; the controller
  merges them and, since pytest-benchmark disables itself under xdist, writes the benchmark JSON.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

_SESSION = pytest.StashKey()
_RUN_ID = pytest.StashKey()


def pytest_addoption(parser):
    from trtbench.config.options import ALL_OPTIONS, add_pytest_options

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
        from trtbench.results.store import new_run_id

        config.stash[_RUN_ID] = new_run_id()
    config.stash[_SESSION] = None
    _check_options(config)


def _check_options(config) -> None:
    """Bad --trtbench-* input is a usage error at startup (exit code 4), not a collection error."""
    from trtbench.bench_session import parse_shard
    from trtbench.errors import UserError
    from trtbench.config.configure import configure

    values = _values(config)
    try:
        parse_shard(config.getoption("trtbench_shard"))
        if any(v not in (None, False) for k, v in values.items()):
            configure(values, default_backend=lambda: "onnxruntime")
    except UserError as exc:
        raise pytest.UsageError(f"trtbench: {exc}") from None


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node):  # xdist: the workers share the controller's run id
    node.workerinput["trtbench_run_id"] = node.config.stash[_RUN_ID]


def _values(config) -> dict:
    from trtbench.config.options import ALL_OPTIONS

    return {o.dest: config.getoption("trtbench_" + o.dest) for o in ALL_OPTIONS}


def get_session(config, default_matrix=None):
    sess = config.stash.get(_SESSION, None)
    if sess is None:
        from trtbench.bench_session import BenchSession, parse_shard
        from trtbench.errors import UserError
        from trtbench.config.configure import configure

        values = _values(config)
        if not values.get("matrix") and default_matrix and Path(default_matrix).is_file():
            values["matrix"] = str(default_matrix)
        try:
            from trtbench.backends.registry import best_available

            matrix, settings, results_dir = configure(values, best_available)
            sess = BenchSession(matrix, settings, results_dir, config.stash[_RUN_ID], _worker_id(config),
                                parse_shard(config.getoption("trtbench_shard")))
            sess.plan()
        except UserError as exc:
            raise pytest.UsageError(f"trtbench: {exc}") from None
        config.stash[_SESSION] = sess
    return sess


def pytest_generate_tests(metafunc):
    if "trtbench_variant" not in metafunc.fixturenames:
        return
    default = Path(str(metafunc.module.__file__)).with_name("matrix.toml")
    variants, _ = get_session(metafunc.config, default).plan()
    metafunc.parametrize("trtbench_variant", variants, ids=[v.id for v in variants])


class _Measure:
    def __init__(self, sess):
        self.session = sess

    def measure(self, variant, benchmark):
        from trtbench.bench_session import feed_benchmark

        record = self.session.run(variant)
        if record["status"] == "skipped":
            pytest.skip(record["reason"])
        if record["status"] == "failed":
            pytest.fail(f"{variant.id}: {record['reason']}", pytrace=False)
        feed_benchmark(benchmark, record)
        return record


@pytest.fixture
def trtbench_session(request):
    return _Measure(get_session(request.config))


@pytest.hookimpl(optionalhook=True)
def pytest_benchmark_update_machine_info(config, machine_info):
    from trtbench.results.fingerprint import package_versions

    sess = config.stash.get(_SESSION, None)
    gpu = None
    if sess is not None:
        from trtbench.backends.registry import backend_info, uses_gpu
        from trtbench.bench_session import gpu_block

        if any(uses_gpu(v.backend) for v in sess.plan()[0]):
            gpu = gpu_block(sess.settings.device)
    pk = package_versions()
    machine_info["trtbench"] = {"gpu": gpu, "driver": (gpu or {}).get("driver"),
                                "cuda_runtime": (gpu or {}).get("cuda_runtime"),
                                "tensorrt": pk.get("tensorrt") or pk.get("tensorrt-lean-cu13-bindings"),
                                "packages": pk}


@pytest.hookimpl(optionalhook=True)
def pytest_benchmark_update_json(config, benchmarks, output_json):
    from trtbench.bench_session import unmeasured

    sess = config.stash.get(_SESSION, None)
    if sess is None:
        return
    output_json["trtbench"] = {"run_id": sess.run_id, "results": str(sess.writer.path) if sess.writer else None,
                               **unmeasured(sess.records, [e.to_dict() for e in sess.plan()[1]])}


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session, exitstatus):
    config = session.config
    sess = config.stash.get(_SESSION, None)
    if sess is not None:
        sess.finish()
    if _worker_id(config) or getattr(config.option, "dist", "no") in ("no", None):
        return
    # xdist controller: merge the workers' envelopes, then write the benchmark JSON pytest-benchmark skipped
    from trtbench.bench_session import benchmark_json_from_records, merge_worker_files, unmeasured
    from trtbench.config.configure import configure

    results_dir = (sess.results_dir if sess else None) or configure(_values(config))[2]
    merged = merge_worker_files(Path(results_dir) / config.stash[_RUN_ID])
    target = getattr(config.option, "benchmark_json", None)
    if merged is None or not target:
        return
    doc = json.loads(merged.read_text())
    from trtbench.results.fingerprint import package_versions

    machine_info = {"node": doc["machine"]["host"], "python_version": doc["machine"]["python"],
                    "trtbench": {"gpus": doc.get("pytest", {}).get("gpus"), "packages": package_versions()}}
    git = doc["machine"].get("git") or {}
    out = benchmark_json_from_records(doc["variants"], machine_info, {"id": git.get("commit"), "dirty": git.get("dirty")})
    out["trtbench"] = {"run_id": doc["run_id"], "results": str(merged), "workers": doc["pytest"]["workers"],
                       **unmeasured(doc["variants"], doc["excluded"])}
    path = target.name if hasattr(target, "name") else str(target)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(out, f, indent=1)
