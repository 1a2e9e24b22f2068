"""A matrix through the run session (inline) into a JSON Lines results file, read back by the reader."""

import gzip
import json
import os
import shutil
import statistics
from dataclasses import replace
from pathlib import Path

import pytest

from tests.helpers import measure_variant, run_matrix, run_variants
from trtbench.errors import UserError
from trtbench.matrix.spec import Matrix, ShapeProfile, Variant
from trtbench.models.loading import ModelSource
from trtbench.results.store import read_results


def _matrix(**kw):
    base = dict(models=(ModelSource("mlp"),), backends=("onnxruntime",), batches=(1, 4), precisions=("fp32",),
                build_modes=("implicit", "explicit"), profiles=(ShapeProfile("dyn", batch=(1, 2, 4)),))
    base.update(kw)
    return Matrix(**base)


def _events(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


def test_a_matrix_writes_every_record_and_trial_as_a_line(tmp_path, fast_settings):
    doc = run_matrix(_matrix(), fast_settings, tmp_path)
    assert doc.status == "complete" and doc.schema_version == 2 and doc.warnings == []
    assert doc.machine["python"] and doc.machine["packages"]["onnx"]
    assert doc.protocol["trials"] == 2 and doc.protocol["isolation"] == "inline" and doc.protocol["order_seed"] == 1
    assert len(doc.records) == 4 and {r.status for r in doc.records} == {"ok"}
    assert any("does not apply to an implicit" in e["reason"] for e in doc.excluded)
    for r in doc.records:
        assert len(r.trials) == r.planned_trials == 2 and r.ok and r.complete
        for t in r.trials:
            n = t.samples.queries
            assert n >= 5 and len(t.samples.compute) == n == t.stats["compute"].n
            assert t.stats["compute"].median == pytest.approx(statistics.median(t.samples.compute), abs=1e-5)
            assert t.process == "inline" and t.compute_timing == "host"
        assert r.headline("latency").value > 0 and r.headline("compute").trials == 2
        assert r.accuracy["rel_l2"] < 1e-5 and r.timing["timer"].startswith("host") and r.backend["runtime_version"]
    events = [e["event"] for e in _events(doc.source)]
    assert events[0] == "header" and events[-1] == "end" and events.count("variant") == 4
    assert events.count("trial") == 8 and events.index("trial") > max(i for i, e in enumerate(events) if e == "variant")


def test_failed_and_skipped_variants_are_recorded_and_the_matrix_goes_on(tmp_path, fast_settings):
    from tests.helpers import pinned_model
    import onnx

    p = tmp_path / "pinned.onnx"
    onnx.save(pinned_model(4), p)
    m = _matrix(models=(ModelSource("pinned", str(p)), ModelSource("mlp")), build_modes=("explicit",),
                batches=(2,), backends=("onnxruntime", "tensorrt"))
    doc = run_matrix(m, fast_settings, tmp_path / "res")
    by = doc.by_id()
    assert by["pinned-onnxruntime-fp32-explicit-dyn-b2"].status == "skipped"
    assert "pinned at 4" in by["pinned-onnxruntime-fp32-explicit-dyn-b2"].reason
    assert by["mlp-tensorrt-fp32-explicit-dyn-b2"].status == "skipped"
    assert "unavailable" in by["mlp-tensorrt-fp32-explicit-dyn-b2"].reason
    ok = by["mlp-onnxruntime-fp32-explicit-dyn-b2"]
    assert ok.status == "ok" and len(ok.trials) == 2
    assert all(not r.trials for r in doc.records if r.status != "ok")  # skipped in the build pass: no trials


def test_ctrl_c_during_a_trial_keeps_what_was_written(tmp_path, fast_settings, monkeypatch):
    import trtbench.run.executor as executor

    calls = {"n": 0}
    real = executor.measure

    def flaky(*a, **k):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt  # Ctrl-C during the second trial
        return real(*a, **k)

    monkeypatch.setattr(executor, "measure", flaky)
    outcome, doc = run_variants(run_matrix_variants(), fast_settings, tmp_path)
    assert outcome.status == "interrupted" and doc.status == "interrupted"
    assert any("interrupted" in w for w in doc.warnings)
    assert len(doc.records) == 4 and {r.status for r in doc.records} == {"ok"}  # the build pass was done
    assert sum(len(r.trials) for r in doc.records) == 1  # the first trial, written before the interrupt
    assert all("incomplete" in r.quality for r in doc.records)
    assert _events(doc.source)[-1]["status"] == "interrupted"
    assert not list(tmp_path.rglob("*.tmp"))


def run_matrix_variants():
    from trtbench.run.plan import plan_matrix

    return plan_matrix(_matrix())[0]


def test_an_exception_inside_a_backend_is_a_failed_variant(tmp_path, fast_settings, monkeypatch):
    from trtbench.backends.onnxruntime_backend import OnnxRuntimeBackend

    real = OnnxRuntimeBackend._compute

    def boom(self, stream):
        if self.variant.batch == 1:
            raise RuntimeError("kernel exploded")
        return real(self, stream)

    monkeypatch.setattr(OnnxRuntimeBackend, "_compute", boom)
    v1 = Variant(ModelSource("mlp"), "onnxruntime", 1, "fp32", "implicit")
    v2 = Variant(ModelSource("mlp"), "onnxruntime", 2, "fp32", "implicit")
    outcome, doc = run_variants([v1, v2], fast_settings, tmp_path)
    rec = doc.by_id()[v1.id]
    assert rec.status == "failed" and "kernel exploded" in rec.reason and not rec.ok
    assert "Traceback" in rec.error["traceback"]
    assert [f["round"] for f in rec.extra["failed_trials"]] == [0, 1]
    assert {r.id: r.status for r in outcome.records} == {v1.id: "failed", v2.id: "ok"}  # the session agrees
    assert doc.by_id()[v2.id].ok and len(doc.by_id()[v2.id].trials) == 2  # the matrix went on


def test_one_failed_trial_leaves_the_variant_ok_and_incomplete(tmp_path, fast_settings, monkeypatch):
    import trtbench.run.executor as executor

    real = executor.measure

    def second_round_fails(backend, settings, **kw):
        if kw["round"] == 1:
            raise RuntimeError("the GPU fell off the bus")
        return real(backend, settings, **kw)

    monkeypatch.setattr(executor, "measure", second_round_fails)
    rec = measure_variant(Variant(ModelSource("mlp"), "onnxruntime", 1, "fp32", "implicit"), fast_settings, tmp_path)
    assert rec.status == "ok" and rec.ok and len(rec.trials) == 1 and not rec.complete
    assert "incomplete" in rec.quality
    assert rec.extra["failed_trials"][0]["round"] == 1 and "fell off" in rec.extra["failed_trials"][0]["reason"]


def test_reader_errors(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema": "trtbench.results", "schema_version": 1, "run_')
    with pytest.raises(UserError, match="not valid JSON"):
        read_results(str(bad))
    bad.write_text(json.dumps({"schema": "trtbench.results", "schema_version": 99}))
    with pytest.raises(UserError, match="schema version 99"):
        read_results(str(bad))
    bad.write_text(json.dumps({"event": "header", "schema": "trtbench.results", "schema_version": 3}) + "\n")
    with pytest.raises(UserError, match="schema version 3"):
        read_results(str(bad))
    bad.write_text(json.dumps({"hello": 1}))
    with pytest.raises(UserError, match="not a trtbench results file"):
        read_results(str(bad))
    bad.write_text("hello\n")
    with pytest.raises(UserError, match="not a trtbench results file"):
        read_results(str(bad))
    bad.write_text(json.dumps({"schema": "trtbench.results", "schema_version": 1, "run_id": "x"}))
    with pytest.raises(UserError, match="does not match the results schema"):
        read_results(str(bad))
    with pytest.raises(UserError, match="does not exist"):
        read_results(str(tmp_path / "nope.json"))
    with pytest.raises(UserError, match="holds no results.jsonl"):
        read_results(str(tmp_path))


def test_per_input_profile_and_its_exclusions(tmp_path, fast_settings):
    import onnx

    from tests.helpers import two_input_model
    from trtbench.config.parse import shapes_profile

    p = tmp_path / "two.onnx"
    onnx.save(two_input_model(), p)
    prof = shapes_profile("seq", {"a": (1, 4, 8), "b": (1, 4, 8)}, {"a": (2, 16, 8), "b": (2, 16, 8)},
                          {"a": (4, 32, 8), "b": (4, 32, 8)})
    m = Matrix((ModelSource("two", str(p)),), ("onnxruntime",), (3,), ("fp32",), ("explicit", "implicit"), (prof,))
    doc = run_matrix(m, replace(fast_settings, trials=1), tmp_path / "r")
    by = {r.variant.build_mode: r for r in doc.records}
    assert by["explicit"].status == "ok" and by["explicit"].shapes["run"]["a"] == [3, 16, 8]
    assert by["implicit"].status == "skipped" and "axis 1 is the dynamic dim 'seq'" in by["implicit"].reason


def test_gzipped_results_read_like_plain_ones(tmp_path, fast_settings):
    from trtbench.compare.load import load_runs

    doc = run_matrix(_matrix(batches=(1,), build_modes=("implicit",)), replace(fast_settings, trials=1), tmp_path)
    with open(doc.source, "rb") as src, gzip.open(doc.source + ".gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    os.unlink(doc.source)
    run_dir = str(Path(doc.source).parent)
    again = read_results(run_dir)
    assert again.run_id == doc.run_id and again.source.endswith(".jsonl.gz")
    assert [t.samples.compute for t in again.records[0].trials] == [t.samples.compute for t in doc.records[0].trials]
    assert load_runs([str(tmp_path)])[0].run_id == doc.run_id
    bad = tmp_path / "broken" / "results.jsonl.gz"
    bad.parent.mkdir()
    bad.write_bytes(b"\x1f\x8b not really gzip")
    with pytest.raises(UserError, match="cannot be read"):
        read_results(str(bad))
