"""The launch gate: hold a stream until a timed stage is fully enqueued, so the host's launch gap is in no window.

On an idle stream an event is recorded the moment the host enqueues it; the GPU then waits for the host's
next call (a graph launch costs the host a few microseconds in Python), and that wait lands inside the
window the event opens. nvbench avoids it with a "blocking kernel" that spins until the host has enqueued
the whole measurement. The gate does the same without a kernel: ``hold`` enqueues a wait on a word of
mapped pinned host memory (``cuStreamWaitValue32``, a cyclic greater-or-equal compare, so the ticket may
wrap); the host then records the start event, launches, records the end event, and ``release`` writes the
word, so the GPU runs start, work and end back to back. The window is then the GPU's time for the work,
whatever the host's speed.

Only for work that never waits on the host (a CUDA graph launch): work that synchronises with the held stream
would wait forever. A watchdog thread releases a gate held for more than ``WATCHDOG_S`` seconds, and the
next ``release`` raises, naming the way out (``--no-launch-gate``).
"""

from __future__ import annotations

import ctypes
import threading
import time
from typing import Optional, Tuple

from trtbench.errors import CudaError
from trtbench.gpu.cuda import check, driver, rt

#: a gate held longer than this is released by the watchdog and the stage fails (a graph launch takes microseconds)
WATCHDOG_S = 5.0


class LaunchGate:
    """Hold a stream at a GPU-side wait until ``release``; one gate serves one stream at a time."""

    def __init__(self) -> None:
        d = driver()  # every driver symbol resolved before anything is allocated
        self._wait = d.cuStreamWaitValue32
        self._geq = d.CUstreamWaitValue_flags.CU_STREAM_WAIT_VALUE_GEQ
        self._ok = d.CUresult.CUDA_SUCCESS
        r = rt()
        self._word = int(check(r.cudaHostAlloc(4, r.cudaHostAllocMapped), "cudaHostAlloc(launch gate)"))
        try:
            self._dptr = int(check(r.cudaHostGetDevicePointer(self._word, 0), "cudaHostGetDevicePointer"))
        except BaseException:
            r.cudaFreeHost(self._word)
            raise
        self._cell = ctypes.c_uint32.from_address(self._word)
        self._cell.value = 0
        self._ticket = 0
        self._held_since: Optional[float] = None  # time.monotonic() of the hold still in force
        self._tripped = False
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._watchdog = threading.Thread(target=self._watch, name="trtbench-launch-gate", daemon=True)
        self._watchdog.start()

    @classmethod
    def open(cls, stream) -> Tuple[Optional["LaunchGate"], Optional[str]]:
        """(gate, None) once a hold and release went through on ``stream``; (None, why) where the driver refuses
        stream memory operations (the stage is then timed ungated, and the record says why)."""
        try:
            gate = cls()
        except Exception as exc:
            return None, f"{type(exc).__name__}: {exc}"[:300]
        try:
            gate.hold(stream.raw)
            gate.release()
            stream.synchronize()
            return gate, None
        except Exception as exc:
            try:
                gate.close(stream)
            except Exception:
                pass  # the probe's own error is the one to report
            return None, f"{type(exc).__name__}: {exc}"[:300]

    def hold(self, stream_raw) -> None:
        """Enqueue the wait: work enqueued after this on the stream starts only after ``release``."""
        ticket = (self._ticket + 1) & 0xFFFFFFFF
        err = self._wait(stream_raw, self._dptr, ticket, self._geq)[0]
        if err != self._ok:
            raise CudaError(f"cuStreamWaitValue32 failed: {getattr(err, 'name', err)}")
        self._ticket = ticket
        self._held_since = time.monotonic()

    def release(self) -> None:
        """Let the stream run; raises when the watchdog had to release the gate."""
        with self._lock:
            self._cell.value = self._ticket
            self._held_since = None
            tripped, self._tripped = self._tripped, False
        if tripped:
            raise CudaError(f"the timed stage waited on the host while its stream was held by the launch gate "
                            f"(released after {WATCHDOG_S:g} s): time it with --no-launch-gate")

    def _watch(self) -> None:
        while not self._stop.wait(min(WATCHDOG_S / 4, 0.5)):
            with self._lock:
                since = self._held_since
                if since is not None and time.monotonic() - since > WATCHDOG_S:
                    self._cell.value = self._ticket
                    self._tripped = True
                    self._held_since = None

    def close(self, stream=None) -> None:
        """Release, stop the watchdog, and free the word once ``stream`` (the stream held last) is idle; the word
        is freed even when that synchronisation fails (whose error is raised)."""
        if not self._word:
            return
        self._cell.value = self._ticket
        self._held_since = None
        self._stop.set()
        self._watchdog.join()
        try:
            if stream is not None:
                stream.synchronize()
        finally:
            word, self._word = self._word, 0
            check(rt().cudaFreeHost(word), "cudaFreeHost(launch gate)")
