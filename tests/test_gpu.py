"""The GPU path on a real NVIDIA GPU: CUDA layer, buffers, CUDA-event timer, NVML, torch on CUDA.

Skipped (with the reason) where there is no GPU; run on the H100 through the device tool, and the log
committed under results/."""

from __future__ import annotations

import time

import numpy as np
import pytest

from trtbench.errors import CudaError
from trtbench.timing.samples import LoopPlan

pytestmark = pytest.mark.gpu


def test_cuda_layer_roundtrip_and_errors():
    from trtbench.gpu import cuda

    stream = cuda.Stream()
    host_in, host_out = cuda.PinnedBuffer(4096), cuda.PinnedBuffer(4096)
    dev = cuda.DeviceBuffer(4096)
    h2d, d2h = cuda.memcpy_kinds()
    a = host_in.view(np.float32, (1024,))
    a[:] = np.arange(1024, dtype=np.float32)
    cuda.memcpy_async(dev.ptr, host_in.ptr, 4096, h2d, stream)
    cuda.memcpy_async(host_out.ptr, dev.ptr, 4096, d2h, stream)
    stream.synchronize()
    np.testing.assert_array_equal(host_out.view(np.float32, (1024,)), a)
    for x in (host_in, host_out, dev):
        x.free()
    stream.destroy()
    with pytest.raises(CudaError, match="cudaSetDevice"):
        cuda.set_device(999)
    with pytest.raises(CudaError, match="cudaMalloc"):
        cuda.DeviceBuffer(1 << 50)  # 1 PiB: out of memory, reported with the call's name


def test_buffers_copy_actual_bytes_and_reshape_outputs():
    from trtbench.gpu import cuda
    from trtbench.gpu.buffers import IOBuffers

    bufs = IOBuffers({"x": (np.float32, (8, 4))}, {"y": (np.float32, (8, 4))})
    try:
        bufs.load_inputs({"x": np.ones((2, 4), np.float32)})
        assert bufs.total_bytes()["h2d_bytes"] == 2 * 4 * 4
        # make the output buffer's device memory the input's: D2H then returns the inputs
        bufs.set_output_source("y", bufs.inputs["x"].device.ptr)
        bufs.set_shape("y", (2, 4))
        s = cuda.Stream()
        bufs.h2d(s.handle)
        bufs.d2h(s.handle)
        s.synchronize()
        out = bufs.host_outputs()["y"]
        assert out.shape == (2, 4)
        np.testing.assert_array_equal(out, 1.0)
        with pytest.raises(ValueError):
            bufs.set_shape("x", (9, 4))
    finally:
        bufs.free()


class _CopyStages:
    """Stage calls that move ``nbytes`` each way and do a device-to-device copy as 'compute'."""

    def __init__(self, nbytes):
        from trtbench.gpu import cuda

        self.cuda = cuda
        self.n = nbytes
        self.h = cuda.PinnedBuffer(nbytes)
        self.d1, self.d2 = cuda.DeviceBuffer(nbytes), cuda.DeviceBuffer(nbytes)
        self.k_h2d, self.k_d2h = cuda.memcpy_kinds()
        self.k_d2d = cuda.rt().cudaMemcpyKind.cudaMemcpyDeviceToDevice

    def h2d(self, stream):
        self.cuda.check(self.cuda.rt().cudaMemcpyAsync(self.d1.ptr, self.h.ptr, self.n, self.k_h2d, stream), "h2d")

    def compute(self, stream):
        self.cuda.check(self.cuda.rt().cudaMemcpyAsync(self.d2.ptr, self.d1.ptr, self.n, self.k_d2d, stream), "d2d")

    def d2h(self, stream):
        self.cuda.check(self.cuda.rt().cudaMemcpyAsync(self.h.ptr, self.d2.ptr, self.n, self.k_d2h, stream), "d2h")

    def free(self):
        for b in (self.h, self.d1, self.d2):
            b.free()


