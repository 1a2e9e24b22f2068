"""Pinned host and device buffers for one loaded variant (or one slot of it), sized once for the profile maximum.

Each run copies only the bytes of the actual shape; outputs come back reshaped to their actual shapes.
The copy lists are precomputed so the timed stages are a tight loop of ``cudaMemcpyAsync`` calls.
``trtbench.backends.host_buffers.HostBuffers`` is the host-memory counterpart with the same interface
(it overrides only the allocators and the two copy loops), so a backend's stages never ask where they run.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from typing import Any, Dict, List, Sequence, Tuple

import numpy as np

from trtbench.bfloat16 import narrow
from trtbench.gpu.cuda import DeviceBuffer, PinnedBuffer, check, memcpy_kinds, rt


@dataclass
class TensorBuffer:
    name: str
    dtype: np.dtype
    max_shape: Tuple[int, ...]
    host: Any  # PinnedBuffer here, host memory in HostBuffers: .ptr, .nbytes, .view(dtype, shape), .free()
    device: Any  # DeviceBuffer here, host memory in HostBuffers (what the runtime reads and writes)
    shape: Tuple[int, ...] = ()

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape)) * self.dtype.itemsize if self.shape else self.dtype.itemsize

    def host_view(self) -> np.ndarray:
        return self.host.view(self.dtype, self.shape)


class IOBuffers:
    """Buffers for a model's inputs and outputs: pinned host memory, device memory, and the copies between."""

    def __init__(self, inputs: Dict[str, Tuple[np.dtype, Sequence[int]]],
                 outputs: Dict[str, Tuple[np.dtype, Sequence[int]]]) -> None:
        self.inputs: Dict[str, TensorBuffer] = {}
        self.outputs: Dict[str, TensorBuffer] = {}
        try:
            for table, specs in ((self.inputs, inputs), (self.outputs, outputs)):
                for name, (dtype, max_shape) in specs.items():
                    dtype = np.dtype(dtype)
                    nbytes = int(np.prod(max_shape)) * dtype.itemsize if len(max_shape) else dtype.itemsize
                    host = self._host_memory(nbytes)
                    try:
                        dev = self._device_memory(nbytes)
                    except Exception:
                        host.free()
                        raise
                    table[name] = TensorBuffer(name, dtype, tuple(max_shape), host, dev, tuple(max_shape))
        except Exception:
            self.free()
            raise
        self._prepare_copies()
        self._src_override: Dict[str, int] = {}
        self._copies: List[Dict[str, Any]] = []  # extra host input copies (cold caches)
        self._turn = 0
        self._refresh()

    # ---- what differs between device and host memory (HostBuffers overrides these) ------------------------
    def _host_memory(self, nbytes: int):
        return PinnedBuffer(nbytes)

    def _device_memory(self, nbytes: int):
        return DeviceBuffer(nbytes)

    def _prepare_copies(self) -> None:
        self._h2d_kind, self._d2h_kind = memcpy_kinds()

    def set_shape(self, name: str, shape: Sequence[int]) -> None:
        buf = self.inputs.get(name) or self.outputs[name]
        shape = tuple(int(d) for d in shape)
        if int(np.prod(shape)) * buf.dtype.itemsize > buf.host.nbytes:
            raise ValueError(f"tensor {name}: shape {shape} exceeds the buffer sized for {buf.max_shape}")
        buf.shape = shape
        self._refresh()

    def set_output_source(self, name: str, device_ptr: int) -> None:
        """Copy output ``name`` to the host from ``device_ptr`` (memory a framework owns) instead of its
        own device buffer: a framework's output is read in place, not copied on the device first."""
        if self._src_override.get(name) != device_ptr:
            self._src_override[name] = device_ptr
            self._refresh()

    def _refresh(self) -> None:
        self._h2d_sets: List[List[Tuple[int, int, int]]] = [
            [(b.device.ptr, b.host.ptr, b.nbytes) for b in self.inputs.values()]] + [
            [(b.device.ptr, copy[n].ptr, b.nbytes) for n, b in self.inputs.items()] for copy in self._copies]
        self._h2d = self._h2d_sets[self._turn % len(self._h2d_sets)]
        self._d2h: List[Tuple[int, int, int]] = [(b.host.ptr, self._src_override.get(n, b.device.ptr), b.nbytes)
                                                 for n, b in self.outputs.items()]

    def rotate_inputs(self, copies: int) -> None:
        """Keep ``copies`` pinned host copies of every input (the same data) and read them in turn, one per
        query (``next_inputs``): a cold-cache run does not copy from host memory the CPU just touched."""
        for _ in range(max(copies, 1) - 1 - len(self._copies)):
            extra = {}
            for n, b in self.inputs.items():
                extra[n] = self._host_memory(b.host.nbytes)
                ctypes.memmove(extra[n].ptr, b.host.ptr, b.host.nbytes)
            self._copies.append(extra)
        self._refresh()

    def next_inputs(self) -> None:
        self._turn += 1
        self._h2d = self._h2d_sets[self._turn % len(self._h2d_sets)]

    def h2d(self, stream) -> None:
        copy, kind = rt().cudaMemcpyAsync, self._h2d_kind
        for dst, src, n in self._h2d:
            err = copy(dst, src, n, kind, stream)[0]
            if err:
                check((err,), "cudaMemcpyAsync(H2D)")

    def d2h(self, stream) -> None:
        copy, kind = rt().cudaMemcpyAsync, self._d2h_kind
        for dst, src, n in self._d2h:
            err = copy(dst, src, n, kind, stream)[0]
            if err:
                check((err,), "cudaMemcpyAsync(D2H)")

    def load_inputs(self, feeds: Dict[str, np.ndarray]) -> None:
        for name, arr in feeds.items():
            buf = self.inputs[name]
            self.set_shape(name, arr.shape)
            np.copyto(buf.host_view(), narrow(arr, buf.dtype))

    def host_outputs(self) -> Dict[str, np.ndarray]:
        return {n: b.host_view() for n, b in self.outputs.items()}

    def total_bytes(self) -> Dict[str, int]:
        return {"h2d_bytes": sum(b.nbytes for b in self.inputs.values()),
                "d2h_bytes": sum(b.nbytes for b in self.outputs.values()),
                "device_buffer_bytes": sum(b.device.nbytes for b in list(self.inputs.values()) +
                                           list(self.outputs.values()))}

    def free(self) -> None:
        for copy in getattr(self, "_copies", []):
            for b in copy.values():
                b.free()
        self._copies = []
        for table in (self.inputs, self.outputs):
            for b in table.values():
                b.device.free()
                b.host.free()
