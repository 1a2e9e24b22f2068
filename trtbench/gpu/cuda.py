"""A thin, checked layer over ``cuda.bindings.runtime`` (cuda-python 12.6+; ``cuda.cudart`` before).

Every call's status is checked; a failure raises ``CudaError`` naming the call and the CUDA error.
Streams are non-blocking (never the legacy default stream). Allocation happens in constructors only.
"""

from __future__ import annotations

import ctypes
import importlib
from typing import Optional, Tuple

import numpy as np

from trtbench.errors import CudaError


def _bindings(module: str, before_12_6: str):
    """cuda-python's ``module`` (``cuda.bindings.X``), or its name before cuda-python 12.6; a one-line
    CudaError when neither imports."""
    try:
        return importlib.import_module(module)
    except ImportError:
        try:
            return importlib.import_module(before_12_6)
        except ImportError as exc:
            raise CudaError(f"cuda-python is not installed ({exc}): pip install 'trtbench[gpu]'") from None


def runtime():
    return _bindings("cuda.bindings.runtime", "cuda.cudart")


def driver():
    """The driver API (the launch gate's cuStreamWaitValue32)."""
    return _bindings("cuda.bindings.driver", "cuda.cuda")


_RT = None


def rt():
    global _RT
    if _RT is None:
        _RT = runtime()
    return _RT


def check(result, call: str):
    """``(err, *values)`` -> values; raises ``CudaError`` when err is not cudaSuccess."""
    if isinstance(result, tuple):
        err, values = result[0], result[1:]
    else:
        err, values = result, ()
    r = rt()
    if err != r.cudaError_t.cudaSuccess:
        try:
            name = r.cudaGetErrorName(err)[1].decode()
            text = r.cudaGetErrorString(err)[1].decode()
        except Exception:
            name, text = str(err), ""
        raise CudaError(f"{call} failed: {name} ({text})")
    if not values:
        return None
    return values[0] if len(values) == 1 else values


def device_count() -> int:
    return int(check(rt().cudaGetDeviceCount(), "cudaGetDeviceCount"))


def set_device(index: int) -> None:
    n = device_count()
    if not 0 <= index < n:
        raise CudaError(f"cudaSetDevice: device {index} does not exist ({n} device(s))")
    check(rt().cudaSetDevice(index), f"cudaSetDevice({index})")


def runtime_version() -> int:
    return int(check(rt().cudaRuntimeGetVersion(), "cudaRuntimeGetVersion"))


def driver_version() -> int:
    return int(check(rt().cudaDriverGetVersion(), "cudaDriverGetVersion"))


def version_text(v: int) -> str:
    return f"{v // 1000}.{(v % 1000) // 10}"


def device_properties(index: int) -> dict:
    props = check(rt().cudaGetDeviceProperties(index), "cudaGetDeviceProperties")
    name = props.name.decode(errors="replace") if isinstance(props.name, bytes) else str(props.name)
    return {"name": name.rstrip("\x00"), "compute_capability": f"{props.major}.{props.minor}",
            "total_memory_bytes": int(props.totalGlobalMem), "multiprocessors": int(props.multiProcessorCount)}


def l2_cache_bytes() -> int:
    """The current device's L2 cache size (bytes); at least 1 MiB so a flush buffer is never empty."""
    r = rt()
    dev = int(check(r.cudaGetDevice(), "cudaGetDevice"))
    size = int(check(r.cudaDeviceGetAttribute(r.cudaDeviceAttr.cudaDevAttrL2CacheSize, dev),
                     "cudaDeviceGetAttribute(L2CacheSize)"))
    return max(size, 1 << 20)


def synchronize_device() -> None:
    check(rt().cudaDeviceSynchronize(), "cudaDeviceSynchronize")


def mem_get_info() -> Tuple[int, int]:
    free, total = check(rt().cudaMemGetInfo(), "cudaMemGetInfo")
    return int(free), int(total)


class Stream:
    """A non-blocking CUDA stream (it never synchronises with the legacy default stream)."""

    def __init__(self) -> None:
        r = rt()
        self._s = check(r.cudaStreamCreateWithFlags(r.cudaStreamNonBlocking), "cudaStreamCreateWithFlags")
        self.handle = int(self._s)

    def synchronize(self) -> None:
        check(rt().cudaStreamSynchronize(self._s), "cudaStreamSynchronize")

    def wait(self, event: "Event") -> None:
        check(rt().cudaStreamWaitEvent(self._s, event._e, 0), "cudaStreamWaitEvent")

    @property
    def raw(self):
        return self._s

    def destroy(self) -> None:
        if self._s is not None:
            check(rt().cudaStreamDestroy(self._s), "cudaStreamDestroy")
            self._s = None


class Event:
    """A timing event. ``blocking=True`` makes ``synchronize`` sleep (cudaEventBlockingSync) instead of
    spin-waiting; trtexec blocks by default and spins with --useSpinWait."""

    def __init__(self, blocking: bool = True) -> None:
        r = rt()
        flags = r.cudaEventBlockingSync if blocking else r.cudaEventDefault
        self._e = check(r.cudaEventCreateWithFlags(flags), "cudaEventCreateWithFlags")

    def record(self, stream: Stream) -> None:
        check(rt().cudaEventRecord(self._e, stream._s), "cudaEventRecord")

    def synchronize(self) -> None:
        check(rt().cudaEventSynchronize(self._e), "cudaEventSynchronize")

    def elapsed_ms(self, start: "Event") -> float:
        """Milliseconds from ``start`` to this event (both must have completed)."""
        return float(check(rt().cudaEventElapsedTime(start._e, self._e), "cudaEventElapsedTime"))

    def destroy(self) -> None:
        if self._e is not None:
            check(rt().cudaEventDestroy(self._e), "cudaEventDestroy")
            self._e = None


