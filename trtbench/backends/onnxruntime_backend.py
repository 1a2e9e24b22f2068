"""onnxruntime: the reference runtime, the CPU backend, and a GPU backend when onnxruntime-gpu is installed.

Every tensor is bound by pointer (``IOBinding.bind_input/bind_output`` with the ONNX element type), so
bfloat16 tensors, which numpy cannot hold, travel as their 16-bit patterns like on the other backends.

- CPU provider: the session's IOBinding reads and writes host buffers (``HostBuffers``, allocated once,
  sized for the profile maximum); ``h2d`` copies the caller's data into them, ``compute`` runs the bound
  session, ``d2h`` copies the outputs back; the host clock times them. Queries in flight (concurrency N)
  are N IOBindings of the one session, each on its own buffers, run from N threads (``run_with_iobinding``
  releases the GIL).
- CUDA provider: the session binds the GPU backends' pinned/device buffers (``IOBuffers``) and uses the
  CUDA-event stage timer. onnxruntime computes on a stream of ours (``user_compute_stream``) that waits
  for the H2D copy on the timer's stream; ``Run`` returns when its work is done, so the copies and the
  compute are ordered in every timing mode. TF32 follows the precision (``use_tf32``): off for fp32.
  A session's compute stream is fixed when it is created, so each further query in flight gets its own
  session (and stream): N sessions hold N copies of the weights.

The stages are a slot's (``_OrtSlot``): the same code for both providers.
"""

from __future__ import annotations

import re
import time
from typing import Dict, List, Optional, Tuple

import numpy as np

from trtbench.backends.gpu_base import GpuBackend
from trtbench.backends.registry import Availability
from trtbench.backends.slot import Slot
from trtbench.bfloat16 import narrow, widen
from trtbench.errors import NotApplicable, VariantSkipped
from trtbench.gpu import cuda
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
    too_new = _too_new(text)
    if too_new:
        return NotApplicable(too_new)
    if "NOT_IMPLEMENTED" in text:
        return VariantSkipped(f"onnxruntime's {where} provider cannot run this {precision} model: "
                              f"{text.split('NOT_IMPLEMENTED : ')[-1]}")
    unplaced = re.search(r"Provider type for (\w+) node with name '([^']*)' is not set", text)
    if unplaced:  # no provider has a kernel for this node's types, so none was assigned
        return VariantSkipped(f"onnxruntime's {where} provider cannot run this {precision} model: no kernel for "
                              f"{unplaced.group(1)} (node {unplaced.group(2)}) in these types")
    return NotApplicable(f"onnxruntime cannot load this model: {text}")


def _too_new(text: str) -> Optional[str]:
    """onnxruntime's refusal of an opset or IR version it does not know (a C++ signature, then the facts) as one
    line: what the model has, what this onnxruntime reads, how to fix it."""
    version = getattr(_ort(), "__version__", "?")
    m = re.search(r"Opset (\d+) is under development.*support for domain (\S+) is till opset (\d+)", text)
    if m:
        have, domain, top = m.group(1), m.group(2).rstrip("."), m.group(3).rstrip(".")
        return (f"the model's opset {have} (domain {domain}) is newer than onnxruntime {version} reads (up to opset "
                f"{top}): re-export the model at opset {top} or lower, or install a newer onnxruntime")
    m = re.search(r"Unsupported model IR version: (\d+), max supported IR version: (\d+)", text)
    if m:
        return (f"the model's IR version {m.group(1)} is newer than onnxruntime {version} reads (up to IR version "
                f"{m.group(2)}): re-export or convert the model to IR version {m.group(2)} or lower, or install a "
                f"newer onnxruntime")
    return None


