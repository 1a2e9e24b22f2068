"""PyTorch: any ONNX model (the built-ins too) converted by onnx2torch, on CUDA when present, else CPU.

On CUDA the module reads its inputs straight from the harness's device buffers (zero-copy tensors over
``__cuda_array_interface__``) and runs on the harness's stream (``torch.cuda.ExternalStream``); D2H
copies its outputs from where the module left them, with no device-side copy. Precisions: fp32 (TF32
off), tf32 (TF32 matmul/cuDNN on), fp16/bf16 (module cast; inputs cast inside the compute stage) and
fp16-io/bf16-io (inputs and outputs in that type, so H2D/D2H move half the bytes).

On the CPU (torch's CPU build) the same stages run on host buffers (``HostBuffers``: the module's inputs are
tensors over them, D2H copies the outputs from where the module left them) under the host timer, so CI tests
this backend's logic for real. Queries in flight (concurrency N) are N slots, each with its own buffers and
input tensors over them, computing the one module on the slot's stream (on the CPU: from N threads).
"""

from __future__ import annotations

import contextlib
import time
from typing import Dict, List, Optional, Tuple

import numpy as np

from trtbench.backends.gpu_base import GpuBackend
from trtbench.backends.registry import Availability
from trtbench.backends.slot import Slot
from trtbench.bfloat16 import narrow, widen
from trtbench.errors import NotApplicable

_HALF = {"fp16": "float16", "fp16-io": "float16", "bf16": "bfloat16", "bf16-io": "bfloat16"}


def _torch():
    import torch

    return torch


class _CudaArray:
    """A device pointer presented through ``__cuda_array_interface__`` (no copy)."""

    def __init__(self, ptr: int, shape, dtype: np.dtype) -> None:
        self.__cuda_array_interface__ = {"shape": tuple(shape), "typestr": np.dtype(dtype).str,
                                         "data": (int(ptr), False), "version": 3, "stream": None}


class _TorchGraph:
    """The compute stage captured with torch's own CUDA graph API (it knows torch's allocator)."""

    def __init__(self, backend: "TorchBackend", compute, stream) -> None:
        torch = _torch()
        self._ext = backend._ext
        # A module that synchronises with the host cannot be captured, and a failed capture leaves the CUDA
        # context unusable: find out first, with torch's sync debug mode raising on any synchronising op.
        previous = torch.cuda.get_sync_debug_mode()
        torch.cuda.set_sync_debug_mode("error")
        try:
            compute(stream.handle)
        except RuntimeError as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise NotApplicable(f"this torch module cannot be captured in a CUDA graph: it synchronises with the "
                                f"host during compute ({first}; onnx2torch's Reshape, for one, reads its target "
                                f"shape from the GPU); run it without --cuda-graph") from None
        finally:
            torch.cuda.set_sync_debug_mode(previous)
            stream.synchronize()
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph, stream=self._ext(stream.handle)):
            compute(stream.handle)

    def launch(self, stream_handle: int) -> None:
        with _torch().cuda.stream(self._ext(stream_handle)):
            self.graph.replay()

    def destroy(self) -> None:
        self.graph.reset()


class _TorchSlot(Slot):
    """One query in flight: the module's input tensors over this slot's buffers (zero-copy), the outputs of its
    recent queries (kept alive while their D2H may still read them), and the stream context to compute in."""

    def __init__(self, index: int, buffers, inputs: List, out_names: List[str], run, on_stream) -> None:
        super().__init__(index, buffers)
        self.inputs = inputs
        self._names, self._run, self._on_stream = out_names, run, on_stream
        self._ring: List = [None, None, None]
        self._q = 0

    def compute(self, stream) -> None:
        with self._on_stream(stream):
            outs = self._run(self.inputs)
        self._ring[self._q % 3] = outs
        self._q += 1
        for n, o in zip(self._names, outs):  # D2H reads the outputs where the module left them
            self.buffers.set_output_source(n, o.data_ptr())

    def _drop(self) -> None:
        self.inputs = self._ring = self._run = self._on_stream = None


