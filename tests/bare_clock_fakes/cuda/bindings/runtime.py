"""A CPU double of cuda-python's ``cuda.bindings.runtime`` for the bare clock scripts' tests.

Every call returns a tuple ``(cudaError_t, *values)`` as the real one does. Memory is real host memory
(ctypes buffers), so copies and the scripts' numpy views work. Each stream has a GPU clock in ms: an event
record stamps it, and work (a graph launch, the TensorRT double's execute_async_v3) advances it. Capture,
invalid handles, copies out of bounds and double frees return errors. FAKE_CUDA_DEVICES sets the device
count (default 1); FAKE_CUDA_REPORT names a JSON file that gets the still-live resources at exit.

The host's launch gap can be modelled: FAKE_CUDA_LAUNCH_HOST_MS makes every graph launch spend that long on the
host before its work reaches the stream, FAKE_CUDA_HOST_WAITS makes synchronisations wait for the GPU clock,
and an event recorded on an idle stream stamps the host's clock, so a window opened before a slow launch
contains the host's time, as on a GPU. FAKE_CUDA_FAIL_LAUNCH_AFTER=N makes every graph launch after the
first N fail. An event recorded with cudaEventRecordExternal during a capture becomes a node of the graph: each
launch stamps it where the graph's work reaches it (after the host's launch cost; FAKE_CUDA_NO_EVENT_NODES=1
refuses such nodes and invalidates the capture, =end refuses the second only). FAKE_CUDA_LAUNCH_HOST_AFTER_MS
makes a graph launch spend that long on the host after its work reached the stream;
FAKE_CUDA_FAIL_INSTANTIATE makes every cudaGraphInstantiate fail. The driver double's
cuStreamWaitValue32 holds a stream: its work is kept back until the host writes the awaited word, and then
runs back to back from the moment a later call sees the word written (so no host time is in it). A
synchronisation of a stream still held would never return on a GPU: here it raises.
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
cudaEventDefault = 0
cudaEventBlockingSync = 1
cudaHostAllocDefault = 0
cudaHostAllocMapped = 2
OK = cudaError_t.cudaSuccess
_ids = itertools.count(0x1000)
_live = {"stream": {}, "event": {}, "graph": {}, "graph_exec": {}, "device": {}, "host": {}}
counts = {"graph_launches": 0, "executes": 0, "h2d": 0, "d2h": 0, "memsets": 0}


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


def _settle():
    """Run the work held on every stream whose awaited word the host has written since."""
    for s in _live["stream"].values():
        if s.gate is not None and (ctypes.c_uint32.from_address(s.gate[0]).value - s.gate[1]) % 2**32 < 2**31:
            held, s.gate, s.held = s.held, None, []
            s.t = max(s.t, _now_ms())
            for op in held:  # back to back: no host time between them
                op(s)


def _hold(stream_handle, addr, value):
    """The driver double's cuStreamWaitValue32: the stream's later work waits for (int32)(*addr - value) >= 0."""
    _settle()
    s = _get("stream", stream_handle)
    if s is None or s.capture is not None or s.gate is not None:
        return False
    s.gate, s.held = (int(addr), int(value)), []
    return True


def _on_stream(s, op):
    """Run op(stream) now, or keep it back while the stream is held."""
    if s.gate is not None:
        s.held.append(op)
    else:
        op(s)


def _enqueue(stream_handle, ms, op="executes"):
    """Work of `ms` on a stream (or into its capture). Used by the TensorRT double too."""
    _settle()
    s = _get("stream", stream_handle)
    if s is None:
        return False
    if s.capture is not None:
        s.capture.append(ms)
    else:
        def work(st, start=_now_ms()):
            st.t = max(st.t, start) + ms
        _on_stream(s, work)
        counts[op] += 1
    return True


def _not_held(s):
    if s.gate is not None:
        raise RuntimeError("fake CUDA: a synchronisation on a stream held by cuStreamWaitValue32 never returns")


def _wait_until(t_ms):
    """With FAKE_CUDA_HOST_WAITS set, a synchronisation returns once the GPU clock's time has come (the host
    waits for the work, as on a GPU); otherwise at once (the GPU clock runs ahead, and windows hold no host gap)."""
    if os.environ.get("FAKE_CUDA_HOST_WAITS"):
        while t_ms is not None and _now_ms() < t_ms:
            pass


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
    return OK, cudaStream_t(t=0.0, capture=None, capture_invalid=False, gate=None, held=[])


def cudaStreamDestroy(stream):
    s = _get("stream", stream)
    if s is not None and s.capture is not None:
        return (cudaError_t.cudaErrorStreamCaptureUnsupported,)
    return _free("stream", stream)


def cudaStreamSynchronize(stream):
    _settle()
    s = _get("stream", stream)
    if s is None:
        return (cudaError_t.cudaErrorInvalidResourceHandle,)
    _not_held(s)
    if s.capture is not None:
        return (cudaError_t.cudaErrorStreamCaptureUnsupported,)
    _wait_until(s.t)
    return (OK,)


def cudaEventCreate():
    return OK, cudaEvent_t(t=None, stream=None)


def cudaEventCreateWithFlags(flags):
    return OK, cudaEvent_t(t=None, stream=None)


def cudaEventDestroy(event):
    return _free("event", event)


def cudaEventRecord(event, stream):
    e, s = _get("event", event), _get("stream", stream)
    if e is None or s is None:
        return (cudaError_t.cudaErrorInvalidResourceHandle,)
    if s.capture is not None:  # legal in CUDA (an event node), but the scripts must not time inside a graph
        return (cudaError_t.cudaErrorStreamCaptureUnsupported,)
    _settle()
    e.t, e.stream = None, s

    def stamp(st, start=_now_ms()):
        st.t = max(st.t, start)
        e.t = st.t
    _on_stream(s, stamp)
    return (OK,)


cudaEventRecordDefault = 0
cudaEventRecordExternal = 1


def cudaEventRecordWithFlags(event, stream, flags):
    """With cudaEventRecordExternal during a capture: an event node of the graph (stamped when a launch of the
    graph reaches it on the GPU); FAKE_CUDA_NO_EVENT_NODES refuses that, as a driver without them would."""
    e, s = _get("event", event), _get("stream", stream)
    if e is None or s is None:
        return (cudaError_t.cudaErrorInvalidResourceHandle,)
    if s.capture is not None and flags & cudaEventRecordExternal:
        refuse = os.environ.get("FAKE_CUDA_NO_EVENT_NODES")  # "1": every node, invalidating; "end": the second only
        if refuse == "end" and any(isinstance(op, tuple) for op in s.capture):
            return (cudaError_t.cudaErrorStreamCaptureUnsupported,)
        if refuse and refuse != "end":
            _invalidate_capture(stream)
            return (cudaError_t.cudaErrorStreamCaptureUnsupported,)
        s.capture.append(("event", int(event)))
        return (OK,)
    return cudaEventRecord(event, stream)


def cudaEventSynchronize(event):
    _settle()
    e = _get("event", event)
    if e is None:
        return (cudaError_t.cudaErrorInvalidResourceHandle,)
    if e.t is None and e.stream is not None:
        _not_held(e.stream)
    _wait_until(e.t)
    return (OK,)


def cudaEventElapsedTime(start, end):
    _settle()
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


def cudaMemsetAsync(devPtr, value, count, stream):
    if _region("device", int(devPtr), count) is None or not _enqueue(stream, 0.01, "memsets"):
        return (cudaError_t.cudaErrorInvalidValue,)
    ctypes.memset(int(devPtr), value, count)
    return (OK,)


def cudaHostAlloc(size, flags):
    return cudaMallocHost(size)


def cudaHostGetDevicePointer(pHost, flags):
    return (OK, int(pHost)) if _region("host", int(pHost), 1) is not None else (cudaError_t.cudaErrorInvalidValue, 0)


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
    if g is None or os.environ.get("FAKE_CUDA_FAIL_INSTANTIATE"):
        return cudaError_t.cudaErrorInvalidResourceHandle, None
    return OK, cudaGraphExec_t(ms=sum(op for op in g.ops if not isinstance(op, tuple)), ops=list(g.ops))


def _replay(stream_handle, ops):
    """A launch of a graph with event nodes: its work and its event stamps in order, from when it starts."""
    _settle()
    s = _get("stream", stream_handle)
    if s is None or s.capture is not None:
        return False

    def work(st, start=_now_ms()):
        st.t = max(st.t, start)
        for op in ops:
            if isinstance(op, tuple):
                e = _get("event", op[1])
                if e is not None:
                    e.t, e.stream = st.t, st
            else:
                st.t += op
    for op in ops:  # an event node's event reads as pending until the launch has run
        if isinstance(op, tuple) and _get("event", op[1]) is not None:
            _get("event", op[1]).t, _get("event", op[1]).stream = None, s
    _on_stream(s, work)
    counts["graph_launches"] += 1
    return True


def cudaGraphLaunch(graphExec, stream):
    fail_after = os.environ.get("FAKE_CUDA_FAIL_LAUNCH_AFTER")  # this many launches succeed, the next ones fail
    if fail_after is not None and counts["graph_launches"] >= int(fail_after):
        return (cudaError_t.cudaErrorInvalidValue,)
    host_ms = float(os.environ.get("FAKE_CUDA_LAUNCH_HOST_MS", "0"))
    t_end = _now_ms() + host_ms
    while _now_ms() < t_end:  # the host's own launch cost, before the work reaches the stream
        pass
    x = _get("graph_exec", graphExec)
    if x is None:
        return (cudaError_t.cudaErrorInvalidResourceHandle,)
    marked = any(isinstance(op, tuple) for op in x.ops)
    if not (_replay(stream, x.ops) if marked else _enqueue(stream, x.ms, "graph_launches")):
        return (cudaError_t.cudaErrorInvalidResourceHandle,)
    t_end = _now_ms() + float(os.environ.get("FAKE_CUDA_LAUNCH_HOST_AFTER_MS", "0"))
    while _now_ms() < t_end:  # the host's time after its work reached the stream, before the call returns
        pass
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
