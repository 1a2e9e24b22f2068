"""The comparison engine behind ``trtbench gate``/``ab``/``report``: per-trial values, on runs whose samples
come from a real measured run (redrawn per trial, with a known between-trial spread)."""

import json
import math
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from tests.helpers import run_matrix, variant_of, write_run
from trtbench.compare.engine import InvalidData, compare_runs
from trtbench.compare.rules import AB_DEFAULT_SPECS, DEFAULT_SPECS, parse_spec, parse_specs
from trtbench.errors import UserError
from trtbench.gate.outputs import as_json, junit, markdown
from trtbench.results.record import Telemetry, Trial, VariantRecord
from trtbench.results.store import read_results
from trtbench.timing.samples import SERIES, RawSamples

SPECS = parse_specs(["compute.p50:5%"])
V1 = "mlp-onnxruntime-fp32-implicit-b1"


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    from trtbench.config.settings import RunSettings
    from trtbench.matrix.spec import Matrix
    from trtbench.models.loading import ModelSource

    d = tmp_path_factory.mktemp("gate")
    return run_matrix(Matrix((ModelSource("mlp"),), ("onnxruntime",), (1, 2), ("fp32",), ("implicit",)),
                      RunSettings(warmup_ms=5, duration_s=0.1, iterations=200, trials=2, isolation="inline",
                                  order_seed=1), d)


def synthetic(doc, out_dir, seed, *, scale=None, drop=None, gpu=None, throttled=None, failed=None, trials=5,
              cv=0.02, accuracy=None):
    """A run of the measured variants: each trial redraws (iid) the measured per-query samples, times a
    between-trial factor (lognormal, ``cv``); ``scale`` = (variant id, factor) slows that variant's compute
    (and so latency and e2e)."""
    rng = np.random.default_rng(seed)
    runs, records = {}, []
    for rec in doc.records:
        if rec.id == drop:
            continue
        if rec.id == failed:
            records.append(VariantRecord(rec.variant, rec.id, "failed", "CUDA error 700: illegal address"))
            continue
        pooled = {s: np.asarray(rec.pooled(s)) for s in SERIES}
        n = pooled["compute"].size
        ts = []
        for k in range(trials):
            pick, f = rng.integers(0, n, n), float(np.exp(rng.normal(0.0, cv)))
            series = {s: pooled[s][pick] * f for s in SERIES}
            if scale and rec.id == scale[0]:
                extra = series["compute"] * (scale[1] - 1.0)
                for s in ("compute", "latency", "e2e"):
                    series[s] = series[s] + extra
            raw = RawSamples(**{s: v.tolist() for s, v in series.items()}, walltime_s=float(series["e2e"].sum()) / 1e3,
                             warmup_queries=1, timer="host:perf_counter_ns")
            tel = Telemetry(samples=5, throttled=True, throttle_reasons=("sw_thermal",)) if rec.id == throttled else None
            ts.append(Trial.measured(raw, index=k, round=k, position=0, process="inline", reloaded=k == 0,
                                     started=float(k), ended=k + 0.5, compute_timing="host", telemetry=tel))
        runs[rec.variant] = ts
    machine = dict(doc.machine, gpu={"name": gpu, "driver": "1", "cuda_runtime": "13.0"} if gpu else None)
    acc = {r.id: dict(r.accuracy) for r in doc.records}
    acc.update(accuracy or {})
    return write_run(out_dir, runs, machine=machine, settings=doc.settings, accuracy=acc, records=records)


def _doc(path):
    return [read_results(path)]


def test_spec_parsing():
    s = parse_spec("latency.p99:10%")
    assert (s.metric, s.stat, s.threshold, s.absolute) == ("latency", "p99", 0.10, False)
    assert parse_spec("h2d.median:5%").quantile == 50.0 and parse_spec("h2d.median:5%").stat == "p50"
    assert parse_spec("accuracy.rel_l2:abs:1e-3").absolute and parse_spec("memory.peak:10%").metric == "memory.peak"
    assert not parse_spec("throughput:5%").higher_is_worse and parse_spec("throughput:5%").on_trials
    assert not parse_spec("energy:10%").on_trials and parse_spec("compute.p99:5%").on_samples
    for bad in ("compute", "compute.p50:5", "compute.p42:5%", "gpu.p50:5%", "accuracy.rel_l2:5%", "energy:abs:1",
                "compute.p50:-5%", "compute.p50:x%", "compute.p50:abs:1", "compute.p50:inf%"):
        with pytest.raises(UserError, match="accepted forms"):
            parse_spec(bad)
    with pytest.raises(UserError, match="twice"):
        parse_specs(["compute.p50:5%", "compute.median:3%"])
    defaults = parse_specs(None)
    assert [d.text for d in defaults] == list(DEFAULT_SPECS) and all(d.default for d in defaults)
    assert not any(d.default for d in parse_specs(["compute.p50:5%"]))
    ab = parse_specs(None, AB_DEFAULT_SPECS)
    assert (ab[0].metric, ab[0].threshold) == ("compute", 0.01)


