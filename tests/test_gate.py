"""``trtbench gate`` and ``trtbench ab`` on CPU, with samples from a real measured run."""

import copy
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from trtbench.analysis.load import Run
from trtbench.errors import UserError
from trtbench.gate.decide import gate, variance_inflation
from trtbench.gate.outputs import junit, markdown
from trtbench.gate.spec import parse_spec, parse_specs

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    from trtbench.matrix.spec import Matrix
    from trtbench.models.loading import ModelSource
    from trtbench.runner import run_matrix
    from trtbench.config.settings import RunSettings

    d = tmp_path_factory.mktemp("gate")
    out = run_matrix(Matrix((ModelSource("mlp"),), ("onnxruntime",), (1, 2), ("fp32",), ("implicit",)),
                     RunSettings(warmup_ms=5, duration_s=0.3, iterations=400), str(d))
    return json.loads(Path(out.path).read_text())


def _iid(doc, seed, scale=None, drop=None, gpu=None, throttled=None):
    """A synthetic run: every stage's samples redrawn (iid) from the measured ones; ``scale`` slows one
    variant's compute by a factor."""
    rng = np.random.default_rng(seed)
    d = copy.deepcopy(doc)
    keep = []
    for r in d["variants"]:
        vid = r["variant"]["id"]
        if vid == drop:
            continue
        for stage in ("h2d", "compute", "d2h", "latency", "e2e", "enqueue"):
            x = np.asarray(doc_rec(doc, vid)["samples"][stage])
            y = rng.choice(x, x.size)
            if scale and vid == scale[0] and stage in ("compute", "latency"):
                y = y * scale[1]
            r["samples"][stage] = y.tolist()
        if vid == throttled:
            r["quality"] = r["quality"] + ["throttled"]
        keep.append(r)
    d["variants"] = keep
    if gpu:
        d["machine"]["gpu"] = {"name": gpu, "driver": "1", "cuda_runtime": "13.0"}
    return d


def doc_rec(doc, vid):
    return next(r for r in doc["variants"] if r["variant"]["id"] == vid)


def _run(d):
    return [Run("x", "native", d["run_id"], d["machine"], d["variants"], d["excluded"])]


SPECS = parse_specs(["compute.p50:5%"])
V1 = "mlp-onnxruntime-fp32-implicit-b1"


def test_spec_parsing():
    s = parse_spec("latency.p99:10%")
    assert (s.metric, s.stat, s.threshold, s.absolute) == ("latency", "p99", 0.10, False)
    assert parse_spec("h2d.median:5%").quantile == 50.0 and parse_spec("h2d.median:5%").stat == "p50"
    assert parse_spec("accuracy.rel_l2:abs:1e-3").absolute and parse_spec("memory.peak:10%").metric == "memory.peak"
    assert not parse_spec("throughput:5%").higher_is_worse
    for bad in ("compute", "compute.p50:5", "compute.p42:5%", "gpu.p50:5%", "accuracy.rel_l2:5%", "energy:abs:1",
                "compute.p50:-5%", "compute.p50:x%"):
        with pytest.raises(UserError, match="accepted forms"):
            parse_spec(bad)
    with pytest.raises(UserError, match="twice"):
        parse_specs(["compute.p50:5%", "compute.median:3%"])


def test_pass_regression_improvement_missing(measured):
    base = _run(_iid(measured, 1))
    assert gate(base, _run(_iid(measured, 2)), SPECS).passed  # A/A
    v = gate(base, _run(_iid(measured, 3, scale=(V1, 1.25))), SPECS)
    assert not v.passed and [(f.variant, f.verdict) for f in v.regressions] == [(V1, "regression")]
    f = v.regressions[0]
    assert f.ci[0] > 1.0 and f.ratio == pytest.approx(1.25, rel=0.05) and f.p_value < 0.01
    v = gate(base, _run(_iid(measured, 4, scale=(V1, 0.75))), SPECS)
    assert v.passed and any(f.verdict == "improvement" for f in v.findings)
    v = gate(base, _run(_iid(measured, 5, drop=V1)), SPECS)
    assert not v.passed and v.regressions[0].verdict == "missing"


def test_failed_candidate_variant_is_a_failure(measured):
    cand = _iid(measured, 6)
    doc_rec(cand, V1).update(status="failed", reason="CUDA error")
    v = gate(_run(_iid(measured, 1)), _run(cand), SPECS)
    assert not v.passed and v.regressions[0].verdict == "failed" and "CUDA error" in v.regressions[0].note


def test_throttled_variants_are_flagged(measured):
    v = gate(_run(_iid(measured, 1)), _run(_iid(measured, 2, throttled=V1)), SPECS)
    assert any("throttling" in w for w in v.warnings) and any(f.throttled for f in v.findings)


