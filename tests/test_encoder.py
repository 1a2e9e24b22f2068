"""The built-in ``encoder`` (requirement 3) and models with external data (requirement 7)."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import numpy_helper

from tests.shape_models import run_matrix
from trtbench.errors import UserError
from trtbench.models.builtin import builtin_model
from trtbench.models.inspect import inspect_model
from trtbench.models.loading import load_onnx, model_digest, resolve_model

ROOT = Path(__file__).resolve().parents[1]


def _session(model):
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def _feeds(batch, seq, seed=0):
    ids = np.random.default_rng(seed).integers(0, 1000, size=(batch, seq)).astype(np.int64)
    return {"input_ids": ids, "attention_mask": np.ones((batch, seq), np.int64)}


def test_the_encoder_is_a_model_tensorrt_86_and_onnx2torch_read():
    m = builtin_model("encoder")
    assert m.ir_version == 8 and [(o.domain, o.version) for o in m.opset_import] == [("", 17)]
    info = inspect_model(m)
    assert [(t.name, t.dtype, t.shape) for t in info.inputs] == [("input_ids", "int64", ("batch", "seq")),
                                                                 ("attention_mask", "int64", ("batch", "seq"))]
    ops = {n.op_type for n in m.graph.node}
    assert "LayerNormalization" not in ops and {"Gather", "Softmax", "Erf", "Slice", "Where", "ReduceMean"} <= ops
    assert model_digest(m) == model_digest(builtin_model("encoder"))  # deterministic
    assert 100_000 < info.parameter_count < 1_000_000  # small: the default run stays fast on a CPU


def test_the_encoder_runs_at_any_length_and_the_mask_hides_padding():
    sess = _session(builtin_model("encoder"))
    for seq in (1, 7, 128, 2048):
        (y,) = sess.run(None, _feeds(2, seq))
        assert y.shape == (2, seq, 64) and np.isfinite(y).all()
    short = _feeds(1, 12)
    padded = {"input_ids": np.concatenate([short["input_ids"], np.full((1, 5), 3, np.int64)], 1),
              "attention_mask": np.concatenate([short["attention_mask"], np.zeros((1, 5), np.int64)], 1)}
    a, b = sess.run(None, short)[0], sess.run(None, padded)[0]
    np.testing.assert_allclose(a, b[:, :12], rtol=1e-5, atol=1e-5)  # masked positions change nothing
    unmasked = dict(padded, attention_mask=np.ones((1, 17), np.int64))
    assert np.abs(sess.run(None, unmasked)[0][:, :12] - a).max() > 1e-3  # ... and unmasked they would


@pytest.mark.torch
def test_onnx2torch_converts_the_encoder_and_agrees():
    import onnx2torch
    import torch

    m = builtin_model("encoder")
    module = onnx2torch.convert(m).eval()
    feeds = _feeds(3, 40)
    with torch.inference_mode():
        y = module(*(torch.from_numpy(feeds[n]) for n in ("input_ids", "attention_mask"))).numpy()
    ref = _session(m).run(None, feeds)[0]
    assert np.linalg.norm(y - ref) / np.linalg.norm(ref) < 1e-5


@pytest.mark.torch
def test_the_torch_backend_runs_the_encoder_at_two_lengths(tmp_path):
    recs, _ = run_matrix(tmp_path, models=["encoder"], backends=["torch"], batches=["2"], dims=["seq=8,24"])
    assert len(recs) == 4 and all(r.status == "ok" for r in recs.values()), {k: r.reason for k, r in recs.items()}
    assert all(r.accuracy["rel_l2"] < 1e-4 for r in recs.values())


def test_the_default_run_includes_the_encoder_at_its_default_length(tmp_path):
    recs, _ = run_matrix(tmp_path, models=["encoder"], batches=["1"])
    assert sorted(recs) == ["encoder-onnxruntime-fp32-explicit-auto-seq32-b1", "encoder-onnxruntime-fp32-implicit-seq32-b1"]
    assert all(r.status == "ok" for r in recs.values())


@pytest.mark.gpu
@pytest.mark.tensorrt
def test_tensorrt_runs_the_encoder_in_one_dynamic_engine_and_in_static_ones(tmp_path):
    # two batches: a profile whose min = max for a dim lets TensorRT 8.6 make that dim static in the engine
    recs, _ = run_matrix(tmp_path, models=["encoder"], backends=["tensorrt"], batches=["1,2"], dims=["seq=16,64"])
    assert len(recs) == 8 and all(r.status == "ok" for r in recs.values()), {k: r.reason for k, r in recs.items()}
    assert all(r.accuracy["rel_l2"] < 1e-3 for r in recs.values())  # int32 ids: the same tokens as the reference
    dynamic = [r for r in recs.values() if r.variant.build_mode == "explicit"]
    static = [r for r in recs.values() if r.variant.build_mode == "implicit"]
    assert len({r.backend["cache_key"] for r in dynamic}) == 1  # one engine: batch 1..2, seq 16..64
    assert len({r.backend["cache_key"] for r in static}) == 4  # one engine per batch and length
    ids = next(t for t in dynamic[0].backend["io"] if t["name"] == "input_ids")
    assert ids["engine_shape"] == [-1, -1] and ids["dtype"] in ("int32", "int64")  # 8.6 takes int64 as int32


@pytest.mark.gpu
@pytest.mark.torch
def test_pytorch_on_cuda_runs_the_encoder_at_two_lengths(tmp_path):
    recs, _ = run_matrix(tmp_path, models=["encoder"], backends=["torch"], batches=["2"], dims=["seq=16,64"],
                         precisions=["fp32", "fp16"])
    assert len(recs) == 8 and all(r.status == "ok" for r in recs.values()), {k: r.reason for k, r in recs.items()}
    assert all(r.backend["device"].startswith("cuda") and not r.accuracy["inaccurate"] for r in recs.values())
    assert all(t.compute_timing == "graph" or t.compute_timing.startswith("eager") for r in recs.values()
               for t in r.trials)  # a CUDA graph, or eager with the fallback's reason (onnx2torch's Slice syncs)


# --- external data ------------------------------------------------------------------------------------------

def _external(tmp_path):
    folder = tmp_path / "models"
    folder.mkdir()
    onnx.save(builtin_model("mlp"), str(folder / "mlp_ext.onnx"), save_as_external_data=True,
              all_tensors_to_one_file=True, location="mlp_ext.bin", size_threshold=0)
    return folder / "mlp_ext.onnx"


def test_external_data_resolves_against_the_model_folder(tmp_path, monkeypatch):
    path = _external(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "mlp_ext.bin").write_bytes(b"\0" * 64)  # a decoy in the working directory: never read
    monkeypatch.chdir(elsewhere)
    model = load_onnx(str(path))
    real = {t.name: numpy_helper.to_array(t) for t in builtin_model("mlp").graph.initializer}
    got = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}  # the real weights, now inside
    assert real.keys() == got.keys() and all(np.array_equal(real[k], got[k]) for k in real)
    assert not any(t.external_data for t in model.graph.initializer)
    x = np.ones((2, 256), np.float32)
    np.testing.assert_array_equal(_session(model).run(None, {"features": x})[0],
                                  _session(builtin_model("mlp")).run(None, {"features": x})[0])
    recs, _ = run_matrix(tmp_path, models=[str(path)], batches=["2"], build_modes=["implicit"])
    (r,) = recs.values()
    assert r.status == "ok" and r.accuracy["rel_l2"] == 0.0


def test_a_missing_data_file_is_one_line_from_any_directory(tmp_path, monkeypatch):
    path = _external(tmp_path)
    (path.parent / "mlp_ext.bin").unlink()
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mlp_ext.bin").write_bytes(b"\0" * 64)
    with pytest.raises(UserError, match="keeps its weights in 'mlp_ext.bin', which is not in the model's folder"):
        load_onnx(str(path))
    out = subprocess.run([sys.executable, "-m", "trtbench", "inspect", str(path)], capture_output=True, text=True,
                         cwd=tmp_path, env=dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")))
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1 and "mlp_ext.bin" in out.stderr


def test_a_data_file_outside_the_model_folder_is_refused(tmp_path):
    path = _external(tmp_path)
    m = onnx.load(str(path), load_external_data=False)
    for t in m.graph.initializer:
        for e in t.external_data:
            if e.key == "location":
                e.value = "../mlp_ext.bin"
    onnx.save(m, str(path))
    with pytest.raises(UserError, match="not a relative path inside the model's folder"):
        resolve_model(str(path)).load()