class TorchBackend(GpuBackend):
    name = "torch"

    def __init__(self, variant, settings, prepared) -> None:
        super().__init__(variant, settings, prepared)
        self.module = None
        self.device = None
        self.compute_dtype = self.io_dtype = None
        self.out_names: List[str] = []
        self._streams: Dict[int, object] = {}  # stream handle -> torch ExternalStream
        self._tf32: Optional[Tuple[bool, bool]] = None  # torch's TF32 switches before load, restored on release
        self._io_feeds: Dict[str, np.ndarray] = {}
        self._max_out: Dict[str, Tuple[int, ...]] = {}

    @classmethod
    def availability(cls) -> Availability:
        try:
            torch = _torch()
        except Exception as exc:
            return Availability(cls.name, False, None, f"PyTorch cannot be imported ({exc}); "
                                                       f"pip install 'trtbench[torch]'")
        try:
            import onnx2torch  # noqa: F401
        except Exception as exc:
            return Availability(cls.name, False, torch.__version__,
                                f"onnx2torch cannot be imported ({type(exc).__name__}: {exc}); "
                                f"pip install onnx2torch==1.5.8 (it needs torchvision)")
        device = "cuda:0" if torch.cuda.is_available() else "cpu"
        return Availability(cls.name, True, torch.__version__, None, device)

    # ---- lifecycle parts ------------------------------------------------------------------------
    def _prepare(self) -> None:
        import onnx2torch

        self.require()
        torch = _torch()
        self.on_gpu = torch.cuda.is_available()
        if self.variant.precision not in ("fp32", "tf32") + tuple(_HALF):
            raise NotApplicable(f"torch runs fp32, tf32, fp16 and bf16; {self.variant.precision} is not one")
        t0 = time.perf_counter()
        try:
            self.module = onnx2torch.convert(self.prepared.model).eval()
        except Exception as exc:
            raise NotApplicable(f"onnx2torch cannot convert this model: {type(exc).__name__}: {exc}") from None
        self.facts.update(runtime_version=torch.__version__, onnx2torch_version=getattr(onnx2torch, "__version__", None),
                          device=f"cuda:{self.settings.device}" if self.on_gpu else "cpu",
                          convert_time_s=time.perf_counter() - t0)
        p = self.variant.precision
        self.compute_dtype = getattr(torch, _HALF.get(p, "float32"))
        self.io_dtype = self.compute_dtype if p.endswith("-io") else torch.float32
        self.facts["precision_method"] = {
            "fp32": "module in float32, TF32 off", "tf32": "module in float32, TF32 matmul and cuDNN on",
        }.get(p, f"module cast to {_HALF.get(p)} ({'I/O in ' + _HALF[p] if p.endswith('-io') else 'float32 I/O kept'})")

    def _load(self) -> None:
        torch = _torch()
        t0 = time.perf_counter()
        if self.on_gpu:
            torch.cuda.set_device(self.settings.device)
            self.device = torch.device("cuda", self.settings.device)
        else:
            self.device = torch.device("cpu")
        self.module = self.module.to(device=self.device, dtype=self.compute_dtype)
        for prm in self.module.parameters():
            prm.requires_grad_(False)
        self._tf32 = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
        tf32 = self.variant.precision == "tf32"
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32
        self.facts.update(tf32=tf32, load_time_s=time.perf_counter() - t0)

    def _ext(self, handle: int):
        s = self._streams.get(handle)
        if s is None:
            s = self._streams[handle] = _torch().cuda.ExternalStream(handle, device=self.device)
        return s

    def _on_stream(self, handle):
        """The context a slot computes in: the harness's CUDA stream, or nothing on the CPU (chosen at bind)."""
        return _torch().cuda.stream(self._ext(handle))

    @staticmethod
    def _on_host(handle):
        return contextlib.nullcontext()

    def _np_io_dtype(self) -> np.dtype:
        torch = _torch()
        return {torch.float32: np.dtype(np.float32), torch.float16: np.dtype(np.float16),
                torch.bfloat16: np.dtype(np.uint16)}[self.io_dtype]  # bf16 travels as its 16-bit pattern

    def _in_np(self, name: str) -> np.dtype:
        """An input's host dtype: floats travel in the precision's I/O type, integers and bools as they are."""
        dt = np.dtype(self.prepared.dtypes[name])
        return self._np_io_dtype() if dt.kind == "f" else dt

    def _in_torch(self, name: str):
        dt = np.dtype(self.prepared.dtypes[name])
        return self.io_dtype if dt.kind == "f" else _torch().from_numpy(np.empty(0, dt)).dtype

    def _to_io(self, arr: np.ndarray, name: str) -> np.ndarray:
        return np.ascontiguousarray(narrow(np.asarray(arr), self._in_np(name)))

    def _from_io(self, arr: np.ndarray) -> np.ndarray:
        io = self._np_io_dtype()
        return widen(arr, io) if arr.dtype == io else arr

    def _wrap(self, buf, shape) -> object:
        """A tensor over a buffer's device memory (no copy): CUDA memory through ``__cuda_array_interface__``,
        host memory through numpy (bf16 as int16 bits, which every torch can take)."""
        torch = _torch()
        bf16 = buf.dtype == np.uint16 and self.io_dtype == torch.bfloat16  # token ids and masks keep their type
        if self.on_gpu:
            t = torch.as_tensor(_CudaArray(buf.device.ptr, shape, buf.dtype), device=self.device)
        else:
            t = torch.from_numpy(buf.device.view(np.int16 if bf16 else buf.dtype, shape))
        return t.view(torch.bfloat16) if bf16 else t

    def _settle(self, buffers=None) -> None:
        """Bind time only: copy ``buffers``' inputs in (if given) and wait for the device."""
        torch = _torch()
        if self.on_gpu:
            if buffers is not None:
                buffers.h2d(torch.cuda.current_stream(self.device).cuda_stream)
            torch.cuda.synchronize(self.device)
        elif buffers is not None:
            buffers.h2d(None)

    def _run_module(self, inputs):
        torch = _torch()
        with torch.inference_mode():
            if self.io_dtype != self.compute_dtype:  # float inputs only: token ids and masks keep their type
                inputs = [x.to(self.compute_dtype) if x.is_floating_point() else x for x in inputs]
            out = self.module(*inputs)
            outs = out if isinstance(out, (tuple, list)) else (out,)
            if self.io_dtype != self.compute_dtype:
                outs = tuple(o.to(self.io_dtype) for o in outs)
            return tuple(o.contiguous() for o in outs)

    def _bind(self, feeds: Dict[str, np.ndarray]) -> None:
        torch = _torch()
        names = [t.name for t in self.prepared.info.inputs]
        self.out_names = [t.name for t in self.prepared.info.outputs]
        self._io_feeds = {n: self._to_io(feeds[n], n) for n in names}
        # Output shapes at the profile maximum size the output buffers (a probe run at max shapes).
        zeros = [torch.zeros(self.prepared.max_shapes[n], dtype=self._in_torch(n), device=self.device) for n in names]
        max_outs = self._run_module(zeros)
        self._settle()
        self._max_out = {n: tuple(o.shape) for n, o in zip(self.out_names, max_outs)}
        del zeros, max_outs
        self._bind_slot0()

    def _new_slot(self, index: int) -> _TorchSlot:
        """Buffers for this slot, the module's inputs over them, and the actual output shapes from one run."""
        io_np = self._np_io_dtype()
        names = list(self._io_feeds)
        buffers = self.buffer_class()({n: (self._in_np(n), self.prepared.max_shapes[n]) for n in names},
                                      {n: (io_np, s) for n, s in self._max_out.items()})
        try:
            buffers.load_inputs(self._io_feeds)
            inputs = [self._wrap(buffers.inputs[n], self._io_feeds[n].shape) for n in names]
            self._settle(buffers)
            outs = self._run_module(inputs)
            self._settle()
            for n, o in zip(self.out_names, outs):
                buffers.set_shape(n, tuple(o.shape))
        except BaseException:
            buffers.free()
            raise
        on_stream = self._on_stream if self.on_gpu else self._on_host
        return _TorchSlot(index, buffers, inputs, self.out_names, self._run_module, on_stream)

    def graph_factory(self):
        return lambda compute, stream: _TorchGraph(self, compute, stream)

    def _outputs(self) -> Dict[str, np.ndarray]:
        return {n: self._from_io(np.array(a)) for n, a in self.slots[0].host_outputs().items()}

    def _release(self) -> None:
        self._release_slots()
        self.module = None
        self._streams = {}
        if self._tf32 is not None:
            torch = _torch()
            torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = self._tf32
            self._tf32 = None
            if self.on_gpu and torch.cuda.is_available():
                torch.cuda.empty_cache()
