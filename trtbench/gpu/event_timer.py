"""The CUDA-event stage timer: the GPU implementation of the timer seam, timing like trtexec.

Per query, events bracket H2D, compute and D2H; the host time of the compute enqueue call is taken
with the host clock. Latency is h2d + compute + d2h (trtexec's definition); end-to-end is H2D start to
D2H end.

- ``latency`` mode: one query in flight, everything on one stream. The host waits for the H2D copy
  before it enqueues compute, so no launch time hides inside the H2D window. With a CUDA graph, compute's
  window holds the GPU's work alone: with data transfers its two events are nodes of the graph itself
  (captured with cudaEventRecordExternal), stamped when the replay's work begins and ends on the GPU;
  without transfers the launch gate holds the stream from before compute's start event until its end event
  is enqueued (below). Either way the host's launch gap is in no window (the two are still not the same
  figure: on H200s the smallest plans read 1-8%, 0.4-1.4 us, more after an input copy; the copy's effect
  and the event nodes' own cost not separated, results/h200-2026-11-26d/). Eager compute, a graph a backend
  captures itself (PyTorch) with transfers, and a driver that refuses event nodes or the gate open the
  window with an event recorded right before the launch, so it holds the host's launch too.
- ``throughput`` mode: three streams (input, compute, output) chained by events, with query i+1
  enqueued before waiting on query i, so H2D of i+1 overlaps compute of i (as trtexec).

Compute is replayed from a CUDA graph by default (as trtexec 11 does). In latency mode without data transfers the launch gate (``gpu/gate.py``) holds
the stream until the compute start event, the graph launch and the end event are all enqueued, so the few
microseconds the host takes to launch are not timed either (``--no-launch-gate`` opts out; a driver without
stream memory operations times ungated and the trial says why). With transfers the gate is not used (on
H200s, gated queries after an H2D copy ran in two modes per process, one about 5 us slower on 0.03 ms
plans; results/h200-2026-11-26c/, cause not found): the graph's own event nodes time compute there. A model
that cannot be captured falls back to eager launches and the samples say why. With a graph, a short eager pass follows
the measured loop, so a launch-bound variant carries both figures (graph GPU time and eager time including
launch).

``cold``: before each query, outside the timed window, the L2 cache is flushed (a memset of twice its
size on the stream, as triton's ``do_bench`` does) and the host inputs rotate among several pinned
copies. Streams, events, the graph and the flush buffer are created before the loop.
"""

from __future__ import annotations

import time
from contextlib import ExitStack
from typing import Callable, List, Optional, Sequence

from trtbench.gpu.cuda import DeviceBuffer, Event, Graph, Stream, check, l2_cache_bytes, rt
from trtbench.gpu.gate import LaunchGate
from trtbench.timing.samples import LoopPlan, RawSamples, StageCalls

#: the eager pass after a graph-timed loop: this share of the measured time, at least EAGER_MIN queries
EAGER_SHARE = 0.2
EAGER_MIN = 20


def capture_compute(compute, stream: Stream, graph_factory: Optional[Callable] = None):
    """(graph, None), or (None, why) when the compute stage cannot be captured in a CUDA graph."""
    try:
        compute(stream.handle)  # warm before capture (TensorRT needs a first run)
        stream.synchronize()
        return (graph_factory or Graph)(compute, stream), None
    except Exception as exc:  # a model that cannot be captured runs eagerly, and the record says why
        text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        try:
            stream.synchronize()
        except Exception:
            pass
        return None, f"{type(exc).__name__}: {text}"[:300]


def _close_stream(stream: Stream) -> None:
    stream.synchronize()
    stream.destroy()


