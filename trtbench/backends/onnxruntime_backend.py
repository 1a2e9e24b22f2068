"""onnxruntime: the reference runtime, the CPU backend, and a GPU backend when onnxruntime-gpu is installed.

Every tensor is bound by pointer (``IOBinding.bind_input/bind_output`` with the ONNX element type), so
bfloat16 tensors, which numpy cannot hold, travel as their 16-bit patterns like on the other backends.

- CPU provider: ``h2d`` copies the caller's arrays into the buffers bound to the session (allocated once,
  sized for the profile maximum), ``compute`` runs the bound session, ``d2h`` copies the bound outputs
  into the result arrays; the host clock times them.
- CUDA provider: the session shares the GPU backends' pinned/device buffers (``IOBuffers``) and the
  CUDA-event stage timer. onnxruntime computes on a stream of ours (``user_compute_stream``) that waits
  for the H2D copy on the timer's stream; ``Run`` returns when its work is done, so the copies and the
  compute are ordered in every timing mode. TF32 follows the precision (``use_tf32``): off for fp32.
"""

from __future__ import annotations

import re
import time
from typing import Dict, List, Tuple

import numpy as np

from trtbench.backends.gpu_base import GpuBackend
from trtbench.backends.registry import Availability
from trtbench.bfloat16 import narrow, widen
from trtbench.errors import NotApplicable, VariantSkipped
from trtbench.gpu import cuda
from trtbench.gpu.buffers import IOBuffers
from trtbench.gpu.cuda import check
from trtbench.precision.transform import apply_precision

# onnxruntime type string -> (ONNX element type, numpy storage dtype); bf16 is stored as uint16 bits
_TYPES: Dict[str, Tuple[int, np.dtype]] = {
    "tensor(float)": (1, np.dtype(np.float32)), "tensor(uint8)": (2, np.dtype(np.uint8)),
    "tensor(int8)": (3, np.dtype(np.int8)), "tensor(int32)": (6, np.dtype(np.int32)),
    "tensor(int64)": (7, np.dtype(np.int64)), "tensor(bool)": (9, np.dtype(np.bool_)),
    "tensor(float16)": (10, np.dtype(np.float16)), "tensor(double)": (11, np.dtype(np.float64)),
    "tensor(bfloat16)": (16, np.dtype(np.uint16)),
}


def _ort():
    import onnxruntime

    return onnxruntime


def _cuda_provider_listed() -> bool:
    return "CUDAExecutionProvider" in _ort().get_available_providers()


def _io_type(ort_type: str) -> Tuple[object, np.dtype]:
    """(element type to bind with, numpy storage dtype). The numpy type binds on every onnxruntime; bf16
    has none, so it binds by its ONNX element type (onnxruntime 1.20+ takes integers there)."""
    if ort_type not in _TYPES:
        raise NotApplicable(f"onnxruntime tensor type {ort_type} is not one trtbench can feed or read")
    onnx_type, storage = _TYPES[ort_type]
    return (onnx_type if ort_type == "tensor(bfloat16)" else storage.type), storage


def _load_failure(exc: Exception, where: str, precision: str) -> VariantSkipped:
    """onnxruntime's session-creation error as a skip: an operator without a kernel for these types (said
    in onnxruntime's words, which name the operator), or a model it cannot load."""

    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if "NOT_IMPLEMENTED" in text:
        return VariantSkipped(f"onnxruntime's {where} provider cannot run this {precision} model: "
                              f"{text.split('NOT_IMPLEMENTED : ')[-1]}")
    unplaced = re.search(r"Provider type for (\w+) node with name '([^']*)' is not set", text)
    if unplaced:  # no provider has a kernel for this node's types, so none was assigned
        return VariantSkipped(f"onnxruntime's {where} provider cannot run this {precision} model: no kernel for "
                              f"{unplaced.group(1)} (node {unplaced.group(2)}) in these types")
    return NotApplicable(f"onnxruntime cannot load this model: {text}")


