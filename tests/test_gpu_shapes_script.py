"""bench/gpu_shapes.sh on a CPU: the same two matrices with onnxruntime in place of TensorRT and PyTorch, so the
commands the GPU run will make are known to parse, plan and measure (the numbers here mean nothing)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from trtbench.results.store import read_results

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_the_gpu_shapes_script_runs_both_matrices(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT), BACKEND="onnxruntime", TRT_PY=sys.executable,
               TORCH_PY=sys.executable, SEQS="8,16,32", CACHE_DIR=str(tmp_path / "cache"))
    out = tmp_path / "out"
    res = subprocess.run(["bash", str(ROOT / "bench" / "gpu_shapes.sh"), str(out)], capture_output=True, text=True,
                         env=env, cwd=ROOT, timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr
    assert (out / "steps.txt").read_text().count("rc=0") == 2
    for name in ("tensorrt", "torch"):
        cmd = (out / f"{name}.cmd").read_text()
        assert "-m trtbench run -b onnxruntime -m encoder --batch 8" in cmd and "--dim seq=8\\,16\\,32" in cmd
        assert "--build-mode implicit\\,explicit --trials 3 --duration 0.2 --warmup 100" in cmd
        (path,) = (out / name).glob("*/results.jsonl")
        doc = read_results(str(path))
        recs = {r.id: r for r in doc.records}
        assert sorted(recs) == sorted(f"encoder-onnxruntime-fp32-{mode}-seq{s}-b8" for s in (8, 16, 32)
                                      for mode in ("implicit", "explicit-auto"))
        assert all(r.status == "ok" and len(r.trials) == 3 for r in recs.values())
        explicit = [r for r in recs.values() if r.variant.build_mode == "explicit"]
        assert {json.dumps(r.shapes["max"]) for r in explicit} == {json.dumps({"input_ids": [8, 32],
                                                                               "attention_mask": [8, 32]})}
        assert recs["encoder-onnxruntime-fp32-implicit-seq16-b8"].shapes["max"]["input_ids"] == [8, 16]
