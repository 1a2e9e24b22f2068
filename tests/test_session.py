import json
import pytest

from trtbench.errors import UserError
from trtbench.matrix.spec import Matrix, ShapeProfile, Variant
from trtbench.models.loading import ModelSource
from trtbench.results.store import read_results, validate
from trtbench.runner import run_matrix, run_variant


def _matrix(**kw):
    base = dict(models=(ModelSource("mlp"),), backends=("onnxruntime",), batches=(1, 4), precisions=("fp32",),
                build_modes=("implicit", "explicit"), profiles=(ShapeProfile("dyn", batch=(1, 2, 4)),))
    base.update(kw)
    return Matrix(**base)


def test_run_matrix_writes_a_valid_envelope_with_every_sample(tmp_path, fast_settings):
    out = run_matrix(_matrix(), fast_settings, str(tmp_path))
    doc = read_results(out.path)
    assert doc["status"] == "complete" and doc["schema_version"] == 1
    assert doc["machine"]["python"] and doc["machine"]["packages"]["onnx"]
    assert len(doc["variants"]) == 4 and {r["status"] for r in doc["variants"]} == {"ok"}
    assert any("does not apply to an implicit" in e["reason"] for e in doc["excluded"])
    r = doc["variants"][0]
    n = r["samples"]["queries"]
    assert n >= 5 and len(r["samples"]["compute"]) == n == r["stats"]["stages"]["compute"]["n"]
    assert r["stats"]["stages"]["latency"]["median"] > 0 and r["accuracy"]["rel_l2"] < 1e-5
    assert r["timing"]["timer"].startswith("host") and r["backend"]["runtime_version"]


def test_failed_and_skipped_variants_are_recorded_and_the_matrix_goes_on(tmp_path, fast_settings):
    from tests.helpers import pinned_model
    import onnx

    p = tmp_path / "pinned.onnx"
    onnx.save(pinned_model(4), p)
    m = _matrix(models=(ModelSource("pinned", str(p)), ModelSource("mlp")), build_modes=("explicit",),
                batches=(2,), backends=("onnxruntime", "tensorrt"))
    out = run_matrix(m, fast_settings, str(tmp_path / "res"))
    by = {r["variant"]["id"]: r for r in out.records}
    assert by["pinned-onnxruntime-fp32-explicit-dyn-b2"]["status"] == "skipped"
    assert "pinned at 4" in by["pinned-onnxruntime-fp32-explicit-dyn-b2"]["reason"]
    assert by["mlp-tensorrt-fp32-explicit-dyn-b2"]["status"] == "skipped"
    assert "unavailable" in by["mlp-tensorrt-fp32-explicit-dyn-b2"]["reason"]
    assert by["mlp-onnxruntime-fp32-explicit-dyn-b2"]["status"] == "ok"
    validate(json.loads(open(out.path).read()))


def test_a_crash_in_a_later_variant_loses_nothing(tmp_path, fast_settings, monkeypatch):
    import trtbench.runner as runner

    calls = {"n": 0}
    real = runner.run_variant

    def flaky(v, *a, **k):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt  # Ctrl-C during the second variant
        return real(v, *a, **k)

    monkeypatch.setattr(runner, "run_variant", flaky)
    out = runner.run_matrix(_matrix(), fast_settings, str(tmp_path))
    doc = read_results(out.path)
    assert out.interrupted and doc["status"] == "interrupted" and len(doc["variants"]) == 1
    assert doc["variants"][0]["status"] == "ok"
    assert not list(tmp_path.rglob("*.tmp"))  # no partial file left behind


def test_an_exception_inside_a_backend_is_a_failed_variant(tmp_path, fast_settings, monkeypatch):
    from trtbench.backends.onnxruntime_backend import OnnxRuntimeBackend

    def boom(self, stream):
        raise RuntimeError("kernel exploded")

    monkeypatch.setattr(OnnxRuntimeBackend, "_compute", boom)
    rec = run_variant(Variant(ModelSource("mlp"), "onnxruntime", 1, "fp32", "implicit"), fast_settings)
    assert rec["status"] == "failed" and "kernel exploded" in rec["reason"] and "Traceback" in rec["error"]["traceback"]
    validate({"schema": "trtbench.results", "schema_version": 1, "run_id": "x", "created": "now",
              "status": "complete", "machine": {"host": "h", "os": "o", "cpu": "c", "python": "3", "packages": {}},
              "settings": {}, "matrix": {}, "excluded": [], "variants": [rec]})


def test_reader_errors(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema": "trtbench.results", "schema_version": 1, "run_')
    with pytest.raises(UserError, match="not valid JSON"):
        read_results(str(bad))
    bad.write_text(json.dumps({"schema": "trtbench.results", "schema_version": 99}))
    with pytest.raises(UserError, match="schema version 99"):
        read_results(str(bad))
    bad.write_text(json.dumps({"hello": 1}))
    with pytest.raises(UserError, match="not a trtbench results file"):
        read_results(str(bad))
    bad.write_text(json.dumps({"schema": "trtbench.results", "schema_version": 1, "run_id": "x"}))
    with pytest.raises(UserError, match="does not match the results schema"):
        read_results(str(bad))
    with pytest.raises(UserError, match="does not exist"):
        read_results(str(tmp_path / "nope.json"))


def test_per_input_profile_and_throughput_rules(tmp_path, fast_settings):
    import onnx

    from tests.helpers import two_input_model
    from trtbench.config.parse import shapes_profile

    p = tmp_path / "two.onnx"
    onnx.save(two_input_model(), p)
    prof = shapes_profile("seq", {"a": (1, 4, 8), "b": (1, 4, 8)}, {"a": (2, 16, 8), "b": (2, 16, 8)},
                          {"a": (4, 32, 8), "b": (4, 32, 8)})
    m = Matrix((ModelSource("two", str(p)),), ("onnxruntime",), (3,), ("fp32",), ("explicit", "implicit"), (prof,))
    out = run_matrix(m, fast_settings, str(tmp_path / "r"))
    by = {r["variant"]["build_mode"]: r for r in out.records}
    assert by["explicit"]["status"] == "ok" and by["explicit"]["shapes"]["run"]["a"] == [3, 16, 8]
    assert by["implicit"]["status"] == "skipped" and "dynamic axes [1]" in by["implicit"]["reason"]


def test_gzipped_results_read_like_plain_ones(tmp_path, fast_settings):
    import gzip
    import shutil

    from trtbench.analysis.load import load_runs

    out = run_matrix(_matrix(batches=(1,), build_modes=("implicit",)), fast_settings, str(tmp_path))
    with open(out.path, "rb") as src, gzip.open(out.path + ".gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    import os

    os.unlink(out.path)
    run_dir = str(tmp_path / out.run_id)
    assert read_results(run_dir)["run_id"] == out.run_id
    assert load_runs([str(tmp_path)])[0].run_id == out.run_id
    bad = tmp_path / "broken" / "results.json.gz"
    bad.parent.mkdir()
    bad.write_bytes(b"\x1f\x8b not really gzip")
    with pytest.raises(UserError, match="cannot be read"):
        read_results(str(bad))
