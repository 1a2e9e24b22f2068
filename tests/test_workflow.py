"""The GPU CI workflow is valid YAML and uses the commands this package really has: the suite on every
push, and on pull requests the base commit against the candidate through ``trtbench ab``."""

import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_gpu_workflow_runs_the_suite_keeps_results_and_gates_through_ab():
    yaml = pytest.importorskip("yaml")
    wf = yaml.safe_load((ROOT / ".github/workflows/gpu-bench.yml").read_text())
    job = wf["jobs"]["bench"]
    assert "self-hosted" in job["runs-on"] and "gpu" in job["runs-on"]
    runs = "\n".join(s.get("run", "") for s in job["steps"])
    assert "pytest bench/" in runs and "--benchmark-json" in runs
    assert any(s.get("uses", "").startswith("actions/upload-artifact") for s in job["steps"])
    base = next(s for s in job["steps"] if s.get("with", {}).get("path") == "base")
    assert "base.sha" in base["with"]["ref"]
    from trtbench.cli.main import attach_values, build_parser

    ab = " ".join(ln.strip().rstrip("\\") for ln in runs.split("trtbench ab", 1)[1].splitlines()[:3])
    args = build_parser().parse_args(attach_values(["ab"] + shlex.split(ab)))
    assert args.func.__name__ == "cmd_ab"
    assert args.a == "--matrix base/bench/matrix.toml" and args.b == "--matrix bench/matrix.toml"
    assert args.rounds == "6" and args.json == "gate.json"
