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
    from trtbench.gpu.event_timer import CudaEventStageTimer

    stages = _CopyStages(16 << 20)
    try:
        plan = LoopPlan(warmup_s=0.02, min_iterations=20, min_duration_s=0.1, max_iterations=1000)
        raw = CudaEventStageTimer(mode, cuda_graph=graph).run(stages, plan)
    finally:
        stages.free()
    assert raw.queries >= 20
    h2d_gbs = (16 << 20) / (np.median(raw.h2d) / 1e3) / 1e9
    assert 5 < h2d_gbs < 80, h2d_gbs  # pinned PCIe gen4/5: tens of GB/s
    for lat, a, b, c in zip(raw.latency, raw.h2d, raw.compute, raw.d2h):
        assert lat == pytest.approx(a + b + c)
    assert all(e >= l * 0.99 for e, l in zip(raw.e2e, raw.latency)) or mode == "throughput"
    assert raw.walltime_s > 0
    if mode == "throughput":  # overlap: queries per second beat 1 / median latency
        assert raw.queries / raw.walltime_s > 1.2 / (np.median(raw.latency) / 1e3)


def test_event_timer_without_transfers_times_compute_only():
    from trtbench.gpu.event_timer import CudaEventStageTimer

    stages = _CopyStages(1 << 20)
    try:
        raw = CudaEventStageTimer("latency").run(stages, LoopPlan(0.0, 10, 0.0, 10, data_transfers=False))
    finally:
        stages.free()
    assert raw.queries == 10 and raw.h2d == [] and raw.d2h == []


def test_nvml_sampler_records_series_and_energy():
    from trtbench.gpu.nvml import NvmlSampler

    s = NvmlSampler(0, interval_ms=10)
    s.start()
    time.sleep(1.2)
    s.stop()
    out = s.summary(inferences=1000)
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
def test_torch_cuda_variants_are_accurate(precision, fast_settings):
    from trtbench.matrix.spec import ShapeProfile, Variant
    from trtbench.models.loading import ModelSource
    from trtbench.runner import default_sampler_factory, run_variant

    v = Variant(ModelSource("resnet"), "torch", 8, precision, "explicit", ShapeProfile("p", batch=(1, 8, 16)))
    rec = run_variant(v, fast_settings, default_sampler_factory())
    assert rec["status"] == "ok", rec.get("error")
    assert rec["backend"]["device"].startswith("cuda")
    assert rec["timing"]["timer"].startswith("cuda-events")
    assert not rec["accuracy"]["inaccurate"], rec["accuracy"]
    assert rec["nvml"]["summary"]["samples"] >= 2
    if precision.endswith("-io"):
        assert rec["backend"]["h2d_bytes"] == 8 * 3 * 32 * 32 * 2
    else:
        assert rec["backend"]["h2d_bytes"] == 8 * 3 * 32 * 32 * 4


@pytest.mark.torch
@pytest.mark.parametrize("mode,graph", [("throughput", False), ("latency", True), ("throughput", True)])
def test_torch_cuda_modes_and_graphs(mode, graph, fast_settings):
    from dataclasses import replace

    from trtbench.matrix.spec import Variant
    from trtbench.models.loading import ModelSource
    from trtbench.runner import run_variant

    v = Variant(ModelSource("resnet"), "torch", 4, "fp16", "implicit")
    rec = run_variant(v, replace(fast_settings, mode=mode, cuda_graph=graph))
    assert rec["status"] == "ok", rec.get("error")
    assert rec["timing"]["mode"] == mode and rec["timing"]["cuda_graph"] == graph
    assert not rec["accuracy"]["inaccurate"]


@pytest.mark.torch
def test_uncapturable_module_is_skipped_with_the_reason(fast_settings):
    from dataclasses import replace

    from trtbench.matrix.spec import Variant
    from trtbench.models.loading import ModelSource
    from trtbench.runner import run_variant

    v = Variant(ModelSource("transformer"), "torch", 4, "fp32", "implicit")
    rec = run_variant(v, replace(fast_settings, cuda_graph=True))
    assert rec["status"] == "skipped" and "without --cuda-graph" in rec["reason"]
    again = run_variant(v, fast_settings)  # the context is still usable afterwards
    assert again["status"] == "ok", again.get("error")


