"""The GPU CI workflow is valid YAML and uses the commands this package really has."""

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_gpu_workflow_runs_the_suite_keeps_results_and_gates():
    yaml = pytest.importorskip("yaml")
    wf = yaml.safe_load((ROOT / ".github/workflows/gpu-bench.yml").read_text())
    job = wf["jobs"]["bench"]
    assert "self-hosted" in job["runs-on"] and "gpu" in job["runs-on"]
    runs = "\n".join(s.get("run", "") for s in job["steps"])
    assert "pytest bench/" in runs and "--benchmark-json" in runs
    assert "trtbench gate --baseline" in runs
    assert any(s.get("uses", "").startswith("actions/upload-artifact") for s in job["steps"])
    from trtbench.cli.main import build_parser

    gate_line = next(ln for ln in runs.splitlines() if "trtbench gate" in ln)
    args = gate_line.split("trtbench ", 1)[1].rstrip("\\").split()
    args += ["--candidate", "x"] if "--candidate" not in args else []
    ns = build_parser().parse_args([a for a in args if a])
    assert ns.func.__name__ == "cmd_gate"