def test_absolute_and_summary_rules(measured):
    b, c = _iid(measured, 1), _iid(measured, 2)
    doc_rec(c, V1)["accuracy"] = dict(doc_rec(c, V1)["accuracy"], rel_l2=0.01)
    v = gate(_run(b), _run(c), parse_specs(["accuracy.rel_l2:abs:1e-3"]))
    assert [f.variant for f in v.regressions] == [V1] and "threshold only" in v.regressions[0].note


def test_variance_inflation_sees_drift_and_not_noise():
    rng = np.random.default_rng(0)
    iid = rng.normal(1.0, 0.05, 5000)
    drift = iid + np.repeat(rng.normal(0, 0.05, 50), 100)  # slow wander
    assert variance_inflation(iid) == 1.0 and variance_inflation(drift) > 5


def test_markdown_and_junit(measured):
    v = gate(_run(_iid(measured, 1)), _run(_iid(measured, 3, scale=(V1, 1.25))), SPECS)
    md = markdown(v, ["compute.p50:5%"])
    assert md.startswith("### trtbench gate: FAIL (1 regression(s))") and "❌ regression" in md
    root = ET.fromstring(junit(v))
    assert root.get("failures") == "1" and len(root.findall("testcase")) == 2
    failing = [tc for tc in root.findall("testcase") if tc.find("failure") is not None]
    assert failing[0].get("name") == f"{V1} compute.p50"


def _cli(*args, env=None):
    import os

    e = dict(os.environ, PYTHONPATH=str(ROOT))
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "trtbench", *args], capture_output=True, text=True, env=e, timeout=300)


def test_cli_exit_codes_and_outputs(measured, tmp_path):
    def save(name, d):
        p = tmp_path / name / "results.json"
        p.parent.mkdir()
        p.write_text(json.dumps(d))
        return str(p)

    base = save("base", _iid(measured, 1))
    same = save("same", _iid(measured, 2))
    slow = save("slow", _iid(measured, 3, scale=(V1, 1.3)))
    other_gpu = save("gpu", _iid(measured, 4, gpu="Some Other GPU"))
    summary = tmp_path / "summary.md"
    r = _cli("gate", "--baseline", base, "--candidate", same, "--fail-on", "compute.p50:5%",
             env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert r.returncode == 0, r.stderr
    assert "PASS" in summary.read_text()
    r = _cli("gate", "--baseline", base, "--candidate", slow, "--fail-on", "compute.p50:5%", "--junit",
             str(tmp_path / "j.xml"), "--json", str(tmp_path / "v.json"), "--markdown", str(tmp_path / "m.md"))
    assert r.returncode == 1 and "1 regression" in r.stderr
    assert json.loads((tmp_path / "v.json").read_text())["regressions"] == 1
    assert ET.parse(tmp_path / "j.xml").getroot().get("failures") == "1"
    r = _cli("gate", "--baseline", base, "--candidate", other_gpu)
    assert r.returncode == 2 and "different environments" in r.stderr and "Traceback" not in r.stderr
    r = _cli("gate", "--baseline", base, "--candidate", other_gpu, "--allow-env-mismatch")
    assert r.returncode == 0, r.stdout + r.stderr
    r = _cli("gate", "--baseline", base, "--candidate", same, "--fail-on", "compute:5")
    assert r.returncode == 2 and "accepted forms" in r.stderr
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    r = _cli("gate", "--baseline", base, "--candidate", str(bad))
    assert r.returncode == 2 and "bad.json" in r.stderr and "Traceback" not in r.stderr


def test_ab_runs_interleaved_and_gates(tmp_path):
    r = _cli("ab", "--a", "--batch 1", "--b", "--batch 1", "-m", "mlp", "-b", "onnxruntime", "--build-mode",
             "implicit", "--duration", "0.1", "--rounds", "2", "--results", str(tmp_path), "--fail-on",
             "compute.p50:50%", "--json", str(tmp_path / "v.json"))
    assert r.returncode in (0, 1), r.stderr
    verdict = json.loads((tmp_path / "v.json").read_text())
    assert verdict["findings"] and verdict["findings"][0]["variant"] == V1
    docs = [json.loads(p.read_text()) for p in tmp_path.glob("*/results.json")]
    assert len(docs) == 2 and all(d["variants"][0]["ab_rounds"] == 2 for d in docs)
    r = _cli("ab", "--a", "--batch 1,2", "--b", "--batch 1", "-m", "mlp", "-b", "onnxruntime", "--build-mode",
             "implicit", "--results", str(tmp_path / "x"))
    assert r.returncode == 2 and "pair up" in r.stderr