@pytest.mark.parametrize("mode", ["latency", "throughput"])
@pytest.mark.parametrize("graph", [False, True])
def test_event_timer_measures_copies(mode, graph):
    from trtbench.gpu.event_timer import EAGER_MIN, CudaEventStageTimer

    stages = _CopyStages(16 << 20)
    try:
        plan = LoopPlan(warmup_s=0.02, min_iterations=20, min_duration_s=0.1, max_iterations=1000)
        raw = CudaEventStageTimer(mode, cuda_graph=graph).run(stages, plan)
    finally:
        stages.free()
    assert raw.queries >= 20
    assert raw.compute_timing == ("graph" if graph else "eager")  # a D2D copy is capturable
    assert ":gated:" not in raw.timer  # the launch gate is for runs without transfers (gpu/gate.py)
    if graph:  # a short eager pass follows, compute only: the launch-including figure beside the graph's
        assert raw.eager is not None and raw.eager.queries >= EAGER_MIN and raw.eager.h2d == []
        assert raw.eager.compute_timing == "eager"
    else:
        assert raw.eager is None
    h2d_gbs = (16 << 20) / (np.median(raw.h2d) / 1e3) / 1e9
    assert 5 < h2d_gbs < 80, h2d_gbs  # pinned PCIe gen4/5: tens of GB/s
    for lat, a, b, c in zip(raw.latency, raw.h2d, raw.compute, raw.d2h):
        assert lat == pytest.approx(a + b + c)
    assert all(e >= l * 0.99 for e, l in zip(raw.e2e, raw.latency)) or mode == "throughput"
    assert raw.walltime_s > 0
    if mode == "throughput":  # overlap: queries per second beat 1 / median latency
        assert raw.queries / raw.walltime_s > 1.2 / (np.median(raw.latency) / 1e3)


class _SyncingStages(_CopyStages):
    """A compute stage that synchronises its stream: it cannot be captured in a CUDA graph."""

    def compute(self, stream):
        super().compute(stream)
        self.cuda.check(self.cuda.rt().cudaStreamSynchronize(stream), "cudaStreamSynchronize")


@pytest.mark.parametrize("mode", ["latency", "throughput"])
def test_an_uncapturable_compute_falls_back_to_eager_with_the_reason(mode):
    from trtbench.errors import NotApplicable
    from trtbench.gpu.event_timer import CudaEventStageTimer

    plan = LoopPlan(warmup_s=0.0, min_iterations=10, min_duration_s=0.0, max_iterations=10)
    stages = _SyncingStages(1 << 20)
    try:
        raw = CudaEventStageTimer(mode, cuda_graph=True).run(stages, plan)
        assert raw.queries == 10 and raw.compute_timing.startswith("eager (graph fallback: ") and raw.eager is None

        def refuse(compute, stream):  # what the onnxruntime backend's graph factory does
            raise NotApplicable("onnxruntime's Run cannot be captured")

        copy = _CopyStages(1 << 20)
        try:
            raw = CudaEventStageTimer(mode, cuda_graph=True, graph_factory=refuse).run(copy, plan)
        finally:
            copy.free()
        assert raw.compute_timing == "eager (graph fallback: NotApplicable: onnxruntime's Run cannot be captured)"
        assert raw.queries == 10 and raw.timer.split(":")[2] == "eager"
    finally:
        stages.free()


def test_cold_caches_rotate_the_inputs_outside_the_timed_window():
    from trtbench.gpu.event_timer import CudaEventStageTimer

    class Rotating(_CopyStages):
        rotations = 0

        def next_inputs(self):
            self.rotations += 1

    stages = Rotating(1 << 20)
    try:
        warm = CudaEventStageTimer("latency").run(stages, LoopPlan(0.0, 50, 0.0, 50))
        cold = CudaEventStageTimer("latency").run(stages, LoopPlan(0.0, 50, 0.0, 50, cold=True))
    finally:
        stages.free()
    assert cold.timer.endswith(":cold") and not warm.timer.endswith(":cold")
    assert stages.rotations >= 50 and cold.queries == 50  # once per query (warm-up included), untimed


