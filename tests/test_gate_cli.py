"""``trtbench gate`` as a user runs it (subprocesses): exit 0 pass, 1 regression, 2 cannot judge / bad input.

The A/A and regression checks gate real ``trtbench run`` subprocesses (process isolation, onnxruntime CPU)."""

import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import onnx
import pytest

from tests.helpers import matmul_model, run_matrix, write_run

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_RULES = {"compute.p50", "h2d.p50", "d2h.p50", "latency.p99"}


def _env(extra=None):
    e = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    e.update(extra or {})
    return e


def cli(*args, env=None, cwd=None):
    return subprocess.run([sys.executable, "-m", "trtbench", *args], capture_output=True, text=True, env=_env(env),
                          cwd=cwd, timeout=600)


def assert_user_error(r, *words):
    assert r.returncode == 2, (r.returncode, r.stdout[-2000:], r.stderr)
    lines = [ln for ln in r.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("trtbench: error:"), r.stderr
    for w in words:
        assert w in r.stderr, r.stderr


@pytest.fixture(scope="module")
def separate_runs(tmp_path_factory):
    """Three ``trtbench run`` processes: the same base model twice, then a model with 15 more 256x256 MatMuls
    (same inputs and outputs, same file name: the same variant id): 16x the arithmetic, and far more than the
    2-3x spread between trials that a shared 2-core machine shows."""
    d = tmp_path_factory.mktemp("runs")
    for name, layers in (("base", 1), ("heavy", 16)):
        (d / name).mkdir()
        onnx.save(matmul_model(256, layers), d / name / "model.onnx")
    paths = {}
    for key, model in (("a", "base"), ("b", "base"), ("heavy", "heavy")):
        r = cli("run", "-m", str(d / model / "model.onnx"), "-b", "onnxruntime", "--batch", "512", "--build-mode",
                "implicit", "--trials", "5", "--duration", "0.3", "--warmup", "100", "--results", str(d / key), "-q")
        assert r.returncode == 0, r.stdout[-2000:] + r.stderr
        paths[key] = re.search(r"results: (\S+results\.jsonl)", r.stdout).group(1)
    return d, paths


def test_a_a_from_separate_processes_is_no_regression(separate_runs, tmp_path):
    _, p = separate_runs
    r = cli("gate", "--baseline", p["a"], "--candidate", p["b"], "--json", str(tmp_path / "v.json"))
    assert r.returncode == 0, r.stdout + r.stderr
    v = json.loads((tmp_path / "v.json").read_text())
    assert v["passed"] and v["regressions"] == 0 and v["unjudged"] == 0 and not v["paired"]
    assert {f["metric"] for f in v["findings"]} == DEFAULT_RULES and all(f["trials"] == [5, 5] for f in v["findings"])
    assert all(f["verdict"] in ("pass", "inconclusive", "improvement", "minor") for f in v["findings"])
    shown = [ln for ln in r.stdout.splitlines() if "❔ inconclusive" in ln]
    assert len(shown) == v["inconclusive"]  # every inconclusive check is listed ...
    assert r.stdout.startswith("### trtbench gate: PASS" + (f" ({v['inconclusive']} inconclusive)"
                                                            if v["inconclusive"] else ""))  # ... and counted


def test_a_heavier_model_from_a_separate_process_is_a_regression(separate_runs, tmp_path):
    _, p = separate_runs
    r = cli("gate", "--baseline", p["a"], "--candidate", p["heavy"], "--json", str(tmp_path / "v.json"))
    assert r.returncode == 1, r.stdout + r.stderr
    assert "regression(s) found" in r.stderr and "Traceback" not in r.stderr
    v = json.loads((tmp_path / "v.json").read_text())
    (compute,) = [f for f in v["findings"] if f["metric"] == "compute.p50"]
    assert compute["verdict"] == "regression" and compute["ratio"] > 4 and compute["ci"][0] > 1.05


def test_a_closed_pipe_keeps_the_exit_code(separate_runs):
    _, p = separate_runs
    args = ["gate", "--baseline", p["a"], "--candidate", p["heavy"]]
    sh = (f"{sys.executable} -m trtbench {' '.join(args)} | head -1; exit ${{PIPESTATUS[0]}}")
    r = subprocess.run(["bash", "-c", sh], capture_output=True, text=True, env=_env(), timeout=300)
    assert r.returncode == 1 and r.stdout.startswith("### trtbench gate: FAIL") and len(r.stdout.splitlines()) == 1
    # the reader gone before a byte is written: every write hits a closed pipe
    proc = subprocess.Popen([sys.executable, "-m", "trtbench", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=_env())
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=300) == 1, err
    assert "Traceback" not in err and "Exception ignored" not in err and "regression(s) found" in err


def _synthetic(tmp_path, name, trials_by_variant, **kw):
    return write_run(tmp_path / name, trials_by_variant, **kw)


def test_a_compute_window_that_changed_between_the_runs_is_refused(tmp_path):
    """A baseline whose compute was timed around the graph launch (or before trtbench recorded how) against a
    candidate timed by event nodes inside the graph: the same figure does not mean the same thing."""
    steady = [[1.0 + 0.01 * k] * 30 for k in range(5)]
    around = {"timer": "cuda-events", "compute_window": "events around the graph launch (launch gap included)"}
    inside = {"timer": "cuda-events", "compute_window": "event nodes inside the graph (GPU work only)"}
    base = _synthetic(tmp_path, "around", {"mlp": steady}, timing=around)
    old = _synthetic(tmp_path, "old", {"mlp": steady}, timing={"timer": "cuda-events"})
    cand = _synthetic(tmp_path, "inside", {"mlp": steady}, timing=inside)
    for b in (base, old):
        assert_user_error(cli("gate", "--baseline", b, "--candidate", cand), "timing.compute_window of 1 variant")
    r = cli("gate", "--baseline", base, "--candidate", cand, "--allow-env-mismatch")
    assert r.returncode == 0 and "Environment differs (allowed):** timing.compute\\_window" in r.stdout, r.stdout
    assert cli("gate", "--baseline", cand, "--candidate", cand).returncode == 0


def test_cli_exit_codes_and_outputs(tmp_path):
    steady = [[1.0 + 0.01 * k] * 30 for k in range(5)]
    base = _synthetic(tmp_path, "base", {"mlp": steady})
    same = _synthetic(tmp_path, "same", {"mlp": [[x * 1.001 for x in t] for t in steady]})
    slow = _synthetic(tmp_path, "slow", {"mlp": [[x * 1.3 for x in t] for t in steady]})
    other = _synthetic(tmp_path, "gpu", {"mlp": steady}, machine={"host": "h", "os": "o", "cpu": "c", "python": "3",
                                                                 "packages": {}, "gpu": {"name": "Other GPU"}})
    summary = tmp_path / "summary.md"
    r = cli("gate", "--baseline", base, "--candidate", same, "--fail-on", "compute.p50:5%",
            env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert r.returncode == 0, r.stderr
    assert summary.read_text().startswith("### trtbench gate: PASS")
    r = cli("gate", "--baseline", base, "--candidate", slow, "--fail-on", "compute.p50:5%", "--junit",
            str(tmp_path / "j.xml"), "--json", str(tmp_path / "v.json"), "--markdown", str(tmp_path / "m.md"))
    assert r.returncode == 1 and "1 regression" in r.stderr
    assert json.loads((tmp_path / "v.json").read_text())["regressions"] == 1
    assert ET.parse(tmp_path / "j.xml").getroot().get("failures") == "1"
    assert (tmp_path / "m.md").read_text().startswith("### trtbench gate: FAIL (1 regression(s))")
    assert_user_error(cli("gate", "--baseline", base, "--candidate", other), "different environments")
    r = cli("gate", "--baseline", base, "--candidate", other, "--allow-env-mismatch")
    assert r.returncode == 0, r.stdout + r.stderr
    assert_user_error(cli("gate", "--baseline", base, "--candidate", same, "--fail-on", "compute:5"), "accepted forms")
    assert_user_error(cli("gate", "--baseline", base, "--candidate", same, "--fdr", "0"), "--fdr")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert_user_error(cli("gate", "--baseline", base, "--candidate", str(bad)), "bad.json")
    one = _synthetic(tmp_path, "one", {"mlp": steady[:1]})
    r = cli("gate", "--baseline", one, "--candidate", one, "--fail-on", "compute.p50:5%", "--json",
            str(tmp_path / "one.json"))
    assert r.returncode == 0 and "PASS (1 inconclusive)" in r.stdout, r.stdout + r.stderr  # not an internal error
    r = cli("gate", "--baseline", one, "--candidate", one, "--fail-on", "compute.p50:5%", "--strict")
    assert r.returncode == 1 and "--strict: 1 inconclusive" in r.stderr


@pytest.mark.parametrize("sample", ["null", "NaN", "-0.5", "true", "1" + "0" * 400])
def test_a_damaged_sample_is_exit_2_in_one_line(tmp_path, sample):
    base = _synthetic(tmp_path, "base", {"mlp": [[1.0] * 30] * 3})
    lines = Path(base).read_text().splitlines()
    lines[2] = lines[2].replace('"compute":[1.0,', f'"compute":[{sample},', 1)
    assert sample in lines[2]
    damaged = tmp_path / "damaged.jsonl"
    damaged.write_text("\n".join(lines) + "\n")
    assert_user_error(cli("gate", "--baseline", base, "--candidate", str(damaged)), "damaged.jsonl line 3",
                      "compute sample 0")


def test_inputs_the_gate_cannot_judge_are_exit_2(tmp_path):
    from tests.helpers import variant_of
    from trtbench.results.record import VariantRecord

    good = _synthetic(tmp_path, "good", {"mlp": [[1.0] * 30] * 3})
    v = variant_of("mlp")
    dead = _synthetic(tmp_path, "dead", {}, records=[VariantRecord(v, v.id, "failed", "engine build failed")])
    assert_user_error(cli("gate", "--baseline", dead, "--candidate", good), "no measured variant")
    pb = tmp_path / "pb.json"
    pb.write_text(json.dumps({"machine_info": {"node": "h"}, "commit_info": {}, "benchmarks": [
        {"name": "test_x", "param": "x", "extra_info": {}, "stats": {"min": 0.001, "max": 0.003, "mean": 0.002,
                                                                     "stddev": 0.0001, "median": 0.002, "iqr": 0.0001,
                                                                     "rounds": 50}}]}))
    r = cli("gate", "--baseline", str(pb), "--candidate", str(pb))
    assert_user_error(r, "cannot judge", "plain pytest-benchmark data has no trials")
    assert "CANNOT JUDGE" in r.stdout


def test_a_non_finite_candidate_output_fails_an_accuracy_rule(tmp_path, fast_settings):
    """The real path: the candidate model's outputs are NaN, its accuracy record says rel_l2 inf (written as
    null) with the non-finite count, and an accuracy.rel_l2 rule fails the gate (exit 1)."""
    from tests.helpers import sqrt_model
    from trtbench.matrix.spec import Matrix
    from trtbench.models.loading import resolve_model

    paths = {}
    for name, nan in (("base", False), ("cand", True)):
        (tmp_path / name).mkdir()
        onnx.save(sqrt_model(nan), tmp_path / name / "model.onnx")
        m = Matrix((resolve_model(str(tmp_path / name / "model.onnx")),), ("onnxruntime",), (2,), ("fp32",),
                   ("implicit",))
        paths[name] = run_matrix(m, fast_settings, tmp_path / f"r-{name}").source
    cand = json.loads(Path(paths["cand"]).read_text().splitlines()[1])["record"]["accuracy"]
    assert cand["rel_l2"] is None and cand["nonfinite"] == 32 and cand["inaccurate"] is True
    r = cli("gate", "--baseline", paths["base"], "--candidate", paths["cand"], "--fail-on", "accuracy.rel_l2:abs:1e-3",
            "--json", str(tmp_path / "v.json"))
    assert r.returncode == 1, r.stdout + r.stderr
    (f,) = json.loads((tmp_path / "v.json").read_text())["findings"]
    assert f["verdict"] == "regression" and f["candidate"] is None and "not finite" in f["note"]
