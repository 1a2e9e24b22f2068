"""The independent clocks bench/bare_trt_clock.py and bench/bare_trt_multistream.py, on CPU.

They must share nothing with trtbench: their imports are checked by AST. Their percentile is checked
against hand-computed values, --help and the one-line exit 2 for a missing TensorRT, cuda-python or GPU
by running them, and their whole flow (shapes, batches, graph/eager, transfers, repeats, N contexts,
profile sharing, freeing every CUDA resource) by running them against CPU doubles of tensorrt and
cuda.bindings.runtime (tests/bare_clock_fakes/), whose names are checked against the real packages
where those are installed. The real measurement needs a GPU: see the scripts' docstrings.
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = {"bare_trt_clock": ROOT / "bench" / "bare_trt_clock.py",
           "bare_trt_multistream": ROOT / "bench" / "bare_trt_multistream.py"}
FAKES = Path(__file__).resolve().parent / "bare_clock_fakes"
THIRD_PARTY = {"tensorrt", "cuda", "numpy"}
STDLIB = getattr(sys, "stdlib_module_names", None) or {  # Python 3.9 has no sys.stdlib_module_names
    "argparse", "contextlib", "ctypes", "fractions", "json", "math", "os", "platform", "statistics", "sys",
    "time", "types", "typing", "functools", "itertools", "collections", "dataclasses", "enum", "pathlib"}


def _imported_modules(path):
    """Every module an import statement anywhere in the file names (top level or inside functions)."""
    mods = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            mods += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path.name}: relative import at line {node.lineno}"
            mods.append(node.module)
        elif isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) in (
                "__import__", "import_module"):
            pytest.fail(f"{path.name}: dynamic import at line {node.lineno}")
    return mods


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_imports_nothing_of_trtbench_and_only_allowed_modules(name):
    mods = _imported_modules(SCRIPTS[name])
    assert {"tensorrt", "cuda.bindings", "cuda", "numpy"} <= set(mods)  # the walk does see nested imports
    assert not [m for m in mods if m.split(".")[0] == "trtbench"]
    assert not [m for m in mods if m.split(".")[0] not in THIRD_PARTY | set(STDLIB)]


def _load(name):
    spec = importlib.util.spec_from_file_location(f"_bare_{name}", SCRIPTS[name])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # only defines functions: main() runs under __name__ == "__main__"
    return module


# (values, p, expected): sorted[max(n - 1 - floor((1 - p/100) * n), 0)], worked out by hand
PERCENTILE_CASES = [
    (list(range(1, 11)), 90, 9),      # floor(0.1 * 10) = 1 -> index 8 (binary float would give 0 -> 10)
    (list(range(1, 11)), 99, 10),     # floor(0.1) = 0 -> index 9
    (list(range(1, 11)), 10, 1),      # floor(9) = 9 -> index 0
    (list(range(1, 11)), 50, 5),      # floor(5) = 5 -> index 4
    (list(range(1, 21)), 95, 19),     # floor(1) = 1 -> index 18
    (list(range(1, 101)), 99, 99),    # floor(1) = 1 -> index 98
    (list(range(1, 101)), 90, 90),    # floor(10) = 10 -> index 89
    (list(range(1, 101)), 99.9, 100),  # floor(0.1) = 0 -> index 99
    (list(range(1, 1001)), 99.9, 999),  # floor(1) = 1 -> index 998
    ([0.25, 0.5, 4.0], 0, 0.25),      # floor(3) = 3 -> index -1 -> clamped to 0
    ([0.25, 0.5, 4.0], 100, 4.0),     # floor(0) = 0 -> index 2
    ([0.25, 0.5, 4.0], 50, 0.5),      # floor(1.5) = 1 -> index 1
    ([7.5], 99, 7.5),
]


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_nearest_rank_percentile(name):
    nearest_rank = _load(name).nearest_rank
    for values, p, expected in PERCENTILE_CASES:
        assert nearest_rank(values, p) == expected, (values[:3], p)
    with pytest.raises(ValueError):
        nearest_rank([], 50)


def _run(script, args, pythonpath=None, env=None, cwd=None):
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("FAKE_CUDA")}
    full_env.pop("PYTHONPATH", None)
    if pythonpath:
        full_env["PYTHONPATH"] = os.pathsep.join(str(p) for p in pythonpath)
    full_env.update(env or {})
    return subprocess.run([sys.executable, str(script), *args], capture_output=True, text=True, env=full_env,
                          cwd=cwd, timeout=120)


@pytest.fixture
def broken(tmp_path):
    """A folder where importing tensorrt, cuda and numpy fails."""
    d = tmp_path / "broken"
    (d / "cuda").mkdir(parents=True)
    (d / "numpy").mkdir()
    for f in (d / "tensorrt.py", d / "cuda" / "__init__.py", d / "numpy" / "__init__.py"):
        f.write_text("raise ImportError('shadowed by the test')\n")
    return d


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_help_needs_no_tensorrt_cuda_or_numpy(name, broken):
    r = _run(SCRIPTS[name], ["--help"], pythonpath=[broken])
    assert r.returncode == 0, r.stderr
    assert "--plan" in r.stdout and "--json" in r.stdout and "--mode" in r.stdout


def _one_line_exit_2(r, *words):
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    for w in words:
        assert w in lines[0], lines[0]


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_missing_tensorrt_exits_2_with_one_line(name, broken, tmp_path):
    r = _run(SCRIPTS[name], ["--plan", "x.plan", "--json", str(tmp_path / "o.json")], pythonpath=[broken])
    _one_line_exit_2(r, f"{name}:", "TensorRT is not importable", "shadowed by the test")
    assert not (tmp_path / "o.json").exists()


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_missing_cuda_python_exits_2_with_one_line(name, tmp_path):
    d = tmp_path / "nocuda"
    (d / "cuda").mkdir(parents=True)
    (d / "tensorrt.py").write_text("__version__ = '0'\n")
    (d / "cuda" / "__init__.py").write_text("raise ImportError('shadowed by the test')\n")
    r = _run(SCRIPTS[name], ["--plan", "x.plan", "--json", str(tmp_path / "o.json")], pythonpath=[d])
    _one_line_exit_2(r, "cuda-python", "shadowed by the test")


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_no_gpu_exits_2_with_one_line(name, tmp_path):
    r = _run(SCRIPTS[name], ["--plan", "x.plan", "--json", str(tmp_path / "o.json")], pythonpath=[FAKES],
             env={"FAKE_CUDA_DEVICES": "0"})
    _one_line_exit_2(r, "no CUDA GPU", "cudaErrorNoDevice")


DYNAMIC = {"inputs": {"x": {"dtype": "FLOAT", "shape": [-1, 3], "profile": [[1, 3], [4, 3], [16, 3]]},
                      "mask": {"dtype": "BOOL", "shape": [-1, 3], "profile": [[1, 3], [4, 3], [16, 3]]}},
           "outputs": {"y": {"dtype": "HALF", "shape": [-1, 5]}}, "kernel_ms": 0.5}
STATIC = {"inputs": {"x": {"dtype": "BF16", "shape": [2, 8, 4, 4], "vectorized": [1, 32]}},
          "outputs": {"y": {"dtype": "FLOAT", "shape": [2, 10]}}, "kernel_ms": 0.25}
SHARED = dict(DYNAMIC, profile_sharing=True)


@pytest.fixture
def plans(tmp_path):
    out = {}
    for name, spec in (("dynamic", DYNAMIC), ("static", STATIC), ("shared", SHARED)):
        out[name] = tmp_path / f"{name}.plan"
        out[name].write_text(json.dumps(spec))
    out["corrupt"] = tmp_path / "corrupt.plan"
    out["corrupt"].write_bytes(b"\x00not a plan")
    return out


def _run_fake(name, args, tmp_path):
    report = tmp_path / "cuda-report.json"
    r = _run(SCRIPTS[name], [*args, "--json", str(tmp_path / "out.json")], pythonpath=[FAKES],
             env={"FAKE_CUDA_REPORT": str(report)})
    assert r.returncode in (0, 1), r.stderr
    cuda = json.loads(report.read_text())
    assert cuda["live"] == dict.fromkeys(cuda["live"], 0), f"CUDA resources left alive: {cuda['live']}"
    return r, json.loads((tmp_path / "out.json").read_text()), cuda["counts"]


def test_clock_graph_mode_end_to_end_on_doubles(plans, tmp_path):
    r, out, counts = _run_fake("bare_trt_clock", [
        "--plan", str(plans["dynamic"]), "--plan", str(plans["static"]), "--plan", str(plans["corrupt"]),
        "--batch", "8", "--repeat", "2", "--duration", "0.02", "--warmup-ms", "5", "--min-iterations", "30"],
        tmp_path)
    assert r.returncode == 1  # a plan failed
    assert (out["tool"], out["mode"], out["transfers"], out["gpu"]) == ("bare_trt_clock", "graph", False, "Fake GPU")
    assert (out["tensorrt"], out["cuda_runtime"], out["cuda_driver"]) == ("8.6.0.fake", "12.9", "12.8")
    dyn, static, corrupt = out["plans"]
    assert dyn["status"] == "ok" and dyn["reason"] is None
    assert dyn["shapes"] == {"x": [8, 3], "mask": [8, 3]} and dyn["output_shapes"] == {"y": [8, 5]}
    assert len(dyn["repeats"]) == 2
    for rep in dyn["repeats"]:
        xs = sorted(rep["samples_ms"])
        assert rep["n"] == len(xs) >= 30
        assert rep["median_ms"] == pytest.approx(0.5) and rep["min_ms"] == xs[0] and rep["max_ms"] == xs[-1]
        for p in (10, 90, 99):
            assert rep[f"p{p}_ms"] in xs
        assert 0 < rep["host_launch_median_ms"] < 1000
    assert static["status"] == "failed" and "batch 8" in static["reason"] and static["repeats"] == []
    assert corrupt["status"] == "failed" and "deserialize_cuda_engine returned None" in corrupt["reason"]
    # graph mode: one uncaptured run (before capture), then only graph replays
    assert counts["executes"] == 1 and counts["graph_launches"] >= 2 * 30 + 2 * 1
    assert counts["h2d"] == 2 and counts["d2h"] == 0  # inputs copied in once
    assert "dynamic.plan: ok graph median" in r.stdout and "corrupt.plan: FAILED" in r.stdout


def test_clock_graph_capture_failure_leaves_the_stream_usable(tmp_path):
    uncapturable = tmp_path / "uncapturable.plan"
    uncapturable.write_text(json.dumps(dict(STATIC, capturable=False)))
    good = tmp_path / "good.plan"
    good.write_text(json.dumps(STATIC))
    r, out, _ = _run_fake("bare_trt_clock", ["--plan", str(uncapturable), "--plan", str(good), "--duration", "0.01",
                                              "--warmup-ms", "0", "--min-iterations", "5"], tmp_path)
    bad, ok = out["plans"]
    assert bad["status"] == "failed" and "CUDA graph capture failed" in bad["reason"]
    assert "--mode eager" in bad["reason"]
    assert ok["status"] == "ok" and r.returncode == 1


def test_clock_eager_with_transfers_on_doubles(plans, tmp_path):
    r, out, counts = _run_fake("bare_trt_clock", [
        "--plan", str(plans["static"]), "--plan", str(plans["dynamic"]), "--mode", "eager", "--transfers",
        "--duration", "0.01", "--warmup-ms", "0", "--min-iterations", "20"], tmp_path)
    assert r.returncode == 0, r.stdout
    static, dyn = out["plans"]
    assert static["shapes"] == {"x": [2, 8, 4, 4]} and dyn["shapes"] == {"x": [4, 3], "mask": [4, 3]}  # profile opt
    assert static["repeats"][0]["median_ms"] == pytest.approx(0.25)
    queries = sum(p["repeats"][0]["n"] for p in out["plans"])
    assert counts["graph_launches"] == 0 and counts["executes"] == queries
    assert counts["d2h"] == queries  # one output each
    assert counts["h2d"] == 3 + static["repeats"][0]["n"] + 2 * dyn["repeats"][0]["n"]  # once, then per query


def test_multistream_on_doubles(plans, tmp_path):
    r, out, _ = _run_fake("bare_trt_multistream", [
        "--plan", str(plans["shared"]), "--streams", "1,2,4", "--duration", "0.03", "--warmup-ms", "5"], tmp_path)
    assert r.returncode == 0, r.stdout
    assert out["tool"] == "bare_trt_multistream" and out["status"] == "ok" and out["shapes"]["x"] == [4, 3]
    for res, n in zip(out["results"], (1, 2, 4)):
        assert res["streams"] == n and res["status"] == "ok" and res["queries"] > 0
        assert res["latency_median_ms"] == pytest.approx(0.5) and res["latency_p99_ms"] == pytest.approx(0.5)
        # the double runs each stream's queries back to back, independently: n / 0.5 ms
        assert res["qps_gpu"] == pytest.approx(n * 2000, rel=0.05)
        assert res["gpu_span_s"] > 0 and res["qps_wall"] > 0 and res["output_shapes"] == {"y": [4, 5]}


def test_multistream_profile_sharing_and_release_on_doubles(plans, tmp_path):
    r, out, _ = _run_fake("bare_trt_multistream", [
        "--plan", str(plans["dynamic"]), "--streams", "1,2,1", "--mode", "eager", "--batch", "2",
        "--duration", "0.01", "--warmup-ms", "0"], tmp_path)
    assert r.returncode == 1
    one, two, again = out["results"]
    assert one["status"] == "ok" and again["status"] == "ok"  # N=2's contexts were released
    assert two["status"] == "failed" and "PROFILE_SHARING_0806" in two["reason"] and "context 1" in two["reason"]
    r, out, _ = _run_fake("bare_trt_multistream", [
        "--plan", str(plans["static"]), "--streams", "2", "--duration", "0.01", "--warmup-ms", "0"], tmp_path)
    assert r.returncode == 0 and out["results"][0]["status"] == "ok"  # static engines share profile 0


def test_multistream_unloadable_plan_on_doubles(plans, tmp_path):
    r, out, _ = _run_fake("bare_trt_multistream", ["--plan", str(plans["corrupt"]), "--streams", "1"], tmp_path)
    assert r.returncode == 1 and out["status"] == "failed" and "deserialize_cuda_engine" in out["reason"]


def _load_fake(relpath):
    spec = importlib.util.spec_from_file_location(f"_fake_{relpath.replace('/', '_')}", FAKES / relpath)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _load_fake_driver():
    """The driver double imports the runtime double as cuda.bindings.runtime: load it with the fakes first."""
    sys.path.insert(0, str(FAKES))
    saved = {k: sys.modules.pop(k) for k in list(sys.modules) if k == "cuda" or k.startswith("cuda.")}
    try:
        return importlib.import_module("cuda.bindings.driver")
    finally:
        sys.path.remove(str(FAKES))
        for k in [k for k in sys.modules if k == "cuda" or k.startswith("cuda.")]:
            del sys.modules[k]
        sys.modules.update(saved)


def test_cuda_double_and_scripts_match_real_cuda_python():
    try:
        from cuda.bindings import runtime as real
    except ImportError:
        real = pytest.importorskip("cuda.cudart")
    fake = _load_fake("cuda/bindings/runtime.py")
    for name in [n for n in vars(fake) if n.startswith("cuda")]:
        assert hasattr(real, name), name
        obj = getattr(fake, name)
        if inspect.isfunction(obj):
            real_params = inspect.signature(getattr(real, name)).parameters
            assert len(inspect.signature(obj).parameters) == len(real_params), name
        elif isinstance(obj, type) and hasattr(obj, "__members__"):
            assert set(obj.__members__) <= set(getattr(real, name).__members__), name
    try:
        from cuda.bindings import driver as real_driver
    except ImportError:
        real_driver = pytest.importorskip("cuda.cuda")
    fake_driver = _load_fake_driver()
    for name in [n for n in vars(fake_driver) if n.startswith(("cu", "CU"))]:
        assert hasattr(real_driver, name), name
        obj = getattr(fake_driver, name)
        if inspect.isfunction(obj):
            assert (len(inspect.signature(obj).parameters)
                    == len(inspect.signature(getattr(real_driver, name)).parameters)), name
        elif isinstance(obj, type) and hasattr(obj, "__members__"):
            assert set(obj.__members__) <= set(getattr(real_driver, name).__members__), name
    for script in SCRIPTS.values():  # every cudart.X and cu("X", ...) of the scripts
        tree = ast.parse(script.read_text())
        nodes = list(ast.walk(tree))
        used = {n.attr for n in nodes if isinstance(n, ast.Attribute) and getattr(n.value, "id", "") == "cudart"}
        used |= {n.args[0].value for n in nodes if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "cu"}
        assert used and not [u for u in used if not hasattr(real, u)], script.name
        assert not [u for u in used if not hasattr(fake, u)], script.name


def test_tensorrt_double_matches_real_tensorrt():
    real = None
    for module in ("tensorrt", "tensorrt_lean_bindings", "tensorrt_lean"):
        try:
            real = importlib.import_module(module)
            break
        except Exception:
            continue
    if real is None:
        pytest.skip("no TensorRT Python bindings (tensorrt or the lean runtime) installed")
    fake = _load_fake("tensorrt.py")
    for cls in ("Runtime", "ICudaEngine", "IExecutionContext", "Logger"):
        public = [m for m in vars(getattr(fake, cls)) if not m.startswith("_")]
        assert not [m for m in public if not hasattr(getattr(real, cls), m)], cls
    for enum_name in ("DataType", "TensorIOMode"):
        assert set(getattr(fake, enum_name).__members__) <= set(getattr(real, enum_name).__members__)
    assert callable(real.nptype)


def _clock_method(plans, tmp_path, method, host_ms, *extra):
    report = tmp_path / "cuda-report.json"
    r = _run(SCRIPTS["bare_trt_clock"], ["--plan", str(plans["dynamic"]), "--method", method, "--duration", "0",
                                         "--warmup-ms", "0", "--min-iterations", "15", *extra,
                                         "--json", str(tmp_path / "out.json")], pythonpath=[FAKES],
             env={"FAKE_CUDA_REPORT": str(report), "FAKE_CUDA_LAUNCH_HOST_MS": str(host_ms), "FAKE_CUDA_HOST_WAITS": "1"})
    assert r.returncode == 0, r.stderr
    assert json.loads(report.read_text())["live"] == dict.fromkeys(json.loads(report.read_text())["live"], 0)
    out = json.loads((tmp_path / "out.json").read_text())
    assert out["method"] == method
    return out["plans"][0]["repeats"][0]


def test_clock_methods_and_the_hosts_launch_gap_on_doubles(plans, tmp_path):
    """The doubles model a graph launch that costs the host 1 ms before its 0.5 ms of GPU work reaches the
    stream: an event pair around each launch (query) times the host's gap too; holding the stream until the
    end event is enqueued (gated) times the GPU work alone; back-to-back launches (stream) say they were
    host-bound when the host cannot keep the GPU fed, and time the GPU work when it can."""
    query = _clock_method(plans, tmp_path, "query", 1.0)
    assert 1.4 < query["median_ms"] < 1.6  # the gap and the work, and no more host work inside the window
    gated = _clock_method(plans, tmp_path, "gated", 1.0)
    assert gated["median_ms"] == pytest.approx(0.5, abs=1e-9) and gated["max_ms"] == pytest.approx(0.5, abs=1e-9)
    assert gated["host_launch_median_ms"] >= 1.0  # the host did pay for the launch, outside the window
    starved = _clock_method(plans, tmp_path, "stream", 1.0, "--per-sample", "5")
    assert starved["host_bound"] is True and starved["median_ms"] > 0.9
    fed = _clock_method(plans, tmp_path, "stream", 0.0, "--per-sample", "50")
    assert fed["host_bound"] is False and fed["median_ms"] == pytest.approx(0.5, rel=0.02)


def test_clock_stream_method_takes_no_transfers(plans, tmp_path):
    r = _run(SCRIPTS["bare_trt_clock"], ["--plan", str(plans["dynamic"]), "--method", "stream", "--transfers",
                                         "--json", str(tmp_path / "o.json")], pythonpath=[FAKES])
    assert r.returncode == 2 and "takes no --transfers" in r.stderr and not (tmp_path / "o.json").exists()