class CudaEventStageTimer:
    name = "cuda-events"

    def __init__(self, mode: str = "latency", cuda_graph: bool = False, spin_wait: bool = False,
                 graph_factory: Optional[Callable] = None, launch_gate: bool = True) -> None:
        if mode not in ("latency", "throughput"):
            raise ValueError(f"unknown timing mode {mode!r}")
        self.mode = mode
        self.cuda_graph = cuda_graph
        self.spin_wait = spin_wait
        self.launch_gate = launch_gate  # latency mode, graph launches: hold the stream until compute is enqueued
        self._graph_factory = graph_factory  # backend hook: (compute_fn, stream) -> object with launch()/destroy()
        self.captures = True  # False: the backend's factory always refuses (onnxruntime), so compute runs eagerly

    def gated(self, data_transfers: bool) -> bool:
        """Whether a captured graph's compute is timed behind the launch gate (see the module docstring)."""
        return self.launch_gate and self.cuda_graph and self.captures and self.mode == "latency" and not data_transfers

    # ------------------------------------------------------------------------------------------------
    def run(self, calls: StageCalls, plan: LoopPlan) -> RawSamples:
        # Everything made here is released in reverse order when the run ends, each release even when an
        # earlier one fails: the gate (its pinned word), the graph, then the events its nodes record, the
        # flush buffer, the streams (synchronised first).
        with ExitStack() as stack:
            streams = []
            for _ in range(3 if self.mode == "throughput" else 1):
                streams.append(Stream())
                stack.callback(_close_stream, streams[-1])
            compute, graph, gate, flush, marks = calls.compute, None, None, None, []
            timing = "eager"
            if self.cuda_graph:
                if self.marked(plan.data_transfers):
                    for _ in range(2):
                        marks.append(Event(False))
                        stack.callback(marks[-1].destroy)
                graph, why, unmarked = self._capture(calls, streams[0 if self.mode == "latency" else 1], marks)
                if graph is not None:
                    stack.callback(graph.destroy)
                    compute, timing = graph.launch, "graph"
                    if unmarked:
                        timing = f"graph (in-graph events unavailable: {unmarked})"
                else:
                    timing = f"eager (graph fallback: {why})"
                if graph is None or unmarked:
                    marks = []  # not in the graph: freed at the end, unused
            if graph is not None and self.gated(plan.data_transfers):
                gate, why = LaunchGate.open(streams[0])
                if gate is None:
                    timing = f"graph (launch gate unavailable: {why})"
                else:
                    stack.callback(gate.close, streams[0])  # frees its word even when the synchronisation fails
            if plan.cold:
                flush = DeviceBuffer(2 * l2_cache_bytes())
                stack.callback(flush.free)
            if self.mode == "latency":
                s = self._latency(calls, compute, plan, streams[0], flush, timing, gate, marks)
            else:
                s = self._throughput(calls, compute, plan, *streams, timing=timing)
            s.compute_timing = timing
            if graph is not None:
                n = max(EAGER_MIN, int(s.queries * EAGER_SHARE))
                eager_plan = LoopPlan(0.0, n, 0.0, n, data_transfers=False)
                s.eager = self._latency(calls, calls.compute, eager_plan, streams[0], None, "eager")
            return s

    def compute_window(self, data_transfers: bool) -> str:
        """What bounds compute's window in latency mode (what was asked; a trial's timer string says what ran)."""
        if self.mode == "throughput":
            return "events around each launch on the compute stream (queries pipelined)"
        if not self.cuda_graph or not self.captures:
            return "events around the eager call (launch included)"
        if self.gated(data_transfers):
            return "events behind the launch gate (GPU work only)"
        if self.marked(data_transfers):
            return "event nodes inside the graph (GPU work only)"
        return "events around the graph launch (launch gap included)"

    def marked(self, data_transfers: bool) -> bool:
        """Whether compute is timed by event nodes inside the graph (see the module docstring): latency mode
        where the gate is not used (data transfers), on a plain stream capture (not a backend's own), unless
        ``--no-launch-gate`` asked for events around the launch."""
        return (self.launch_gate and self.cuda_graph and self.mode == "latency" and data_transfers
                and self._graph_factory is None)

    def _capture(self, calls: StageCalls, stream: Stream, marks: List[Event]):
        """(graph, why it is None, why ``marks`` are not in it): with ``marks``, capture them as the graph's
        first and last nodes; a driver that refuses gets the plain graph, and the reason is returned."""
        unmarked = None
        if marks:
            graph, unmarked = capture_compute(calls.compute, stream, lambda fn, st: Graph(fn, st, (marks[0], marks[1])))
            if graph is not None:
                return graph, None, None
        graph, why = capture_compute(calls.compute, stream, self._graph_factory)
        return graph, why, unmarked

    # ------------------------------------------------------------------------------------------------
    def _latency(self, calls: StageCalls, compute, plan: LoopPlan, stream: Stream, flush: Optional[DeviceBuffer],
                 timing: str, gate: Optional[LaunchGate] = None, marks: Sequence[Event] = ()) -> RawSamples:
        blocking = not self.spin_wait
        # h2d start/end, compute start/end, d2h end. Only the events the host waits on block (e1 when there
        # are transfers, e3): the others time only, and carry the default flags, as the bare clock's do.
        events = [Event(False), Event(blocking and plan.data_transfers), Event(False), Event(False), Event(blocking)]
        s = RawSamples(timer=f"cuda-events:latency:{timing.split(' ')[0]}{':gated' if gate else ''}"
                             f"{':in-graph' if marks else ''}"
                             f"{':spin' if self.spin_wait else ':blocking'}{':cold' if plan.cold else ''}")
        h = stream.handle
        transfers = plan.data_transfers
        h2d, d2h = calls.h2d, calls.d2h
        rotate = getattr(calls, "next_inputs", None) if plan.cold else None
        perf = time.perf_counter_ns
        # The hot loop calls cuda.bindings directly (no wrappers): every call's status is still checked.
        r = rt()
        record, esync, elapsed = r.cudaEventRecord, r.cudaEventSynchronize, r.cudaEventElapsedTime
        memset = r.cudaMemsetAsync
        e0, e1, ec, e2, e3 = (e._e for e in events)
        c0 = ec if transfers else e1  # where compute's window opens (gated: e1 too, already held with e0)
        c1 = e2
        if marks:  # the graph's own first and last nodes: the host's launch is outside the window
            c0, c1 = marks[0]._e, marks[1]._e
        record_ec = transfers and not marks
        sh = stream.raw
        hold = gate.hold if gate else None
        release = gate.release if gate else None

        def cool() -> None:  # untimed: before the query's first event
            if flush is not None:
                err = memset(flush.ptr, 0, flush.nbytes, sh)[0]
                if err:
                    check((err,), "cudaMemsetAsync(L2 flush)")
            if rotate is not None:
                rotate()

        try:
            start = perf()
            while (perf() - start) / 1e9 < plan.warmup_s or s.warmup_queries == 0:
                if plan.cold:
                    cool()
                if transfers:
                    h2d(h)
                compute(h)
                if transfers:
                    d2h(h)
                stream.synchronize()
                s.warmup_queries += 1
            first = perf()
            last = first
            out_h2d, out_c, out_d2h, out_enq, out_lat, out_e2e = s.h2d, s.compute, s.d2h, s.enqueue, s.latency, s.e2e
            done = plan.done
            while not done(len(out_c), (last - first) / 1e9):
                if plan.cold:
                    cool()
                if hold is not None:  # (never with transfers) the GPU waits here until the end event is enqueued,
                    hold(sh)  # so no host time is in any window, e2e included
                try:
                    err = record(e0, sh)[0]
                    if transfers:
                        h2d(h)
                    err = err or record(e1, sh)[0]
                    if transfers:  # the copy is done before compute is enqueued: no launch time hides in it,
                        err = err or esync(e1)[0]  # and compute starts timing after the wait
                    if record_ec:
                        err = err or record(ec, sh)[0]
                    a = perf()
                    compute(h)
                    b = perf()
                    err = err or record(e2, sh)[0]
                    if hold is not None:  # no D2H when gated: the query's end, still held
                        err = err or record(e3, sh)[0]
                finally:
                    if release is not None:
                        release()
                if transfers:
                    d2h(h)
                if hold is None:
                    err = err or record(e3, sh)[0]
                err = err or esync(e3)[0]
                x0, t_h2d = elapsed(e0, e1)
                x1, t_c = elapsed(c0, c1)
                x2, t_d2h = elapsed(e2, e3)
                x3, t_e2e = elapsed(e0, e3)
                if err or x0 or x1 or x2 or x3:
                    check((err or x0 or x1 or x2 or x3,), "cudaEventRecord/Synchronize/ElapsedTime")
                out_h2d.append(t_h2d)
                out_c.append(t_c)
                out_d2h.append(t_d2h)
                out_enq.append((b - a) / 1e6)
                out_lat.append(t_h2d + t_c + t_d2h)
                out_e2e.append(t_e2e)
                last = perf()
            s.walltime_s = (last - first) / 1e9
            if not transfers:
                s.h2d.clear()
                s.d2h.clear()
            return s
        finally:
            for e in events:
                e.destroy()

    # ------------------------------------------------------------------------------------------------
    def _throughput(self, calls: StageCalls, compute, plan: LoopPlan, s_in: Stream, s_comp: Stream,
                    s_out: Stream, timing: str) -> RawSamples:
        blocking = not self.spin_wait
        depth = 2
        # per slot: h2d start/end, compute start/end, d2h start/end
        # only the events the host waits on (each slot's last, the run's end) block; the rest only time
        ev: List[List[Event]] = [[Event(i == 5 and blocking) for i in range(6)] for _ in range(depth)]
        run_start, run_end = Event(False), Event(blocking)
        enq_ns = [0] * depth
        s = RawSamples(timer=f"cuda-events:throughput:{timing.split(' ')[0]}{':spin' if self.spin_wait else ':blocking'}")
        transfers = plan.data_transfers
        hi, hc, ho = s_in.handle, s_comp.handle, s_out.handle
        perf = time.perf_counter_ns

        def enqueue(slot: int) -> None:
            e = ev[slot]
            e[0].record(s_in)
            if transfers:
                calls.h2d(hi)
            e[1].record(s_in)
            s_comp.wait(e[1])
            e[2].record(s_comp)
            a = perf()
            compute(hc)
            enq_ns[slot] = perf() - a
            e[3].record(s_comp)
            s_out.wait(e[3])
            e[4].record(s_out)
            if transfers:
                calls.d2h(ho)
            e[5].record(s_out)
            s_in.wait(e[2])  # the next H2D may start once this query's compute has started

        try:
            start = perf()
            while (perf() - start) / 1e9 < plan.warmup_s or s.warmup_queries == 0:
                enqueue(0)
                ev[0][5].synchronize()
                s.warmup_queries += 1
            s_out.synchronize()
            run_start.record(s_in)
            s_comp.wait(run_start)
            enqueue(0)
            i = 0
            first = perf()
            while True:
                slot = i % 2
                elapsed = (perf() - first) / 1e9
                more = not plan.done(i + 1, elapsed)
                if more:
                    enqueue(1 - slot)
                e = ev[slot]
                e[5].synchronize()
                t_h2d, t_c, t_d2h = e[1].elapsed_ms(e[0]), e[3].elapsed_ms(e[2]), e[5].elapsed_ms(e[4])
                s.h2d.append(t_h2d)
                s.compute.append(t_c)
                s.d2h.append(t_d2h)
                s.enqueue.append(enq_ns[slot] / 1e6)
                s.latency.append(t_h2d + t_c + t_d2h)
                s.e2e.append(e[5].elapsed_ms(e[0]))
                i += 1
                if not more:
                    break
            run_end.record(s_out)
            run_end.synchronize()
            s.walltime_s = run_end.elapsed_ms(run_start) / 1e3
            if not transfers:
                s.h2d.clear()
                s.d2h.clear()
            return s
        finally:
            for e in [x for slot in ev for x in slot] + [run_start, run_end]:
                e.destroy()
