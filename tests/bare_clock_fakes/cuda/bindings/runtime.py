"""A CPU double of cuda-python's ``cuda.bindings.runtime`` for the bare clock scripts' tests.

Every call returns a tuple ``(cudaError_t, *values)`` as the real one does. Memory is real host memory
(ctypes buffers), so copies and the scripts' numpy views work. Each stream has a GPU clock in ms: an event
record stamps it, and work (a graph launch, the TensorRT double's execute_async_v3) advances it. Capture,
invalid handles, copies out of bounds and double frees return errors. FAKE_CUDA_DEVICES sets the device
count (default 1); FAKE_CUDA_REPORT names a JSON file that gets the still-live resources at exit.
"""

import atexit
import ctypes
import enum
import itertools
import json
import os
import time
from types import SimpleNamespace


class cudaError_t(enum.IntEnum):
    cudaSuccess = 0
    cudaErrorInvalidValue = 1
    cudaErrorNoDevice = 100
    cudaErrorInvalidResourceHandle = 400
    cudaErrorStreamCaptureUnsupported = 900
    cudaErrorStreamCaptureInvalidated = 901


class cudaStreamCaptureMode(enum.IntEnum):
    cudaStreamCaptureModeGlobal = 0
    cudaStreamCaptureModeThreadLocal = 1
    cudaStreamCaptureModeRelaxed = 2


class cudaMemcpyKind(enum.IntEnum):
    cudaMemcpyHostToHost = 0
    cudaMemcpyHostToDevice = 1
    cudaMemcpyDeviceToHost = 2
    cudaMemcpyDeviceToDevice = 3


cudaStreamNonBlocking = 1
OK = cudaError_t.cudaSuccess
_ids = itertools.count(0x1000)
_live = {"stream": {}, "event": {}, "graph": {}, "graph_exec": {}, "device": {}, "host": {}}
counts = {"graph_launches": 0, "executes": 0, "h2d": 0, "d2h": 0}


class _Handle:
    kind = ""

    def __init__(self, **fields):
        self.value = next(_ids)
        self.__dict__.update(fields)
        _live[self.kind][self.value] = self

    def __int__(self):
        return self.value


class cudaStream_t(_Handle):
    kind = "stream"


class cudaEvent_t(_Handle):
    kind = "event"


class cudaGraph_t(_Handle):
    kind = "graph"


class cudaGraphExec_t(_Handle):
    kind = "graph_exec"


def _now_ms():
    return time.perf_counter() * 1e3


def _get(kind, handle):
    return _live[kind].get(int(handle)) if handle is not None else None


def _free(kind, handle):
    return (OK,) if _live[kind].pop(int(handle), None) is not None else (cudaError_t.cudaErrorInvalidResourceHandle,)


def _region(kind, addr, nbytes):
    """The allocation of this kind holding [addr, addr + nbytes), or None."""
    for base, buf in _live[kind].items():
        if base <= addr and addr + nbytes <= base + len(buf):
            return buf
    return None


def _enqueue(stream_handle, ms, op="executes"):
    """Work of `ms` on a stream (or into its capture). Used by the TensorRT double too."""
    s = _get("stream", stream_handle)
    if s is None:
        return False
    if s.capture is not None:
        s.capture.append(ms)
    else:
        s.t = max(s.t, _now_ms()) + ms
        counts[op] += 1
    return True


def _invalidate_capture(stream_handle):
    s = _get("stream", stream_handle)
    if s is not None and s.capture is not None:
        s.capture_invalid = True


def cudaGetDeviceCount():
    n = int(os.environ.get("FAKE_CUDA_DEVICES", "1"))
    return (OK, n) if n > 0 else (cudaError_t.cudaErrorNoDevice, 0)


def cudaGetDeviceProperties(device):
    return OK, SimpleNamespace(name=b"Fake GPU" + b"\0" * 8)


def cudaRuntimeGetVersion():
    return OK, 12090


def cudaDriverGetVersion():
    return OK, 12080


def cudaGetLastError():
    return (OK,)


def cudaStreamCreateWithFlags(flags):
    return OK, cudaStream_t(t=0.0, capture=None, capture_invalid=False)