class _Handoff:
    """CUDA provider: onnxruntime computes on its session's own stream (``user_compute_stream``); calling this
    with the timer's stream makes that stream wait for the H2D copies enqueued there (an event between them)."""

    def __init__(self) -> None:
        self.stream = cuda.Stream()
        self.event = cuda.Event(blocking=False)
        r = cuda.rt()  # bound once: this is on the timed path
        self._record, self._wait = r.cudaEventRecord, r.cudaStreamWaitEvent
        self._e, self._s = self.event._e, self.stream.raw
        self.handle = self.stream.handle

    def __call__(self, stream) -> None:
        err = self._record(self._e, stream)[0] or self._wait(self._s, self._e, 0)[0]
        if err:
            check((err,), "cudaEventRecord/cudaStreamWaitEvent (onnxruntime's stream)")

    def synchronize(self) -> None:
        self.stream.synchronize()

    def destroy(self) -> None:
        self.event.destroy()
        self.stream.destroy()


class _HostHandoff:
    """CPU provider: the stages are synchronous, nothing to hand over."""

    handle = None

    def __call__(self, stream) -> None:
        pass

    def synchronize(self) -> None:
        pass

    def destroy(self) -> None:
        pass


class _OrtSlot(Slot):
    """One query in flight: an IOBinding of a session over this slot's buffers."""

    def __init__(self, index: int, buffers, session, binding, handoff, owns_handoff: bool) -> None:
        super().__init__(index, buffers)
        self.session, self.binding, self.handoff = session, binding, handoff
        self.owns_handoff = owns_handoff
        self._run = session.run_with_iobinding

    def compute(self, stream) -> None:
        self.handoff(stream)  # CUDA: onnxruntime's stream waits for the H2D copies; host: nothing
        self._run(self.binding)

    def _drop(self) -> None:
        if self.owns_handoff and self.handoff is not None:
            self.handoff.destroy()
        self.binding = self.session = self.handoff = self._run = None


def _probe(session, binding, where: Tuple[str, int], in_types, out_types,
           inputs: Dict[str, Tuple[int, Tuple[int, ...]]]) -> Dict[str, Tuple[int, ...]]:
    """Output shapes for inputs bound at (pointer, shape): one run with onnxruntime-allocated outputs."""
    device, dev_id = where
    for n, (ptr, shape) in inputs.items():
        binding.bind_input(n, device, dev_id, in_types[n][0], list(shape), ptr)
    for n in out_types:
        binding.bind_output(n, device, dev_id)
    session.run_with_iobinding(binding)
    shapes = {n: tuple(v.shape()) for n, v in zip(out_types, binding.get_outputs())}
    binding.clear_binding_outputs()
    return shapes