class OnnxRuntimeBackend(GpuBackend):
    name = "onnxruntime"
    on_gpu = False  # decided in _prepare: True when the CUDA provider is installed

    @classmethod
    def availability(cls) -> Availability:
        try:
            ort = _ort()
        except Exception as exc:  # ImportError, or a broken install
            return Availability(cls.name, False, None, f"onnxruntime cannot be imported ({exc}); "
                                                       f"pip install onnxruntime")
        device = "cuda:0" if "CUDAExecutionProvider" in ort.get_available_providers() else "cpu"
        return Availability(cls.name, True, ort.__version__, None, device)

    # ---- lifecycle parts ------------------------------------------------------------------------
    def _prepare(self) -> None:
        a = self.require()
        p = self.variant.precision
        self.on_gpu = _cuda_provider_listed()
        if p == "tf32" and not self.on_gpu:
            raise NotApplicable("tf32 is a CUDA math mode; this onnxruntime has only the CPU provider "
                                "(install onnxruntime-gpu)")
        converted = apply_precision(self.prepared.model, p, self.settings)
        self._model_bytes = converted.model.SerializeToString()
        method = converted.method
        if p == "tf32":
            method = "fp32 model, the CUDA provider's use_tf32 on"
        if p == "int8" and self.on_gpu:  # said plainly: the speed is not int8 compute
            method += ("; on the CUDA provider the Q/DQ nodes run but convolutions and matmuls compute in float "
                       "(it has no int8 kernels for them)")
        self.facts.update(runtime_version=a.version, precision_method=method,
                          model_bytes=len(self._model_bytes),
                          device=f"cuda:{self.settings.device}" if self.on_gpu else "cpu")

    def _providers(self) -> List:
        if not self.on_gpu:
            return ["CPUExecutionProvider"]
        options = {"device_id": str(self.settings.device),
                   "use_tf32": "1" if self.variant.precision == "tf32" else "0",
                   "user_compute_stream": str(self._stream.handle)}
        return [("CUDAExecutionProvider", options), "CPUExecutionProvider"]

    def _load(self) -> None:
        ort = _ort()
        if self.on_gpu:

            if hasattr(ort, "preload_dlls"):  # CUDA/cuDNN from the nvidia-* wheels (e.g. torch's), if any
                try:
                    ort.preload_dlls()
                except Exception:
                    pass  # the session's provider check below reports what is missing
            cuda.set_device(self.settings.device)
            self._stream = cuda.Stream()  # onnxruntime computes here
            self._ready = cuda.Event(blocking=False)  # the H2D copies are done
            # bound once: the compute stage is on the timed path
            r = cuda.rt()
            self._record, self._wait = r.cudaEventRecord, r.cudaStreamWaitEvent
            self._ready_e, self._ort_s = self._ready._e, self._stream.raw
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3
        t0 = time.perf_counter()
        try:
            self.session = ort.InferenceSession(self._model_bytes, sess_options=opts, providers=self._providers())
        except Exception as exc:
            raise _load_failure(exc, "CUDA" if self.on_gpu else "CPU", self.variant.precision) from None
        self.facts["build_time_s"] = time.perf_counter() - t0
        self.facts["providers"] = self.session.get_providers()
        if self.on_gpu and self.session.get_providers()[0] != "CUDAExecutionProvider":
            raise VariantSkipped("onnxruntime's CUDA provider is installed but did not load (its CUDA/cuDNN "
                                 "libraries are missing?): run with onnxruntime's CPU build instead")
        if self.on_gpu:
            opts = self.session.get_provider_options().get("CUDAExecutionProvider", {})
            self.facts["tf32"] = opts.get("use_tf32") == "1"

    def _bind(self, feeds: Dict[str, np.ndarray]) -> None:
        sess = self.session
        self._in = {i.name: _io_type(i.type) for i in sess.get_inputs()}
        self._out = {o.name: _io_type(o.type) for o in sess.get_outputs()}
        self.binding = sess.io_binding()
        run_in = {n: narrow(np.asarray(feeds[n]), self._in[n][1]) for n in self._in}
        try:
            if self.on_gpu:
                self._bind_gpu(run_in)
            else:
                self._bind_cpu(run_in)
        except RuntimeError as exc:
            if "Not a valid numpy type" in str(exc):  # an integer (bf16) element type on onnxruntime < 1.20
                raise VariantSkipped(f"onnxruntime {_ort().__version__} cannot bind bfloat16 tensors by pointer: "
                                     f"upgrade onnxruntime (1.20 or newer)") from None
            raise

    def _probe(self, device: str, inputs: Dict[str, Tuple[int, Tuple[int, ...]]]) -> Dict[str, Tuple[int, ...]]:
        """Output shapes for inputs bound at (pointer, shape): one run with onnxruntime-allocated outputs."""
        b, dev_id = self.binding, self.settings.device if device == "cuda" else 0
        for n, (ptr, shape) in inputs.items():
            b.bind_input(n, device, dev_id, self._in[n][0], list(shape), ptr)
        for n in self._out:
            b.bind_output(n, device, dev_id)
        self.session.run_with_iobinding(b)
        shapes = {n: tuple(v.shape()) for n, v in zip(self._out, b.get_outputs())}
        b.clear_binding_outputs()
        return shapes

    def _bind_outputs(self, device: str, outputs: Dict[str, Tuple[int, Tuple[int, ...]]]) -> None:
        dev_id = self.settings.device if device == "cuda" else 0
        for n, (ptr, shape) in outputs.items():
            self.binding.bind_output(n, device, dev_id, self._out[n][0], list(shape), ptr)

    def _bind_cpu(self, run_in: Dict[str, np.ndarray]) -> None:
        self.host_in = {n: np.ascontiguousarray(a) for n, a in run_in.items()}
        self.dev_in = {}
        for n, a in self.host_in.items():
            flat = np.zeros(int(np.prod(self.prepared.max_shapes.get(n, a.shape))), a.dtype)  # profile maximum
            self.dev_in[n] = flat[: a.size].reshape(a.shape)
            np.copyto(self.dev_in[n], a)
        shapes = self._probe("cpu", {n: (v.ctypes.data, v.shape) for n, v in self.dev_in.items()})
        self.dev_out = {n: np.empty(shapes[n], self._out[n][1]) for n in self._out}
        self.host_out = {n: np.empty_like(v) for n, v in self.dev_out.items()}
        self._bind_outputs("cpu", {n: (v.ctypes.data, v.shape) for n, v in self.dev_out.items()})

    def _bind_gpu(self, run_in: Dict[str, np.ndarray]) -> None:
        max_in = {n: tuple(self.prepared.max_shapes.get(n, a.shape)) for n, a in run_in.items()}
        staging = IOBuffers({n: (self._in[n][1], s) for n, s in max_in.items()}, {})
        try:  # output shapes at the profile maximum size the output buffers (zeros: valid token ids too)
            staging.load_inputs({n: np.zeros(s, self._in[n][1]) for n, s in max_in.items()})
            staging.h2d(self._stream.handle)
            self._stream.synchronize()
            max_out = self._probe("cuda", {n: (staging.inputs[n].device.ptr, s) for n, s in max_in.items()})
        finally:
            staging.free()
        self.buffers = IOBuffers({n: (self._in[n][1], s) for n, s in max_in.items()},
                                 {n: (self._out[n][1], s) for n, s in max_out.items()})
        self.buffers.load_inputs(run_in)
        self.buffers.h2d(self._stream.handle)
        self._stream.synchronize()
        in_ptrs = {n: (b.device.ptr, b.shape) for n, b in self.buffers.inputs.items()}
        for n, shape in self._probe("cuda", in_ptrs).items():
            self.buffers.set_shape(n, shape)
        self._bind_outputs("cuda", {n: (b.device.ptr, b.shape) for n, b in self.buffers.outputs.items()})
        self.facts.update(self.buffers.total_bytes())

    # ---- the three stages -----------------------------------------------------------------------
    def _h2d(self, stream) -> None:
        if self.on_gpu:
            self.buffers.h2d(stream)
        else:
            for n, v in self.dev_in.items():
                np.copyto(v, self.host_in[n])

    def _compute(self, stream) -> None:
        if self.on_gpu:  # onnxruntime's stream starts when the timer's stream has the inputs there
            err = self._record(self._ready_e, stream)[0] or self._wait(self._ort_s, self._ready_e, 0)[0]
            if err:

                check((err,), "cudaEventRecord/cudaStreamWaitEvent (onnxruntime's stream)")
        self.session.run_with_iobinding(self.binding)

    def _d2h(self, stream) -> None:
        if self.on_gpu:
            self.buffers.d2h(stream)
        else:
            for n, v in self.dev_out.items():
                np.copyto(self.host_out[n], v)

    def _outputs(self) -> Dict[str, np.ndarray]:
        raw = self.buffers.host_outputs() if self.on_gpu else self.host_out
        return {n: widen(np.array(a), self._out[n][1]) for n, a in raw.items()}

    def graph_factory(self):
        def refuse(compute, stream):
            raise NotApplicable("onnxruntime's Run synchronises with the host and cannot be captured in a CUDA graph")
        return refuse

    def _release(self) -> None:
        for attr in ("binding", "session", "dev_in", "dev_out", "host_in", "host_out"):
            if hasattr(self, attr):
                delattr(self, attr)
        self._free_buffers()
        for attr in ("_ready", "_stream"):
            obj = getattr(self, attr, None)
            if obj is not None:
                obj.destroy()
                setattr(self, attr, None)