def cudaStreamDestroy(stream):
    s = _get("stream", stream)
    if s is not None and s.capture is not None:
        return (cudaError_t.cudaErrorStreamCaptureUnsupported,)
    return _free("stream", stream)


def cudaStreamSynchronize(stream):
    s = _get("stream", stream)
    if s is None:
        return (cudaError_t.cudaErrorInvalidResourceHandle,)
    return (cudaError_t.cudaErrorStreamCaptureUnsupported,) if s.capture is not None else (OK,)


def cudaEventCreate():
    return OK, cudaEvent_t(t=None)


def cudaEventDestroy(event):
    return _free("event", event)


def cudaEventRecord(event, stream):
    e, s = _get("event", event), _get("stream", stream)
    if e is None or s is None:
        return (cudaError_t.cudaErrorInvalidResourceHandle,)
    if s.capture is not None:  # legal in CUDA (an event node), but the scripts must not time inside a graph
        return (cudaError_t.cudaErrorStreamCaptureUnsupported,)
    s.t = max(s.t, _now_ms())
    e.t = s.t
    return (OK,)


def cudaEventSynchronize(event):
    return (OK,) if _get("event", event) is not None else (cudaError_t.cudaErrorInvalidResourceHandle,)


def cudaEventElapsedTime(start, end):
    a, b = _get("event", start), _get("event", end)
    if a is None or b is None or a.t is None or b.t is None:
        return cudaError_t.cudaErrorInvalidResourceHandle, 0.0
    return OK, b.t - a.t


def cudaMalloc(size):
    buf = ctypes.create_string_buffer(size)
    _live["device"][ctypes.addressof(buf)] = buf
    return OK, ctypes.addressof(buf)


def cudaMallocHost(size):
    buf = ctypes.create_string_buffer(size)
    _live["host"][ctypes.addressof(buf)] = buf
    return OK, ctypes.addressof(buf)


def cudaFree(ptr):
    return _free("device", ptr)


def cudaFreeHost(ptr):
    return _free("host", ptr)


def cudaMemcpyAsync(dst, src, count, kind, stream):
    kinds = {cudaMemcpyKind.cudaMemcpyHostToDevice: ("device", "host", "h2d"),
             cudaMemcpyKind.cudaMemcpyDeviceToHost: ("host", "device", "d2h")}
    if kind not in kinds or _get("stream", stream) is None:
        return (cudaError_t.cudaErrorInvalidValue,)
    to, frm, op = kinds[kind]
    if _region(to, int(dst), count) is None or _region(frm, int(src), count) is None:
        return (cudaError_t.cudaErrorInvalidValue,)
    ctypes.memmove(int(dst), int(src), count)
    _enqueue(stream, 0.01, op)
    return (OK,)


def cudaStreamBeginCapture(stream, mode):
    s = _get("stream", stream)
    if s is None or s.capture is not None:
        return (cudaError_t.cudaErrorInvalidValue,)
    s.capture, s.capture_invalid = [], False
    return (OK,)


def cudaStreamEndCapture(stream):
    s = _get("stream", stream)
    if s is None or s.capture is None:
        return cudaError_t.cudaErrorInvalidValue, None
    ops, invalid = s.capture, s.capture_invalid
    s.capture = None
    if invalid:
        return cudaError_t.cudaErrorStreamCaptureInvalidated, None
    return OK, cudaGraph_t(ops=ops)


def cudaGraphInstantiate(graph, flags):
    g = _get("graph", graph)
    if g is None:
        return cudaError_t.cudaErrorInvalidResourceHandle, None
    return OK, cudaGraphExec_t(ms=sum(g.ops))


def cudaGraphLaunch(graphExec, stream):
    x = _get("graph_exec", graphExec)
    if x is None or not _enqueue(stream, x.ms, "graph_launches"):
        return (cudaError_t.cudaErrorInvalidResourceHandle,)
    return (OK,)


def cudaGraphDestroy(graph):
    return _free("graph", graph)


def cudaGraphExecDestroy(graphExec):
    return _free("graph_exec", graphExec)


@atexit.register
def _report():
    path = os.environ.get("FAKE_CUDA_REPORT")
    if path:
        with open(path, "w") as f:
            json.dump({"live": {k: len(v) for k, v in _live.items()}, "counts": counts}, f)
