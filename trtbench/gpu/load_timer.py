"""Load on a GPU: N queries in flight from one host thread, each slot on its own non-blocking stream.

Per slot: a stream, four events (H2D start, H2D end = compute start, compute end, D2H end) and, by
default, the slot's compute captured as its own CUDA graph (a model that cannot be captured falls back to
eager launches, and the samples say why). A query is H2D, compute and D2H enqueued on the slot's stream
with no host wait in between; the scheduler (``timing.load``) decides when each slot issues the next.
Stage times are event pairs (trtexec's); each query's start and end are measured against one reference
event recorded with every slot idle, so throughput is completed queries over the GPU span from the first
start to the last end (trtexec's definition, and ``bench/bare_trt_multistream.py``'s).

In the open loop the host waits for the next arrival with a sleep that spins its last 200 us
(``SpinSleepClock``), so an arrival is dispatched on time rather than a ``time.sleep`` wake-up late; with
queries in flight it polls their end events the same way. The backends build this timer spinning
(``timing.load.GPU_LOAD_SPIN_WAIT``) whatever ``--spin-wait`` says: a blocking wait's wake-up leaves its
slot idle, which cost 7% of a bare 4-stream loop's throughput on a 0.13 ms plan
(results/h200-2026-11-26b/m2/followup/load-compare).

The host's cost per query (four event records, the copies, the launch, the polling) sets how many queries a
second one Python thread can issue; the harness ceiling measures it with a no-op compute. A CUDA graph
makes the launch one ``cudaGraphLaunch`` (a few microseconds) instead of a framework's enqueue (tens to
hundreds of microseconds of Python and driver calls), which is how graphs raise the rate a variant can reach.
"""

from __future__ import annotations

import time
from typing import Callable, List, Optional, Sequence

from trtbench.gpu.cuda import Event, Stream, check, rt
from trtbench.gpu.event_timer import capture_compute
from trtbench.timing.clock import SleepingClock, SpinSleepClock
from trtbench.timing.load import LoadTimer, NoopCompute, QueryTimes


class GpuLane:
    """One query in flight on ``stream``: issue enqueues it, the events time it."""

    def __init__(self, stream: Stream, h2d, compute, d2h, data_transfers: bool, ref: Event, blocking: bool) -> None:
        self.stream = stream
        self._events = [Event(i == 3 and blocking) for i in range(4)]  # only the one waited on blocks
        self._h2d, self._compute, self._d2h = h2d, compute, d2h
        self._transfers = data_transfers
        self._ref = ref
        r = rt()
        self._record, self._query, self._sync = r.cudaEventRecord, r.cudaEventQuery, r.cudaEventSynchronize
        self._elapsed = r.cudaEventElapsedTime
        self._not_ready = r.cudaError_t.cudaErrorNotReady
        self._e = [e._e for e in self._events]
        self._sh, self._h = stream.raw, stream.handle
        self._enqueue_ns = 0

    def issue(self) -> None:
        record, (e0, e1, e2, e3), sh, h = self._record, self._e, self._sh, self._h
        err = record(e0, sh)[0]
        if self._transfers:
            self._h2d(h)
        err = err or record(e1, sh)[0]
        a = time.perf_counter_ns()
        self._compute(h)
        b = time.perf_counter_ns()
        err = err or record(e2, sh)[0]
        if self._transfers:
            self._d2h(h)
        err = err or record(e3, sh)[0]
        if err:
            check((err,), "cudaEventRecord")
        self._enqueue_ns = b - a

    def ready(self) -> bool:
        err = self._query(self._e[3])[0]
        if err == self._not_ready:
            return False
        if err:
            check((err,), "cudaEventQuery")
        return True

    def wait(self) -> None:
        err = self._sync(self._e[3])[0]
        if err:
            check((err,), "cudaEventSynchronize")

    def collect(self) -> QueryTimes:
        el, (e0, e1, e2, e3), ref = self._elapsed, self._e, self._ref._e
        x0, t_h2d = el(e0, e1)
        x1, t_c = el(e1, e2)
        x2, t_d2h = el(e2, e3)
        x3, start = el(ref, e0)
        x4, end = el(ref, e3)
        err = x0 or x1 or x2 or x3 or x4
        if err:
            check((err,), "cudaEventElapsedTime")
        return QueryTimes(t_h2d, t_c, t_d2h, self._enqueue_ns / 1e6, start, end)

    def destroy(self) -> None:
        for e in self._events:
            e.destroy()
        self._events = []


class CudaLoadTimer(LoadTimer):
    """Lanes on CUDA streams over ``slots`` (one stream, one event set and one graph per slot)."""

    name = "load:cuda-events"

    def __init__(self, slots: Sequence, cuda_graph: bool = True, spin_wait: bool = False, data_transfers: bool = True,
                 graph_factory: Optional[Callable] = None, clock: Optional[SleepingClock] = None) -> None:
        super().__init__(clock or SpinSleepClock())  # open loop: arrivals dispatched on time, not a wake-up late
        self.slots = list(slots)
        self.cuda_graph, self.spin_wait, self.data_transfers = cuda_graph, spin_wait, data_transfers
        self._graph_factory = graph_factory
        self._streams: List[Stream] = []
        self._graphs: list = []
        self._ref: Optional[Event] = None

    def _open(self) -> None:
        blocking = not self.spin_wait
        self._ref = Event(blocking)
        fallbacks = []
        for slot in self.slots:
            stream = Stream()
            self._streams.append(stream)
            compute = slot.compute
            if self.cuda_graph:
                graph, why = capture_compute(slot.compute, stream, self._graph_factory)
                if graph is not None:
                    self._graphs.append(graph)
                    compute = graph.launch
                else:
                    fallbacks.append(why)
            self.lanes.append(GpuLane(stream, slot.h2d, compute, slot.d2h, self.data_transfers, self._ref, blocking))
        if not self.cuda_graph:
            self.compute_timing = "eager"
        elif fallbacks:
            self.compute_timing = f"eager (graph fallback: {fallbacks[0]})" if len(fallbacks) == len(self.slots) \
                else f"mixed: {len(fallbacks)} of {len(self.slots)} slots eager (graph fallback: {fallbacks[0]})"
        else:
            self.compute_timing = "graph"

    def _close(self) -> None:
        for st in self._streams:
            try:
                st.synchronize()
            except Exception:
                pass
        self._drop_lanes(self.lanes)
        self.lanes = []
        for g in self._graphs:
            g.destroy()
        self._graphs = []
        for st in self._streams:
            st.destroy()
        self._streams = []
        if self._ref is not None:
            self._ref.destroy()
            self._ref = None

    def _noop_lanes(self, n: int) -> List[GpuLane]:
        return [GpuLane(self._streams[i], s.h2d, NoopCompute(s).compute, s.d2h, self.data_transfers, self._ref,
                        not self.spin_wait) for i, s in enumerate(self.slots[:n])]

    def _drop_lanes(self, lanes: List[GpuLane]) -> None:
        for lane in lanes:
            lane.destroy()

    def _new_timeline(self, lanes: Sequence[GpuLane]) -> None:
        for lane in lanes:
            lane.stream.synchronize()
        self._ref.record(lanes[0].stream)
        self._ref.synchronize()
