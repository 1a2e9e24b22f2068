"""Backends on the CPU, for real: onnxruntime, and PyTorch (its CPU build; on a GPU machine the same test checks
that PyTorch computes on the GPU, timed by CUDA events)."""

import numpy as np
import pytest

from trtbench.backends.base import LifecycleError
from trtbench.backends.registry import all_availability, best_available
from trtbench.matrix.spec import ShapeProfile, Variant
from trtbench.models.inputs import make_inputs
from trtbench.models.loading import ModelSource
from trtbench.backends.prepare import prepare_model
from tests.helpers import measure_variant


def test_every_backend_reports_availability_without_raising():
    rows = {a.name: a for a in all_availability()}
    assert set(rows) == {"onnxruntime", "torch", "tensorrt"}
    assert rows["onnxruntime"].available and rows["onnxruntime"].version
    for a in rows.values():
        assert a.available or a.reason  # unavailable ones say why
    assert best_available() in rows


def test_onnxruntime_lifecycle_and_outputs_match_a_plain_session(fast_settings):
    import onnxruntime as ort

    from trtbench.backends.onnxruntime_backend import OnnxRuntimeBackend

    v = Variant(ModelSource("resnet"), "onnxruntime", 2, "fp32", "explicit", ShapeProfile("p", batch=(1, 2, 4)))
    prepared = prepare_model(v, v.model.load())
    be = OnnxRuntimeBackend(v, fast_settings, prepared)
    with pytest.raises(LifecycleError):
        be.load()  # out of order
    be.prepare()
    be.load()
    feeds = make_inputs(prepared.dtypes, prepared.run_shapes, 0)
    be.bind(feeds)
    be.h2d(None)
    be.compute(None)
    be.d2h(None)
    out = be.outputs()["logits"]
    sess = ort.InferenceSession(prepared.model.SerializeToString(), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(out, sess.run(None, feeds)[0], rtol=1e-5, atol=1e-6)
    be.release()
    assert be.state == "released"
    with pytest.raises(LifecycleError):
        be.outputs()


@pytest.mark.torch
@pytest.mark.parametrize("precision", ["fp32", "fp16", "bf16", "fp16-io", "bf16-io"])
def test_torch_cpu_backend(precision, fast_settings, tmp_path):
    rec = measure_variant(Variant(ModelSource("mlp"), "torch", 4, precision, "implicit"), fast_settings, tmp_path)
    assert rec.status == "ok" and len(rec.trials) == 2, rec.error
    import torch

    if torch.cuda.is_available():  # on a GPU machine the torch backend computes on the GPU, timed by CUDA events
        assert rec.backend["device"] == "cuda:0" and rec.timing["timer"].startswith("cuda-events")
        assert all(t.compute_timing != "host" and t.samples.queries >= 5 for t in rec.trials)
    else:
        assert rec.backend["device"] == "cpu" and rec.timing["timer"].startswith("host")
        assert all(t.compute_timing == "host" and t.samples.queries >= 5 for t in rec.trials)
    acc = rec.accuracy
    assert not acc["inaccurate"], acc
    if precision == "fp32":
        assert acc["rel_l2"] < 1e-5
    else:
        assert 1e-5 < acc["rel_l2"] < 5e-2  # really lower precision, still close


@pytest.mark.torch
def test_torch_cpu_transformer_explicit(fast_settings, tmp_path):
    v = Variant(ModelSource("transformer"), "torch", 2, "fp32", "explicit", ShapeProfile("p", batch=(1, 2, 4)))
    rec = measure_variant(v, fast_settings, tmp_path)
    assert rec.status == "ok" and rec.ok and rec.accuracy["rel_l2"] < 1e-5, rec.reason