def test_pass_regression_improvement_missing(measured, tmp_path):
    base = _doc(synthetic(measured, tmp_path / "b", 1))
    v = compare_runs(base, _doc(synthetic(measured, tmp_path / "aa", 2)), SPECS)  # A/A
    assert v.passed() and not v.regressions and not v.paired
    assert {f.verdict for f in v.findings} <= {"pass", "inconclusive"} and len(v.findings) == 2
    assert all(f.trials == (5, 5) and "Welch" in f.method for f in v.findings)
    v = compare_runs(base, _doc(synthetic(measured, tmp_path / "slow", 3, scale=(V1, 1.25))), SPECS)
    assert not v.passed() and [(f.variant, f.verdict) for f in v.regressions] == [(V1, "regression")]
    f = v.regressions[0]
    assert f.ci[0] > 1.0 and f.ratio == pytest.approx(1.25, rel=0.05) and f.p_value < 0.01
    v = compare_runs(base, _doc(synthetic(measured, tmp_path / "fast", 4, scale=(V1, 0.75))), SPECS)
    assert v.passed() and [f.verdict for f in v.findings if f.variant == V1] == ["improvement"]
    v = compare_runs(base, _doc(synthetic(measured, tmp_path / "drop", 5, drop=V1)), SPECS)
    assert not v.passed() and [(f.variant, f.verdict) for f in v.regressions] == [(V1, "missing")]


def test_failed_candidate_variant_is_a_failure(measured, tmp_path):
    v = compare_runs(_doc(synthetic(measured, tmp_path / "b", 1)),
                     _doc(synthetic(measured, tmp_path / "c", 6, failed=V1)), SPECS)
    assert not v.passed() and v.regressions[0].verdict == "failed" and "CUDA error" in v.regressions[0].note


def test_throttled_variants_are_flagged(measured, tmp_path):
    cand = _doc(synthetic(measured, tmp_path / "c", 2, throttled=V1))
    assert "throttled" in cand[0].by_id()[V1].quality
    v = compare_runs(_doc(synthetic(measured, tmp_path / "b", 1)), cand, SPECS)
    assert any("throttling" in w for w in v.warnings)
    assert [f.variant for f in v.findings if f.throttled] == [V1]


def test_absolute_rules_and_rules_without_data(measured, tmp_path):
    b = _doc(synthetic(measured, tmp_path / "b", 1))
    worse = dict(measured.by_id()[V1].accuracy, rel_l2=0.01)
    c = _doc(synthetic(measured, tmp_path / "c", 2, accuracy={V1: worse}))
    v = compare_runs(b, c, parse_specs(["accuracy.rel_l2:abs:1e-3"]))
    assert [f.variant for f in v.regressions] == [V1] and "threshold only" in v.regressions[0].note
    nan = {"rel_l2": None, "nonfinite": 12, "inaccurate": True}  # inf is written as null; the count says why
    v = compare_runs(b, _doc(synthetic(measured, tmp_path / "nan", 3, accuracy={V1: nan})),
                     parse_specs(["accuracy.rel_l2:abs:1e-3"]))
    assert [(f.variant, f.verdict) for f in v.regressions] == [(V1, "regression")]
    assert "not finite" in v.regressions[0].note
    v = compare_runs(b, c, parse_specs(["memory.peak:10%"]))  # asked for, never measured on a CPU: cannot judge
    assert v.unjudged and not v.passed() and "NVML" in v.unjudged[0].note
    v = compare_runs(b, c, parse_specs(None))  # the default rules: h2d/d2h/latency apply, nothing unjudged
    assert not v.unjudged and {f.metric for f in v.findings} == {"compute.p50", "h2d.p50", "d2h.p50", "latency.p99"}


def test_history_widens_the_interval_where_runs_wander():
    """What replaced the serial-correlation VIF: runs drift by more than their trials spread, and earlier
    baseline runs (``history``) measure that between-run variance. Trials agree within 0.5%; runs wander
    by ~5%: a 4% shift is a regression of a 3% rule without history, and not with it."""
    import tempfile

    d = tempfile.mkdtemp()

    def run(level, seed):  # runs are ordered by their creation time: written in the order of their seeds
        rng = np.random.default_rng(seed)
        trials = [[level * float(np.exp(rng.normal(0, 0.005)))] * 40 for _ in range(5)]
        return read_results(write_run(d, {"mlp": trials}, run_id=f"20260101-0000{seed:02d}-test"))

    spec = parse_specs(["compute.p50:3%"])
    history = [run(level, 10 + i) for i, level in enumerate((0.95, 1.05, 0.99, 1.03))]
    base, cand = run(1.0, 50), run(1.04, 51)
    alone = compare_runs([base], [cand], spec).findings[0]
    assert alone.verdict == "regression" and "Welch" in alone.method
    f = compare_runs([base], [cand], spec, history=history).findings[0]
    assert f.verdict != "regression" and "between-run variance of 4 history runs" in f.method
    assert f.ci[1] - f.ci[0] > 3 * (alone.ci[1] - alone.ci[0])
    older = compare_runs(history[:2] + [base], [cand], spec).findings[0]  # older baseline runs are history too
    assert "between-run variance" in older.method and older.baseline == alone.baseline