@pytest.mark.torch
def test_out_of_memory_is_a_failed_variant_and_the_matrix_goes_on(tmp_path, fast_settings):
    from trtbench.gpu.cuda import mem_get_info
    from trtbench.matrix.spec import Matrix, ShapeProfile
    from trtbench.models.loading import ModelSource
    from trtbench.runner import run_matrix

    free_before, _ = mem_get_info()
    # a profile whose maximum needs ~123 GB of device memory for the input alone; the host side stays small
    huge = ShapeProfile("huge", batch=(1, 1, 10_000_000))
    m = Matrix((ModelSource("resnet"),), ("torch",), (1,), ("fp32",), ("explicit",),
               (huge, ShapeProfile("small", batch=(1, 1, 8))))
    out = run_matrix(m, fast_settings, str(tmp_path))
    by_profile = {r["variant"]["profile"]["name"]: r for r in out.records}
    assert by_profile["huge"]["status"] == "failed"
    assert "memory" in by_profile["huge"]["reason"].lower()
    assert by_profile["small"]["status"] == "ok"
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
def test_onnxruntime_cuda_shares_buffers_timer_and_nvml(precision, fast_settings):
    from trtbench.matrix.spec import ShapeProfile, Variant
    from trtbench.models.loading import ModelSource
    from trtbench.runner import default_sampler_factory, run_variant

    v = Variant(ModelSource("resnet"), "onnxruntime", 8, precision, "explicit", ShapeProfile("p", batch=(1, 8, 16)))
    rec = run_variant(v, fast_settings, default_sampler_factory())
    assert rec["status"] == "ok", rec.get("reason") or rec.get("error")
    b = rec["backend"]
    assert b["device"] == "cuda:0" and b["providers"][0] == "CUDAExecutionProvider"
    assert b["tf32"] == (precision == "tf32")
    assert rec["timing"]["timer"].startswith("cuda-events")
    assert rec["nvml"]["summary"]["samples"] >= 2
    assert not rec["accuracy"]["inaccurate"], rec["accuracy"]
    assert b["h2d_bytes"] == 8 * 3 * 32 * 32 * (2 if precision.endswith("-io") else 4)
    assert b["device_buffer_bytes"] >= 16 * 3 * 32 * 32 * (2 if precision.endswith("-io") else 4)  # profile max
    if precision == "fp32":
        assert rec["accuracy"]["rel_l2"] < 1e-5  # TF32 really off


@needs_ort_cuda
def test_onnxruntime_cuda_throughput_mode_and_graph_refusal(fast_settings):
    from dataclasses import replace

    from trtbench.matrix.spec import Variant
    from trtbench.models.loading import ModelSource
    from trtbench.runner import run_variant

    v = Variant(ModelSource("transformer"), "onnxruntime", 4, "fp16", "implicit")
    rec = run_variant(v, replace(fast_settings, mode="throughput"))
    assert rec["status"] == "ok", rec.get("reason") or rec.get("error")
    assert rec["timing"]["mode"] == "throughput" and not rec["accuracy"]["inaccurate"]
    rec = run_variant(v, replace(fast_settings, cuda_graph=True))
    assert rec["status"] == "skipped" and "without --cuda-graph" in rec["reason"]


@needs_ort_cuda
@pytest.mark.parametrize("precision", ["bf16", "bf16-io"])
def test_onnxruntime_cuda_runs_modelopt_bf16_models(precision, fast_settings):
    pytest.importorskip("modelopt.onnx.autocast", reason="NVIDIA ModelOpt (the bf16 extra) is not installed")
    from trtbench.matrix.spec import Variant
    from trtbench.models.loading import ModelSource
    from trtbench.runner import run_variant

    rec = run_variant(Variant(ModelSource("transformer"), "onnxruntime", 8, precision, "implicit"), fast_settings)
    assert rec["status"] == "ok", rec.get("reason") or rec.get("error")
    b = rec["backend"]
    assert b["providers"][0] == "CUDAExecutionProvider" and "ModelOpt AutoCast bf16" in b["precision_method"]
    assert 1e-3 < rec["accuracy"]["rel_l2"] < 5e-2  # bf16-sized error: computed in bf16, not silently in fp32
    assert b["h2d_bytes"] == 8 * 32 * 128 * (2 if precision == "bf16-io" else 4)
