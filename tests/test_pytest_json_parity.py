"""pytest-benchmark compatibility under pytest-xdist: the JSON the xdist controller writes (pytest-benchmark
disables itself there) is written to the path given, and is indistinguishable in structure from a plain run's:
same keys at every depth, the real test nodeids, the same params and options, machine and commit info, the data.
``pytest-benchmark compare`` pairs the two files."""

import json
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[1]
MATRIX = """
[matrix]
models = ["mlp"]
backends = ["onnxruntime"]
batches = [1, 4]
precisions = ["fp32"]
build_modes = ["implicit"]
[run]
duration_s = 0.03
warmup_ms = 2
iterations = 5
trials = 2
isolation = "inline"
"""


def _clean_env():
    """The environment of a user's shell: this test session's own xdist worker variables left out (inherited,
    they would make pytest-benchmark in the child believe it runs under xdist)."""
    import os

    return dict({k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST_")}, PYTHONPATH=str(ROOT))


def _plugin_args():
    """``-p trtbench.pytest.plugin`` where the package's pytest11 entry point is not installed (twice would
    register every hook twice)."""
    names = {e.name for e in metadata.entry_points().select(group="pytest11")} if hasattr(
        metadata.entry_points(), "select") else {e.name for e in metadata.entry_points().get("pytest11", [])}
    return [] if "trtbench" in names else ["-p", "trtbench.pytest.plugin"]


def _keys(x, path=""):
    """Every key path of a JSON document (list items merged), e.g. ``/benchmarks[]/stats/data``."""
    out = set()
    if isinstance(x, dict):
        for k, v in x.items():
            out.add(f"{path}/{k}")
            out |= _keys(v, f"{path}/{k}")
    elif isinstance(x, list):
        for v in x:
            out |= _keys(v, path + "[]")
    return out


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    pytest.importorskip("xdist")
    base = tmp_path_factory.mktemp("parity")
    (base / "bench").mkdir()
    (base / "bench" / "test_bench_matrix.py").write_text((ROOT / "bench" / "test_bench_matrix.py").read_text())
    (base / "bench" / "matrix.toml").write_text(MATRIX)
    out = base / "json-out"  # an absolute path in another folder than the one pytest runs in
    runs = {}
    for name, extra in (("plain", []), ("xdist", ["-n", "2"])):
        target = out / f"{name}.json"
        out.mkdir(exist_ok=True)
        r = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *_plugin_args(), "bench",
                            "--benchmark-json", str(target), "--trtbench-results", str(base / "res"), *extra],
                           cwd=base, capture_output=True, text=True, timeout=600,
                           env=_clean_env())
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
        runs[name] = target
    return runs


def test_the_xdist_json_is_written_where_asked_and_has_the_plain_runs_structure(two_runs):
    plain, xdist = (json.loads(two_runs[k].read_text()) for k in ("plain", "xdist"))
    only = (_keys(plain) ^ _keys(xdist)) - {"/trtbench/workers"}  # the workers are named (xdist only)
    assert not only, sorted(only)
    assert xdist["commit_info"] == plain["commit_info"]
    for key in ("node", "system", "python_version", "machine"):
        assert xdist["machine_info"][key] == plain["machine_info"][key]
    assert xdist["machine_info"]["trtbench"]["packages"] == plain["machine_info"]["trtbench"]["packages"]
    by = {k: {b["param"]: b for b in doc["benchmarks"]} for k, doc in (("plain", plain), ("xdist", xdist))}
    assert set(by["plain"]) == set(by["xdist"]) == {"mlp-onnxruntime-fp32-implicit-b1", "mlp-onnxruntime-fp32-implicit-b4"}
    for param, p in by["plain"].items():
        x = by["xdist"][param]
        assert x["fullname"] == p["fullname"] == f"bench/test_bench_matrix.py::test_variant[{param}]"
        for key in ("name", "group", "params", "options"):
            assert x[key] == p[key], (key, x[key], p[key])
        for b in (p, x):
            assert len(b["stats"]["data"]) == b["stats"]["rounds"] > 0
            assert len(b["extra_info"]["trials"]) == 2


def test_pytest_benchmark_compare_pairs_the_plain_and_the_xdist_json(two_runs):
    r = subprocess.run([sys.executable, "-c", "import sys; from pytest_benchmark.cli import main; sys.exit(main())",
                        "compare", str(two_runs["plain"]), str(two_runs["xdist"])], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    for param in ("mlp-onnxruntime-fp32-implicit-b1", "mlp-onnxruntime-fp32-implicit-b4"):
        rows = [ln for ln in r.stdout.splitlines() if f"test_variant[{param}]" in ln]
        assert len(rows) == 2 and any("plain)" in ln for ln in rows) and any("xdist)" in ln for ln in rows), r.stdout
