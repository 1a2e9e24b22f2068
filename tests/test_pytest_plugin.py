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
duration_s = 0.03
warmup_ms = 2
iterations = 5
trials = 2
isolation = "inline"  # the monkeypatched backend below must be the one that runs
"""

TEST = """
def test_variant(trtbench_variant, benchmark, trtbench_suite):
    trtbench_suite.measure(trtbench_variant, benchmark)
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
    assert set(info["headlines"]) >= {"h2d", "compute", "d2h", "latency", "e2e", "enqueue"}
    assert info["headlines"]["compute"]["stats"]["p99"] > 0 and info["trtbench_variant"]["batch"] == 4
    assert info["headlines"]["compute"]["trials"] == 2 and len(info["trials"]) == 2
    assert all(t["stats"]["e2e"]["n"] > 0 and t["samples"]["e2e"] == [] for t in info["trials"])  # stats, no samples
    pooled = sum(t["stats"]["e2e"]["n"] for t in info["trials"])
    assert b["stats"]["rounds"] == pooled  # pytest-benchmark's stats are the measured queries of every trial
    assert b["stats"]["min"] * 1e3 == pytest.approx(min(t["stats"]["e2e"]["min"] for t in info["trials"]), abs=1e-6)
    assert "accuracy" in info and info["accuracy"]["rel_l2"] < 1e-5
    tb = doc["trtbench"]
    assert [f["id"] for f in tb["failed"]] == ["mlp-onnxruntime-fp32-implicit-b4"]
    assert "simulated kernel failure" in tb["failed"][0]["reason"]
    assert len(tb["skipped"]) == 5 and all("unavailable" in s["reason"] for s in tb["skipped"])
    assert any("batch 64 is outside profile dyn" in e["reason"] for e in tb["excluded"])
    assert "trtbench" in doc["machine_info"] and doc["machine_info"]["trtbench"]["packages"]["onnx"]
    from trtbench.results.store import read_results

    native = read_results(tb["results"])
    assert len(native.records) == 10 and native.status == "complete" and tb["results"].endswith("results.jsonl")
    assert native.by_id()["mlp-onnxruntime-fp32-implicit-b4"].status == "failed"


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


def test_benchmark_compare_fail_still_works(suite, monkeypatch):
    """A saved run, compared with a rerun: a threshold the rerun cannot reach passes; a rerun whose compute is
    made ~20 ms slower (a sleep in the backend's compute stage) is a regression pytest-benchmark reports."""
    import time

    from trtbench.backends.onnxruntime_backend import OnnxRuntimeBackend

    one = ("-p", "no:cacheprovider", "--trtbench-backend", "onnxruntime", "--trtbench-batch", "1",
           "--trtbench-build-mode", "implicit", "--trtbench-no-accuracy", "--benchmark-storage", str(suite.path / "store"))
    res, _ = _json(suite, *one[2:], "--benchmark-save=base")
    res.assert_outcomes(passed=1)
    again = suite.runpytest_inprocess(*one, "--benchmark-compare", "--benchmark-compare-fail=min:1000000%")
    again.assert_outcomes(passed=1)
    assert again.ret == 0 and "Performance has regressed" not in again.stdout.str() + again.stderr.str()
    real = OnnxRuntimeBackend._compute

    def slow(self, stream):
        time.sleep(0.02)
        return real(self, stream)

    monkeypatch.setattr(OnnxRuntimeBackend, "_compute", slow)
    try:
        worse = suite.runpytest_inprocess(*one, "--benchmark-compare", "--benchmark-compare-fail=min:100%")
        text = worse.stdout.str() + worse.stderr.str()
        failed = worse.ret != 0
    except Exception as exc:  # pytest-benchmark raises PerformanceRegression from its terminal summary
        text, failed = f"{type(exc).__name__}: {exc}", True
    assert failed and ("Performance has regressed" in text or "PerformanceRegression" in text), text[-3000:]


def test_xdist_workers_merge_into_one_report(suite):
    pytest.importorskip("xdist")
    out = suite.path / "x.json"
    res = suite.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2", "--benchmark-json", str(out),
                                     "--trtbench-results", str(suite.path / "res"), "--trtbench-backend", "onnxruntime")
    res.assert_outcomes(passed=5)
    doc = json.loads(out.read_text())
    assert len(doc["benchmarks"]) == 5 and doc["trtbench"]["results"].endswith("results.jsonl")
    assert all(len(b["extra_info"]["trials"]) == 2 for b in doc["benchmarks"])
    merged = list((suite.path / "res").glob("*/results.jsonl"))
    from trtbench.results.store import read_results

    assert len(merged) == 1
    run = read_results(str(merged[0]))
    assert len(run.records) == 5 and run.status == "complete" and run.protocol["parts"] == 5
    assert all(r.ok and len(r.trials) == 2 for r in run.records)
    assert not list((suite.path / "res").rglob("part-*"))  # the parts were merged and removed
    head = [json.loads(ln)["event"] for ln in merged[0].read_text().splitlines()]
    assert head.count("header") == 1 and head.count("end") == 1 and head[-1] == "end"


def test_the_gate_judges_the_plugins_json_trial_by_trial(suite, tmp_path):
    """extra_info carries every trial's statistics: the gate compares them as it compares native results."""
    from trtbench.compare.engine import compare_runs
    from trtbench.compare.load import load_runs
    from trtbench.compare.rules import parse_specs

    res, doc = _json(suite, "--trtbench-backend", "onnxruntime", "--trtbench-batch", "1,4",
                     "--trtbench-build-mode", "implicit")
    res.assert_outcomes(passed=2)
    (run,) = load_runs([str(suite.path / "out.json")])
    assert run.kind == "pytest-benchmark" and {r.id for r in run.records} == {"mlp-onnxruntime-fp32-implicit-b1",
                                                                             "mlp-onnxruntime-fp32-implicit-b4"}
    rec = run.by_id()["mlp-onnxruntime-fp32-implicit-b4"]
    assert len(rec.trials) == 2 and rec.headline("compute").trials == 2 and not rec.timing.get("pytest_benchmark_plain")
    assert rec.inferences_per_s and rec.inferences_per_s > 0  # queries per trial survive without the samples
    v = compare_runs([run], [run], parse_specs(None) + parse_specs(["throughput:5%"]))
    assert not v.unjudged and all(f.trials == (2, 2) for f in v.findings)
    assert {f.metric for f in v.findings} == {"compute.p50", "h2d.p50", "d2h.p50", "latency.p99", "throughput"}