@pytest.mark.parametrize("mode", ["latency", "throughput"])
def test_event_timer_without_transfers_times_compute_only(mode):
    from trtbench.gpu.event_timer import CudaEventStageTimer

    stages = _CopyStages(1 << 20)
    try:
        raw = CudaEventStageTimer(mode, cuda_graph=True).run(stages, LoopPlan(0.0, 10, 0.0, 10, data_transfers=False))
    finally:
        stages.free()
    assert raw.queries == 10 and raw.h2d == [] and raw.d2h == [] and len(raw.compute) == 10
    assert raw.timer.startswith(f"cuda-events:{mode}") and raw.compute_timing == "graph"
    # latency mode holds the stream at a cuStreamWaitValue32 until the graph's end event is enqueued (gpu/gate.py):
    # a driver that refused would leave "graph (launch gate unavailable: ...)" in compute_timing
    assert (":graph:gated:" in raw.timer) == (mode == "latency"), raw.timer
    assert all(0 < c < 1.0 for c in raw.compute)


def test_nvml_sampler_records_series_and_energy():
    from trtbench.gpu.nvml import NvmlSampler

    s = NvmlSampler(0, interval_ms=10)
    s.start()
    t0 = time.monotonic()
    time.sleep(1.2)
    t1 = time.monotonic()
    s.stop()
    out = s.summary(inferences=1000)
    w = s.window(t0, t1)  # a trial's window, by the machine-wide monotonic clock
    assert w["samples"] >= 50 and w["sm_clock_mhz"] > 0 and isinstance(w["throttled"], bool)
    assert s.summary(1000, [(t0, t1)])["summary"]["window_s"] == pytest.approx(t1 - t0)
    assert out["summary"]["samples"] >= 60  # ~100 Hz for 1.2 s, NVML permitting
    assert out["summary"]["window_s"] >= 1.0
    assert out["summary"]["energy_per_inference_j"] is not None and out["summary"]["energy_per_inference_j"] >= 0
    assert out["summary"]["peak_mem_used_bytes"] > 0
    assert len(out["series"]["t_s"]) == out["summary"]["samples"]
    assert isinstance(out["summary"]["throttled"], bool)


def test_gpu_fingerprint():
    from trtbench.gpu.fingerprint import gpu_fingerprint

    fp = gpu_fingerprint(0)
    assert fp["available"] and fp["name"] and fp["uuid"].startswith("GPU-")
    assert fp["compute_capability"].count(".") == 1 and fp["driver"] and fp["cuda_runtime"]
    assert fp["total_memory_bytes"] > 1 << 30 and fp["sm_clock_mhz"] > 0


@pytest.mark.torch
@pytest.mark.parametrize("precision", ["fp32", "tf32", "fp16", "bf16", "fp16-io", "bf16-io"])
def test_torch_cuda_variants_are_accurate(precision, fast_settings, tmp_path):
    from dataclasses import replace

    from tests.helpers import measure_variant
    from trtbench.matrix.spec import ShapeProfile, Variant
    from trtbench.models.loading import ModelSource

    v = Variant(ModelSource("resnet"), "torch", 8, precision, "explicit", ShapeProfile("p", batch=(1, 8, 16)))
    rec = measure_variant(v, replace(fast_settings, duration_s=0.1), tmp_path)
    assert rec.ok and len(rec.trials) == 2, rec.error or rec.reason
    assert rec.backend["device"].startswith("cuda")
    assert rec.timing["timer"].startswith("cuda-events") and rec.timing["cuda_graph"]  # graphs by default
    assert all(t.compute_timing == "graph" and t.eager["enqueue"].n >= 20 for t in rec.trials)
    assert not rec.accuracy["inaccurate"], rec.accuracy
    assert rec.nvml["summary"]["samples"] >= 2 and all(t.telemetry is not None for t in rec.trials)
    if precision.endswith("-io"):
        assert rec.backend["h2d_bytes"] == 8 * 3 * 32 * 32 * 2
    else:
        assert rec.backend["h2d_bytes"] == 8 * 3 * 32 * 32 * 4


