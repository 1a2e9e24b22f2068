"""The host-memory counterpart of ``trtbench.gpu.buffers.IOBuffers``, for runtimes that compute on the CPU.

Same interface (``load_inputs``, ``h2d``, ``d2h``, ``host_outputs``, ``set_shape``, ``set_output_source``,
``total_bytes``, ``free``, ``rotate_inputs``/``next_inputs``), so a backend's stages are written once:

- each tensor's ``host`` buffer holds the caller's data (inputs) or the results handed back (outputs);
- its ``device`` buffer is the memory the runtime itself reads and writes (bound to an onnxruntime
  IOBinding, or wrapped by a torch tensor), sized for the profile maximum;
- ``h2d``/``d2h`` copy the bytes of the actual shape between the two (``memmove``; the stream argument is
  ignored), as the GPU buffers copy between pinned and device memory.

The copies release the GIL (ctypes calls do), so slots driven from several threads copy in parallel.
"""

from __future__ import annotations

import ctypes

import numpy as np

from trtbench.gpu.buffers import IOBuffers

#: alignment of every host buffer (a cache line; what onnxruntime's own CPU allocator uses)
ALIGN = 64


class HostMemory:
    """``nbytes`` of host memory, 64-byte aligned, with the ``ptr``/``view``/``free`` of the CUDA buffers."""

    def __init__(self, nbytes: int) -> None:
        self.nbytes = max(int(nbytes), 1)
        raw = np.zeros(self.nbytes + ALIGN, np.uint8)
        offset = (-raw.ctypes.data) % ALIGN
        self._bytes = raw[offset: offset + self.nbytes]
        self.ptr = int(self._bytes.ctypes.data)

    def view(self, dtype, shape) -> np.ndarray:
        dtype = np.dtype(dtype)
        count = int(np.prod(shape)) if len(shape) else 1
        if count * dtype.itemsize > self.nbytes:
            raise ValueError(f"view of {count * dtype.itemsize} bytes exceeds the {self.nbytes}-byte buffer")
        return self._bytes[: count * dtype.itemsize].view(dtype).reshape(shape)

    def free(self) -> None:
        self._bytes = None  # views handed out keep their memory alive; the buffer forgets it
        self.ptr = 0


class HostBuffers(IOBuffers):
    """``IOBuffers`` over host memory: the runtime's buffers and the caller's, and ``memmove`` between them."""

    def _host_memory(self, nbytes: int) -> HostMemory:
        return HostMemory(nbytes)

    def _device_memory(self, nbytes: int) -> HostMemory:
        return HostMemory(nbytes)

    def _prepare_copies(self) -> None:
        pass  # memmove needs no copy kinds

    def h2d(self, stream) -> None:
        move = ctypes.memmove
        for dst, src, n in self._h2d:
            move(dst, src, n)

    def d2h(self, stream) -> None:
        move = ctypes.memmove
        for dst, src, n in self._d2h:
            move(dst, src, n)