def test_one_trial_per_side_is_inconclusive_never_a_pass(tmp_path):
    b = [read_results(write_run(tmp_path, {"mlp": [[1.0] * 20]}))]
    c = [read_results(write_run(tmp_path, {"mlp": [[1.5] * 20]}))]
    v = compare_runs(b, c, SPECS)
    (f,) = v.findings
    assert f.verdict == "inconclusive" and "no variance" in f.note and f.ci == (0.0, math.inf)
    assert v.passed() and not v.passed(strict=True)
    d = json.loads(as_json(v, ["compute.p50:5%"], strict=True))  # strict JSON: the unbounded interval is null
    assert d["passed"] is False and d["findings"][0]["ci"] == [0.0, None] and d["inconclusive"] == 1


def test_inputs_that_cannot_be_judged_stop_the_gate(tmp_path):
    ok = [read_results(write_run(tmp_path, {"mlp": [[1.0] * 20, [1.1] * 20]}))]
    dead = VariantRecord(variant_of("mlp"), variant_of("mlp").id, "failed", "engine build failed")
    nothing = [read_results(write_run(tmp_path, {}, records=[dead]))]
    with pytest.raises(InvalidData, match="has no measured variant"):
        compare_runs(nothing, ok, SPECS)
    other = [read_results(write_run(tmp_path, {"resnet": [[1.0] * 20, [1.1] * 20]}))]
    with pytest.raises(InvalidData, match="share no variant id"):
        compare_runs(ok, other, SPECS)
    e2e_only = [Trial.measured(RawSamples(e2e=[1.0 + k] * 20, walltime_s=0.1), index=k, round=k, position=0,
                               process="inline", reloaded=True, started=0.0, ended=0.0, compute_timing="host")
                for k in range(2)]
    odd = [read_results(write_run(tmp_path, {"mlp": e2e_only}))]  # no rule of the defaults has data
    with pytest.raises(InvalidData, match="no rule applies"):
        compare_runs(odd, odd, parse_specs(None))
    assert compare_runs(odd, odd, parse_specs(["e2e.p50:5%"])).findings[0].verdict in ("pass", "inconclusive")
    assert issubclass(InvalidData, UserError)  # exit 2 with one line, never a pass


def test_plain_pytest_benchmark_json_cannot_be_judged_trial_by_trial(tmp_path):
    from trtbench.compare.load import load_runs

    pb = tmp_path / "pb.json"
    pb.write_text(json.dumps({"machine_info": {"node": "h"}, "commit_info": {}, "benchmarks": [
        {"name": "test_x", "param": "x", "extra_info": {}, "stats": {"min": 0.001, "max": 0.003, "mean": 0.002,
                                                                     "stddev": 0.0001, "median": 0.002, "iqr": 0.0001,
                                                                     "rounds": 50}}]}))
    (run,) = load_runs([str(pb)])
    (rec,) = run.records
    assert run.kind == "pytest-benchmark" and rec.headline("e2e").value == pytest.approx(2.0)  # ms, for reports
    v = compare_runs([run], load_runs([str(pb)]), parse_specs(None))
    assert not v.passed() and v.unjudged and all(f.verdict == "no-data" for f in v.findings)
    assert "plain pytest-benchmark data has no trials" in v.unjudged[0].note


def test_markdown_junit_and_json(measured, tmp_path):
    v = compare_runs(_doc(synthetic(measured, tmp_path / "b", 1)),
                     _doc(synthetic(measured, tmp_path / "c", 3, scale=(V1, 1.25))), SPECS)
    md = markdown(v, ["compute.p50:5%"])
    assert md.startswith("### trtbench gate: FAIL (1 regression(s))") and "❌ regression" in md
    assert md.index(V1) < md.index("mlp-onnxruntime-fp32-implicit-b2")  # regressions first
    root = ET.fromstring(junit(v))
    assert root.get("failures") == "1" and len(root.findall("testcase")) == 2
    failing = [tc for tc in root.findall("testcase") if tc.find("failure") is not None]
    assert failing[0].get("name") == f"{V1} compute.p50"
    d = json.loads(as_json(v, ["compute.p50:5%"]))
    assert d["passed"] is False and d["regressions"] == 1 and d["rules"] == ["compute.p50:5%"]
