"""Load on a real GPU: CUDA-event lanes over torch and TensorRT slots, every slot computing the same outputs,
TensorRT contexts sharing a dynamic engine's profile. Marked gpu/tensorrt: skipped, with the reason, on a machine
without them; bench/gpu_load.sh is the measured evidence."""

from __future__ import annotations

import numpy as np
import pytest

from trtbench.config.settings import RunSettings
from trtbench.gpu.cuda import Stream
from trtbench.matrix.spec import ShapeProfile, Variant
from trtbench.models.loading import ModelSource
from trtbench.run.measure import describe, measure, open_backend
from trtbench.timing.load import LoadPlan


def _settings(tmp_path, **kw) -> RunSettings:
    base = dict(warmup_ms=20, duration_s=0.2, iterations=20, trials=1, min_samples=5, cache_dir=str(tmp_path / "c"),
                nvml=False, isolation="inline")
    base.update(kw)
    return RunSettings(**base)


def _slot_outputs_agree(backend, n):
    stream = Stream()
    try:
        outs = []
        for s in backend.open_slots(n):
            s.h2d(stream.handle)
            s.compute(stream.handle)
            s.d2h(stream.handle)
            stream.synchronize()
            outs.append({k: np.array(v) for k, v in s.host_outputs().items()})
    finally:
        stream.destroy()
    for other in outs[1:]:
        for k in outs[0]:
            np.testing.assert_array_equal(other[k], outs[0][k])


@pytest.mark.gpu
@pytest.mark.torch
def test_torch_cuda_slots_and_the_cuda_load_timer(tmp_path):
    v = Variant(ModelSource("mlp"), "torch", 8, "fp16", "implicit", concurrency=4)
    be = open_backend(v, _settings(tmp_path))
    try:
        _slot_outputs_agree(be, 4)
        with be.load_timer(be.open_slots(4)) as timer:
            closed = timer.measure(LoadPlan(4, 0.05, 50, 0.2, 100000))
            opened = timer.measure(LoadPlan(4, 0.05, 50, 0.3, 100000, rate=0.5 * closed.load["achieved_qps"], seed=1))
        assert timer.compute_timing == "graph" or timer.compute_timing.startswith("eager (graph fallback")
        assert closed.timer == "load:cuda-events:closed:c4" and closed.queries >= 50
        assert 0 < closed.load["achieved_qps"] < closed.load["harness_ceiling_qps"]
        assert all(e >= c for e, c in zip(closed.e2e, closed.compute))
        assert opened.load["unserved"] == 0 and len(opened.queue) == opened.queries
        assert opened.load["achieved_qps"] == pytest.approx(opened.load["offered_qps"], rel=0.3)
    finally:
        be.release()


@pytest.mark.gpu
@pytest.mark.tensorrt
def test_tensorrt_dynamic_engine_runs_four_contexts_sharing_its_profile(tmp_path):
    s = _settings(tmp_path)
    v = Variant(ModelSource("resnet"), "tensorrt", 8, "fp16", "explicit", ShapeProfile("dyn", batch=(1, 8, 8)),
                concurrency=4)
    rec = describe(v, s, v.id)
    assert rec.status == "ok", rec.reason
    assert rec.backend["profile_sharing"] is True and rec.timing["mode"] == "load-closed"
    be = open_backend(v, s)
    try:
        _slot_outputs_agree(be, 4)
        assert len({id(slot.context) for slot in be.slots}) == 4
        trial = measure(be, s, index=0, round=0, position=0, process="inline", reloaded=True)
    finally:
        be.release()
    load = trial.samples.load
    assert load["concurrency"] == 4 and load["loop"] == "closed" and trial.compute_timing == "graph"
    assert trial.queries_per_s == pytest.approx(load["achieved_qps"]) and load["harness_ceiling_qps"] > 0
    single = describe(Variant(ModelSource("resnet"), "tensorrt", 8, "fp16", "explicit",
                              ShapeProfile("dyn", batch=(1, 8, 8))), s, "c1")
    assert single.backend["profile_sharing"] is False and single.backend["cache_key"] != rec.backend["cache_key"]


@pytest.mark.gpu
@pytest.mark.tensorrt
def test_tensorrt_budget_search_on_the_gpu(tmp_path):
    s = _settings(tmp_path, duration_s=0.15)
    v = Variant(ModelSource("mlp"), "tensorrt", 4, "fp16", "implicit", concurrency=2, latency_budget_ms=5.0)
    be = open_backend(v, s)
    try:
        trial = measure(be, s, index=0, round=0, position=0, process="inline", reloaded=True)
    finally:
        be.release()
    found = trial.samples.load["search"]
    assert found["reachable"] and found["answer_p99_ms"] <= 5.0 and len(found["probes"]) >= 2
