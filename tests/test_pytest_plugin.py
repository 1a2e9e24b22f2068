"""The pytest plugin, black-box through pytester, on CPU with the onnxruntime backend."""

import json

import pytest

pytest_plugins = ["pytester"]

MATRIX = """
[matrix]
models = ["mlp"]
backends = ["onnxruntime", "tensorrt"]
batches = [1, 4, 64]
precisions = ["fp32"]
build_modes = ["implicit", "explicit"]
[profiles.dyn]
batch = [1, 4, 8]
[run]
duration_s = 0.05
warmup_ms = 5
iterations = 5
"""

TEST = """
def test_variant(trtbench_variant, benchmark, trtbench_session):
    trtbench_session.measure(trtbench_variant, benchmark)
"""


@pytest.fixture
def suite(pytester):
    pytester.makefile(".toml", matrix=MATRIX)
    pytester.makepyfile(test_bench=TEST)
    return pytester


def _json(pytester, *args):
    out = pytester.path / "out.json"
    res = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--benchmark-json", str(out),
                                       "--trtbench-results", str(pytester.path / "res"), *args)
    return res, (json.loads(out.read_text()) if out.exists() else None)


def test_every_variant_in_the_json_with_stage_stats_and_reasons(suite, monkeypatch):
    from trtbench.backends.onnxruntime_backend import OnnxRuntimeBackend

    real = OnnxRuntimeBackend._compute

    def flaky(self, stream):  # batch 4 implicit crashes: a failed variant with its reason
        if self.variant.batch == 4 and self.variant.build_mode == "implicit":
            raise RuntimeError("simulated kernel failure")
        return real(self, stream)

    monkeypatch.setattr(OnnxRuntimeBackend, "_compute", flaky)
    res, doc = _json(suite)
    res.assert_outcomes(passed=4, failed=1, skipped=5)  # tensorrt: unavailable here (skipped)
    ids = {b["param"] for b in doc["benchmarks"]}
    assert ids == {"mlp-onnxruntime-fp32-implicit-b1", "mlp-onnxruntime-fp32-implicit-b64",
                   "mlp-onnxruntime-fp32-explicit-dyn-b1", "mlp-onnxruntime-fp32-explicit-dyn-b4"}
    b = next(b for b in doc["benchmarks"] if b["param"] == "mlp-onnxruntime-fp32-explicit-dyn-b4")
    info = b["extra_info"]
    assert set(info["stages"]) >= {"h2d", "compute", "d2h", "latency", "e2e", "enqueue"}
    assert info["stages"]["compute"]["p99"] > 0 and info["trtbench_variant"]["batch"] == 4
    assert b["stats"]["rounds"] == info["stages"]["e2e"]["n"]  # the same measured queries
    assert b["stats"]["median"] == pytest.approx(info["stages"]["e2e"]["median"] / 1e3)
    assert "accuracy" in info and info["accuracy"]["rel_l2"] < 1e-5
    tb = doc["trtbench"]
    assert [f["id"] for f in tb["failed"]] == ["mlp-onnxruntime-fp32-implicit-b4"]
    assert "simulated kernel failure" in tb["failed"][0]["reason"]
    assert len(tb["skipped"]) == 5 and all("unavailable" in s["reason"] for s in tb["skipped"])
    assert any("batch 64 is outside profile dyn" in e["reason"] for e in tb["excluded"])
    assert "trtbench" in doc["machine_info"] and doc["machine_info"]["trtbench"]["packages"]["onnx"]
    native = json.loads((suite.path / tb["results"].split(str(suite.path) + "/")[-1]).read_text()) \
        if not tb["results"].startswith("/") else json.loads(open(tb["results"]).read())
    assert len(native["variants"]) == 10 and native["status"] == "complete"


def test_k_selects_by_variant_id(suite):
    res, doc = _json(suite, "-k", "explicit and b4 and onnxruntime")
    res.assert_outcomes(passed=1)
    assert [b["param"] for b in doc["benchmarks"]] == ["mlp-onnxruntime-fp32-explicit-dyn-b4"]


def test_shards_cover_the_matrix_exactly_once(suite):
    seen = []
    for i in (1, 2, 3):
        res = suite.runpytest_inprocess("-p", "no:cacheprovider", "--collect-only", "-q",
                                        f"--trtbench-shard={i}/3")
        seen += [ln.split("[", 1)[1].rstrip("]") for ln in res.outlines if "test_variant[" in ln]
    full = suite.runpytest_inprocess("-p", "no:cacheprovider", "--collect-only", "-q")
    everything = [ln.split("[", 1)[1].rstrip("]") for ln in full.outlines if "test_variant[" in ln]
    assert sorted(seen) == sorted(everything) and len(set(seen)) == len(seen) == 10


def test_options_are_the_clis_and_bad_input_is_a_usage_error(suite):
    res = suite.runpytest_inprocess("-p", "no:cacheprovider", "--collect-only", "-q", "--trtbench-backend",
                                    "onnxruntime", "--trtbench-batch", "1", "--trtbench-build-mode", "implicit")
    assert [ln for ln in res.outlines if "test_variant[" in ln] == ["test_bench.py::test_variant[mlp-onnxruntime-fp32-implicit-b1]"]
    bad = suite.runpytest_inprocess("-p", "no:cacheprovider", "--trtbench-precision", "fp64")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    assert any("unknown precision 'fp64'" in ln for ln in bad.errlines + bad.outlines)
    bad = suite.runpytest_inprocess("-p", "no:cacheprovider", "--trtbench-shard", "4/3")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR


def test_benchmark_compare_fail_still_works(suite):
    res, _ = _json(suite, "--trtbench-backend", "onnxruntime", "--trtbench-batch", "1", "--trtbench-build-mode",
                   "implicit", "--benchmark-save=base", "--benchmark-storage", str(suite.path / "store"))
    res.assert_outcomes(passed=1)
    again = suite.runpytest_inprocess("-p", "no:cacheprovider", "--trtbench-backend", "onnxruntime",
                                      "--trtbench-batch", "1", "--trtbench-build-mode", "implicit",
                                      "--benchmark-storage", str(suite.path / "store"), "--benchmark-compare",
                                      "--benchmark-compare-fail=min:1000000%")
    again.assert_outcomes(passed=1)
    assert again.ret == 0


def test_xdist_workers_merge_into_one_report(suite):
    pytest.importorskip("xdist")
    out = suite.path / "x.json"
    res = suite.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2", "--benchmark-json", str(out),
                                     "--trtbench-results", str(suite.path / "res"), "--trtbench-backend", "onnxruntime")
    res.assert_outcomes(passed=5)
    doc = json.loads(out.read_text())
    assert len(doc["benchmarks"]) == 5 and sorted(doc["trtbench"]["workers"]) == ["gw0", "gw1"]
    merged = list((suite.path / "res").glob("*/results.json"))
    assert len(merged) == 1 and len(json.loads(merged[0].read_text())["variants"]) == 5
    assert not list((suite.path / "res").glob("*/results-gw*.json"))