class PinnedBuffer:
    """Page-locked host memory (cudaHostAlloc), with a numpy view."""

    def __init__(self, nbytes: int) -> None:
        self.nbytes = max(int(nbytes), 1)
        self.ptr = int(check(rt().cudaHostAlloc(self.nbytes, rt().cudaHostAllocDefault), f"cudaHostAlloc({nbytes})"))

    def view(self, dtype, shape) -> np.ndarray:
        dtype = np.dtype(dtype)
        count = int(np.prod(shape)) if len(shape) else 1
        if count * dtype.itemsize > self.nbytes:
            raise ValueError(f"view of {count * dtype.itemsize} bytes exceeds the {self.nbytes}-byte buffer")
        raw = (ctypes.c_byte * (count * dtype.itemsize)).from_address(self.ptr)
        return np.frombuffer(raw, dtype=dtype, count=count).reshape(shape)

    def free(self) -> None:
        if self.ptr:
            check(rt().cudaFreeHost(self.ptr), "cudaFreeHost")
            self.ptr = 0


class DeviceBuffer:
    """Device memory (cudaMalloc, never managed memory)."""

    def __init__(self, nbytes: int) -> None:
        self.nbytes = max(int(nbytes), 1)
        self.ptr = int(check(rt().cudaMalloc(self.nbytes), f"cudaMalloc({nbytes})"))

    def free(self) -> None:
        if self.ptr:
            check(rt().cudaFree(self.ptr), "cudaFree")
            self.ptr = 0


def _record_node(event: "Event", stream: Stream) -> None:
    """Record ``event`` as a node of the graph being captured on ``stream``."""
    r = rt()
    check(r.cudaEventRecordWithFlags(event._e, stream._s, getattr(r, "cudaEventRecordExternal", 1)),
          "cudaEventRecordWithFlags(cudaEventRecordExternal)")


def memcpy_kinds():
    r = rt()
    return r.cudaMemcpyKind.cudaMemcpyHostToDevice, r.cudaMemcpyKind.cudaMemcpyDeviceToHost


def memcpy_async(dst: int, src: int, nbytes: int, kind, stream: Stream) -> None:
    check(rt().cudaMemcpyAsync(dst, src, nbytes, kind, stream._s), "cudaMemcpyAsync")


class Graph:
    """A CUDA graph captured from the work ``fn(stream)`` enqueues on ``stream``; ``launch`` replays it.

    ``marks`` (a start and an end ``Event``): recorded as event nodes of the graph itself, before and after
    the work (cudaEventRecordWithFlags with cudaEventRecordExternal), so that every replay stamps them when the
    graph's work begins and ends on the GPU: the host's launch is in no window they bound."""

    def __init__(self, fn, stream: Stream, marks: Optional[Tuple["Event", "Event"]] = None) -> None:
        r = rt()
        check(r.cudaStreamBeginCapture(stream._s, r.cudaStreamCaptureMode.cudaStreamCaptureModeThreadLocal),
              "cudaStreamBeginCapture")
        try:
            if marks:
                _record_node(marks[0], stream)
            fn(stream.handle)
            if marks:
                _record_node(marks[1], stream)
        except BaseException:  # end the capture, drop what it made, and say what failed first
            err, g = r.cudaStreamEndCapture(stream._s)
            if not err and g is not None:
                r.cudaGraphDestroy(g)
            raise
        self._g = check(r.cudaStreamEndCapture(stream._s), "cudaStreamEndCapture")
        try:
            self._x = check(r.cudaGraphInstantiate(self._g, 0), "cudaGraphInstantiate")
        except BaseException:
            r.cudaGraphDestroy(self._g)
            self._g = None
            raise
        self._launch = r.cudaGraphLaunch  # bound once: the launch sits inside the timed window
        self._stream = stream._s
        self._handle = stream.handle

    def launch(self, stream_handle: int) -> None:
        """Replay on ``stream_handle``; on the capture stream the stream object goes to the driver as is (no
        conversion from an integer handle inside the timed window)."""
        err = self._launch(self._x, self._stream if stream_handle == self._handle else stream_handle)[0]
        if err:
            check((err,), "cudaGraphLaunch")

    def destroy(self) -> None:
        r = rt()
        if getattr(self, "_x", None) is not None:
            check(r.cudaGraphExecDestroy(self._x), "cudaGraphExecDestroy")
            self._x = None
        if getattr(self, "_g", None) is not None:
            check(r.cudaGraphDestroy(self._g), "cudaGraphDestroy")
            self._g = None


def gpu_unavailable_reason(device: int = 0) -> Optional[str]:
    """None when a CUDA device can be used; otherwise why not (no cuda-python, no driver, no device)."""
    try:
        n = device_count()
    except CudaError as exc:
        return str(exc)
    if n == 0:
        return "no CUDA device found"
    if device >= n:
        return f"CUDA device {device} does not exist ({n} device(s))"
    return None