class OnnxRuntimeBackend(GpuBackend):
    name = "onnxruntime"
    on_gpu = False  # decided in _prepare: True when the CUDA provider is installed

    def __init__(self, variant, settings, prepared) -> None:
        super().__init__(variant, settings, prepared)
        self.session = None  # slot 0's (and, on the CPU, every slot's) session
        self._handoff = None  # the session's stream hand-over (CUDA) or a no-op (CPU)
        self._model_bytes: Optional[bytes] = None
        self._in: Dict[str, Tuple[object, np.dtype]] = {}
        self._out: Dict[str, Tuple[object, np.dtype]] = {}
        self._run_in: Dict[str, np.ndarray] = {}
        self._max_in: Dict[str, Tuple[int, ...]] = {}
        self._max_out: Dict[str, Tuple[int, ...]] = {}

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

    def _where(self) -> Tuple[str, int]:
        return ("cuda", self.settings.device) if self.on_gpu else ("cpu", 0)

    def _open_session(self, handoff):
        """A session whose CUDA provider (if any) computes on ``handoff``'s stream."""
        ort = _ort()
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3
        providers: List = ["CPUExecutionProvider"]
        if self.on_gpu:
            providers.insert(0, ("CUDAExecutionProvider", {
                "device_id": str(self.settings.device), "use_tf32": "1" if self.variant.precision == "tf32" else "0",
                "user_compute_stream": str(handoff.handle)}))
        try:
            return ort.InferenceSession(self._model_bytes, sess_options=opts, providers=providers)
        except Exception as exc:
            raise _load_failure(exc, "CUDA" if self.on_gpu else "CPU", self.variant.precision) from None

    def _load(self) -> None:
        ort = _ort()
        if self.on_gpu:
            if hasattr(ort, "preload_dlls"):  # CUDA/cuDNN from the nvidia-* wheels (e.g. torch's), if any
                try:
                    ort.preload_dlls()
                except Exception:
                    pass  # the session's provider check below reports what is missing
            cuda.set_device(self.settings.device)
        self._handoff = _Handoff() if self.on_gpu else _HostHandoff()
        t0 = time.perf_counter()
        self.session = self._open_session(self._handoff)
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
        self._run_in = {n: narrow(np.asarray(feeds[n]), self._in[n][1]) for n in self._in}
        self._max_in = {n: tuple(self.prepared.max_shapes.get(n, a.shape)) for n, a in self._run_in.items()}
        try:
            self._max_out = self._probe_max()
            self._bind_slot0()
        except RuntimeError as exc:
            if "Not a valid numpy type" in str(exc):  # an integer (bf16) element type on onnxruntime < 1.20
                raise VariantSkipped(f"onnxruntime {_ort().__version__} cannot bind bfloat16 tensors by pointer: "
                                     f"upgrade onnxruntime (1.20 or newer)") from None
            raise

    def _probe_max(self) -> Dict[str, Tuple[int, ...]]:
        """Output shapes at the profile maximum (they size the output buffers); zeros are valid token ids too."""
        staging = self.buffer_class()({n: (self._in[n][1], s) for n, s in self._max_in.items()}, {})
        try:
            staging.load_inputs({n: np.zeros(s, self._in[n][1]) for n, s in self._max_in.items()})
            staging.h2d(self._handoff.handle)
            self._handoff.synchronize()
            return _probe(self.session, self.session.io_binding(), self._where(), self._in, self._out,
                          {n: (staging.inputs[n].device.ptr, s) for n, s in self._max_in.items()})
        finally:
            staging.free()

    def _new_slot(self, index: int) -> _OrtSlot:
        """Slot 0 binds the session made by load. On CUDA every further slot has its own session (a session's
        compute stream is fixed); on the CPU every slot is another IOBinding of the one session."""
        own = self.on_gpu and index > 0
        handoff = _Handoff() if own else self._handoff
        try:
            session = self._open_session(handoff) if own else self.session
            buffers = self.buffer_class()({n: (self._in[n][1], s) for n, s in self._max_in.items()},
                                          {n: (self._out[n][1], s) for n, s in self._max_out.items()})
        except BaseException:
            if own:
                handoff.destroy()
            raise
        slot = _OrtSlot(index, buffers, session, session.io_binding(), handoff, own)
        try:
            buffers.load_inputs(self._run_in)
            buffers.h2d(handoff.handle)
            handoff.synchronize()
            where = self._where()
            in_ptrs = {n: (b.device.ptr, b.shape) for n, b in buffers.inputs.items()}
            for n, shape in _probe(session, slot.binding, where, self._in, self._out, in_ptrs).items():
                buffers.set_shape(n, shape)
            for n, b in buffers.outputs.items():
                slot.binding.bind_output(n, where[0], where[1], self._out[n][0], list(b.shape), b.device.ptr)
            return slot
        except BaseException:
            slot.release()
            raise

    def _outputs(self) -> Dict[str, np.ndarray]:
        return {n: widen(np.array(a), self._out[n][1]) for n, a in self.slots[0].host_outputs().items()}

    captures_graphs = False

    def graph_factory(self):
        def refuse(compute, stream):
            raise NotApplicable("onnxruntime's Run synchronises with the host and cannot be captured in a CUDA graph")
        return refuse

    def _release(self) -> None:
        self._release_slots()
        self.session = None
        if self._handoff is not None:
            self._handoff.destroy()
            self._handoff = None