@pytest.mark.torch
@pytest.mark.parametrize("mode,graph", [("throughput", False), ("latency", True), ("throughput", True)])
def test_torch_cuda_modes_and_graphs(mode, graph, fast_settings, tmp_path):
    from dataclasses import replace

    from tests.helpers import measure_variant
    from trtbench.matrix.spec import Variant
    from trtbench.models.loading import ModelSource

    v = Variant(ModelSource("resnet"), "torch", 4, "fp16", "implicit")
    rec = measure_variant(v, replace(fast_settings, mode=mode, cuda_graph=graph), tmp_path)
    assert rec.ok, rec.error or rec.reason
    assert rec.timing["mode"] == mode and rec.timing["cuda_graph"] == graph
    assert {t.compute_timing for t in rec.trials} == {"graph" if graph else "eager"}
    gated = graph and mode == "latency" and not fast_settings.data_transfers
    assert rec.timing["launch_gate"] == gated and {":gated:" in t.samples.timer for t in rec.trials} == {gated}
    assert not rec.accuracy["inaccurate"]


@pytest.mark.torch
def test_uncapturable_module_falls_back_to_eager_with_the_reason(fast_settings, tmp_path):
    from dataclasses import replace

    from tests.helpers import run_variants
    from trtbench.matrix.spec import Variant
    from trtbench.models.loading import ModelSource

    v = Variant(ModelSource("transformer"), "torch", 4, "fp32", "implicit")
    after = Variant(ModelSource("resnet"), "torch", 4, "fp32", "implicit")  # the context is usable afterwards
    _, doc = run_variants([v, after], replace(fast_settings, cuda_graph=True), tmp_path)
    rec = doc.by_id()[v.id]
    assert rec.ok and not rec.accuracy["inaccurate"], rec.error or rec.reason
    for t in rec.trials:
        assert t.compute_timing.startswith("eager (graph fallback: NotApplicable: this torch module cannot be "
                                           "captured") and t.eager is None
    assert doc.by_id()[after.id].ok and {t.compute_timing for t in doc.by_id()[after.id].trials} == {"graph"}


@pytest.mark.torch
def test_out_of_memory_is_a_failed_variant_and_the_matrix_goes_on(tmp_path, fast_settings):
    from tests.helpers import run_matrix
    from trtbench.gpu.cuda import mem_get_info
    from trtbench.matrix.spec import Matrix, ShapeProfile
    from trtbench.models.loading import ModelSource

    free_before, _ = mem_get_info()
    # a profile whose maximum needs ~123 GB of device memory for the input alone; the host side stays small
    huge = ShapeProfile("huge", batch=(1, 1, 10_000_000))
    m = Matrix((ModelSource("resnet"),), ("torch",), (1,), ("fp32",), ("explicit",),
               (huge, ShapeProfile("small", batch=(1, 1, 8))))
    doc = run_matrix(m, fast_settings, str(tmp_path))
    by_profile = {r.variant.profile.name: r for r in doc.records}
    assert by_profile["huge"].status == "failed" and not by_profile["huge"].trials  # failed in the build pass
    assert "memory" in by_profile["huge"].reason.lower()
    assert by_profile["small"].ok and len(by_profile["small"].trials) == 2
    free_after, _ = mem_get_info()
    assert free_after > free_before - (512 << 20)  # released


def test_nvml_and_cuda_agree_on_the_gpu():
    from trtbench.gpu.fingerprint import gpu_fingerprint
    from trtbench.gpu.nvml import nvml_index_for_cuda_device

    fp = gpu_fingerprint(0)
    assert nvml_index_for_cuda_device(0) == fp["nvml_index"]
    assert fp["pci_bus_id"]


def _ort_cuda_reason():
    try:
        import onnxruntime
    except Exception as exc:
        return f"onnxruntime cannot be imported: {exc}"
    if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        return "onnxruntime has no CUDA provider here (install onnxruntime-gpu)"
    return None


needs_ort_cuda = pytest.mark.skipif(_ort_cuda_reason() is not None, reason=str(_ort_cuda_reason()))


@needs_ort_cuda
@pytest.mark.parametrize("precision", ["fp32", "tf32", "fp16", "fp16-io"])
def test_onnxruntime_cuda_shares_buffers_timer_and_nvml(precision, fast_settings, tmp_path):
    from dataclasses import replace

    from tests.helpers import measure_variant
    from trtbench.matrix.spec import ShapeProfile, Variant
    from trtbench.models.loading import ModelSource

    v = Variant(ModelSource("resnet"), "onnxruntime", 8, precision, "explicit", ShapeProfile("p", batch=(1, 8, 16)))
    rec = measure_variant(v, replace(fast_settings, duration_s=0.1, cuda_graph=False), tmp_path)
    assert rec.ok, rec.reason or rec.error
    b = rec.backend
    assert b["device"] == "cuda:0" and b["providers"][0] == "CUDAExecutionProvider"
    assert b["tf32"] == (precision == "tf32")
    assert rec.timing["timer"].startswith("cuda-events") and {t.compute_timing for t in rec.trials} == {"eager"}
    assert rec.nvml["summary"]["samples"] >= 2
    assert not rec.accuracy["inaccurate"], rec.accuracy
    assert b["h2d_bytes"] == 8 * 3 * 32 * 32 * (2 if precision.endswith("-io") else 4)
    assert b["device_buffer_bytes"] >= 16 * 3 * 32 * 32 * (2 if precision.endswith("-io") else 4)  # profile max
    if precision == "fp32":
        assert rec.accuracy["rel_l2"] < 1e-5  # TF32 really off


@needs_ort_cuda
def test_onnxruntime_cuda_throughput_mode_and_graph_fallback(fast_settings, tmp_path):
    from dataclasses import replace

    from tests.helpers import measure_variant
    from trtbench.matrix.spec import Variant
    from trtbench.models.loading import ModelSource

    v = Variant(ModelSource("transformer"), "onnxruntime", 4, "fp16", "implicit")
    rec = measure_variant(v, replace(fast_settings, mode="throughput", cuda_graph=False), tmp_path / "a")
    assert rec.ok, rec.reason or rec.error
    assert rec.timing["mode"] == "throughput" and not rec.accuracy["inaccurate"]
    rec = measure_variant(v, replace(fast_settings, cuda_graph=True), tmp_path / "b")  # the default
    assert rec.ok, rec.reason or rec.error
    assert {t.compute_timing for t in rec.trials} == {"eager (graph fallback: NotApplicable: onnxruntime's Run "
                                                       "synchronises with the host and cannot be captured in a CUDA "
                                                       "graph)"}


@needs_ort_cuda
def test_process_isolation_on_the_gpu(fast_settings, tmp_path):
    """Each trial in a fresh worker process (forkserver) on the GPU: trials measured there, telemetry follows."""
    from dataclasses import replace

    from tests.helpers import run_variants
    from trtbench.matrix.spec import Variant
    from trtbench.models.loading import ModelSource

    vs = [Variant(ModelSource("mlp"), "onnxruntime", b, "fp32", "implicit") for b in (1, 8)]
    _, doc = run_variants(vs, replace(fast_settings, isolation="process", trials=3, duration_s=0.1), tmp_path)
    assert doc.status == "complete" and doc.protocol["isolation"] == "process"
    for rec in doc.records:
        assert rec.ok and len(rec.trials) == 3 and rec.backend["device"] == "cuda:0"
        assert len({t.process for t in rec.trials}) == 3 and all(t.process.startswith("worker pid") for t in rec.trials)
        assert rec.nvml["summary"]["samples"] >= 2


@needs_ort_cuda
@pytest.mark.parametrize("precision", ["bf16", "bf16-io"])
def test_onnxruntime_cuda_runs_modelopt_bf16_models(precision, fast_settings, tmp_path):
    pytest.importorskip("modelopt.onnx.autocast", reason="NVIDIA ModelOpt (the bf16 extra) is not installed")
    from tests.helpers import measure_variant
    from trtbench.matrix.spec import Variant
    from trtbench.models.loading import ModelSource

    rec = measure_variant(Variant(ModelSource("transformer"), "onnxruntime", 8, precision, "implicit"), fast_settings,
                          tmp_path)
    assert rec.ok, rec.reason or rec.error
    b = rec.backend
    assert b["providers"][0] == "CUDAExecutionProvider" and "ModelOpt AutoCast bf16" in b["precision_method"]
    assert 1e-3 < rec.accuracy["rel_l2"] < 5e-2  # bf16-sized error: computed in bf16, not silently in fp32
    assert b["h2d_bytes"] == 8 * 32 * 128 * (2 if precision == "bf16-io" else 4)
