"""The launch gate (trtbench/gpu/gate.py) in the CUDA-event timer, on the CPU doubles of cuda-python
(tests/bare_clock_fakes/: test doubles, no evidence that a GPU behaves so; the GPU run is in results/).

The doubles model a graph launch that costs the host 1 ms before its 0.5 ms of GPU work reaches the stream,
and synchronisations that wait for the GPU clock: an ungated compute window then holds the host's gap, a
gated one the GPU work alone. Each case runs in a subprocess with the doubles first on the path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FAKES = Path(__file__).resolve().parent / "bare_clock_fakes"

TIMER = r"""
import json, sys
from cuda.bindings import runtime as rt
from trtbench.gpu.event_timer import CudaEventStageTimer
from trtbench.timing.samples import LoopPlan

class Calls:
    def h2d(self, stream): rt._enqueue(stream, 0.01, "h2d")
    def compute(self, stream): rt._enqueue(stream, 0.5)
    def d2h(self, stream): rt._enqueue(stream, 0.01, "d2h")

gate, transfers = sys.argv[1] == "gated", sys.argv[2] == "transfers"
timer = CudaEventStageTimer("latency", cuda_graph=True, launch_gate=gate)
try:
    s = timer.run(Calls(), LoopPlan(0.0, 15, 0.0, 15, data_transfers=transfers))
    out = {"compute": sorted(s.compute), "e2e": sorted(s.e2e), "h2d": s.h2d, "timer": s.timer,
           "timing": s.compute_timing, "eager": sorted(s.eager.compute) if s.eager else None,
           "eager_timer": s.eager.timer if s.eager else None}
except Exception as exc:
    out = {"error": f"{type(exc).__name__}: {exc}"}
import threading
out.update(launches=rt.counts["graph_launches"], live={k: len(v) for k, v in rt._live.items()},
           threads=sorted(t.name for t in threading.enumerate()))
print(json.dumps(out))
"""

WATCHDOG = r"""
from trtbench.errors import CudaError
from trtbench.gpu import gate as g
from trtbench.gpu.cuda import Stream
g.WATCHDOG_S = 0.2
stream = Stream()
gate = g.LaunchGate()
gate.hold(stream.raw)
import time; time.sleep(0.6)  # the host is stuck inside the window: the watchdog lets the stream go
stream.synchronize()  # would never return on a held stream (the double raises)
try:
    gate.release()
    print("no error")
except CudaError as exc:
    print(exc)
gate.close(stream)
"""


def _python(code, *args, env=None):
    full = {k: v for k, v in os.environ.items() if not k.startswith("FAKE_CUDA")}
    full.update({"PYTHONPATH": os.pathsep.join([str(FAKES), str(ROOT)]), "FAKE_CUDA_LAUNCH_HOST_MS": "1",
                 "FAKE_CUDA_HOST_WAITS": "1", **(env or {})})
    r = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=full, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip().splitlines()[-1]


def _median(xs):
    return sorted(xs)[len(xs) // 2]


def test_gated_compute_window_holds_the_gpu_work_and_no_host_gap():
    gated = json.loads(_python(TIMER, "gated", "none"))
    assert gated["timing"] == "graph" and ":graph:gated:" in gated["timer"]
    assert gated["compute"][0] == pytest.approx(0.5, abs=1e-9) and gated["compute"][-1] == pytest.approx(0.5, abs=1e-9)
    assert gated["launches"] >= 15 and gated["h2d"] == []
    assert gated["e2e"][-1] == pytest.approx(0.5, abs=1e-9)  # end to end holds no host time either
    # the eager pass after a graph is never gated: it times launch + GPU work (the double's eager call is instant)
    assert gated["eager"][0] >= 0.5 and ":gated" not in gated["eager_timer"]
    # everything freed (streams, events, graph, the gate's pinned word) and the watchdog thread stopped
    assert gated["live"] == dict.fromkeys(gated["live"], 0) and "trtbench-launch-gate" not in gated["threads"]
    ungated = json.loads(_python(TIMER, "ungated", "none"))
    assert ":gated" not in ungated["timer"] and ungated["timing"] == "graph"
    assert _median(ungated["compute"]) > 1.4  # 1 ms of the host's launch inside


def test_with_data_transfers_compute_is_timed_by_the_graphs_own_event_nodes():
    """With transfers the gate stays off (on H200s gated queries after an H2D copy ran in a slow mode in some
    processes): the host waits for the copy, then launches a graph whose first and last nodes record compute's
    events, so the 1 ms the host spends launching is in no window."""
    out = json.loads(_python(TIMER, "gated", "transfers"))
    assert out["timing"] == "graph" and ":gated" not in out["timer"] and ":graph:in-graph:" in out["timer"]
    assert out["h2d"] and max(out["h2d"]) < 0.5
    assert out["compute"][0] == pytest.approx(0.5, abs=1e-9) and out["compute"][-1] == pytest.approx(0.5, abs=1e-9)
    assert out["e2e"][0] > 1.4  # end to end still holds the host's launch (the copy's wait, then the launch)
    assert ":in-graph" not in out["eager_timer"] and out["eager"][0] >= 0.5
    assert out["live"] == dict.fromkeys(out["live"], 0)  # the two marking events freed with the graph


def test_without_event_nodes_compute_falls_back_to_events_around_the_launch_and_says_why():
    out = json.loads(_python(TIMER, "gated", "transfers", env={"FAKE_CUDA_NO_EVENT_NODES": "1"}))
    assert out["timing"].startswith("graph (in-graph events unavailable: CudaError: cudaEventRecordWithFlags")
    assert ":in-graph" not in out["timer"] and _median(out["compute"]) > 1.4
    assert out["live"] == dict.fromkeys(out["live"], 0)


def test_the_compute_window_closes_at_the_graphs_last_node_not_after_the_host_returns():
    """The host spends 1 ms in the launch call after the graph's 0.5 ms of work reached the stream: an end event
    recorded after the call would hold it; the graph's own end node does not."""
    out = json.loads(_python(TIMER, "gated", "transfers", env={"FAKE_CUDA_LAUNCH_HOST_AFTER_MS": "1"}))
    assert ":in-graph" in out["timer"]
    assert out["compute"][0] == pytest.approx(0.5, abs=1e-9) and out["compute"][-1] == pytest.approx(0.5, abs=1e-9)


@pytest.mark.parametrize("env,timing", [
    ({"FAKE_CUDA_NO_EVENT_NODES": "end"}, "graph (in-graph events unavailable: CudaError: cudaEventRecordWithFlags"),
    ({"FAKE_CUDA_FAIL_INSTANTIATE": "1"}, "eager (graph fallback: CudaError: cudaGraphInstantiate failed"),
])
def test_a_capture_that_fails_halfway_leaves_no_graph_or_event_behind(env, timing):
    out = json.loads(_python(TIMER, "gated", "transfers", env=env))
    assert out["timing"].startswith(timing), out["timing"]
    assert ":in-graph" not in out["timer"] and out["live"] == dict.fromkeys(out["live"], 0)


def test_a_launch_that_fails_in_a_marked_loop_frees_everything():
    out = json.loads(_python(TIMER, "gated", "transfers", env={"FAKE_CUDA_FAIL_LAUNCH_AFTER": "8"}))
    assert out["error"].startswith("CudaError: cudaGraphLaunch failed"), out["error"]
    assert out["live"] == dict.fromkeys(out["live"], 0)


def test_the_compute_window_the_timer_reports():
    from trtbench.gpu.event_timer import CudaEventStageTimer

    def window(transfers=True, **kw):
        captures = kw.pop("captures", True)
        t = CudaEventStageTimer(**{"mode": "latency", "cuda_graph": True, **kw})
        t.captures = captures
        return t.compute_window(transfers)

    assert window() == "event nodes inside the graph (GPU work only)"
    assert window(False) == "events behind the launch gate (GPU work only)"
    assert window(launch_gate=False) == window(False, launch_gate=False) == \
        "events around the graph launch (launch gap included)"
    assert window(graph_factory=lambda fn, s: None) == "events around the graph launch (launch gap included)"
    assert window(False, graph_factory=lambda fn, s: None) == "events behind the launch gate (GPU work only)"
    assert window(cuda_graph=False) == window(captures=False) == window(False, captures=False) == \
        "events around the eager call (launch included)"
    assert window(mode="throughput") == "events around each launch on the compute stream (queries pipelined)"


def test_a_backends_own_graph_capture_is_not_marked():
    """A backend that captures its graph itself (PyTorch) gets no event nodes: its compute window opens before
    the launch, as before."""
    code = TIMER.replace('timer = CudaEventStageTimer("latency", cuda_graph=True, launch_gate=gate)',
                         'from trtbench.gpu.cuda import Graph\n'
                         'timer = CudaEventStageTimer("latency", cuda_graph=True, launch_gate=gate, '
                         'graph_factory=lambda fn, stream: Graph(fn, stream))')
    assert code != TIMER
    out = json.loads(_python(code, "gated", "transfers"))
    assert out["timing"] == "graph" and ":in-graph" not in out["timer"] and _median(out["compute"]) > 1.4


def test_a_driver_without_stream_memory_operations_times_ungated_and_says_why():
    out = json.loads(_python(TIMER, "gated", "none", env={"FAKE_CUDA_NO_STREAM_MEM_OPS": "1"}))
    assert out["timing"].startswith("graph (launch gate unavailable: CudaError: cuStreamWaitValue32 failed")
    assert "CUDA_ERROR_NOT_SUPPORTED" in out["timing"] and ":gated" not in out["timer"]
    assert _median(out["compute"]) > 1.4


def test_the_watchdog_releases_a_stuck_gate_and_the_stage_fails_naming_the_way_out():
    message = _python(WATCHDOG)
    assert "waited on the host while its stream was held" in message and "--no-launch-gate" in message


def test_a_launch_that_fails_inside_the_gate_releases_the_stream_and_frees_everything():
    """The 9th graph launch (the 8th measured query) fails while the stream is held: the stage fails with that launch's error (not a
    synchronisation on a stream still held, which would never return on a GPU), and nothing is left behind."""
    out = json.loads(_python(TIMER, "gated", "none", env={"FAKE_CUDA_FAIL_LAUNCH_AFTER": "8"}))
    assert out["error"].startswith("CudaError: cudaGraphLaunch failed"), out["error"]
    assert out["live"] == dict.fromkeys(out["live"], 0) and "trtbench-launch-gate" not in out["threads"]


def test_the_backend_builds_its_timer_with_the_runs_launch_gate_setting_and_the_facts_follow():
    from dataclasses import replace

    from trtbench.backends.onnxruntime_backend import OnnxRuntimeBackend
    from trtbench.config.settings import RunSettings
    from trtbench.matrix.spec import Variant
    from trtbench.models.loading import ModelSource
    from trtbench.backends.prepare import prepare_model
    from trtbench.run.measure import timing_facts

    class Capturing(OnnxRuntimeBackend):  # a double: a backend whose compute a plain stream capture takes
        captures_graphs = True

        def graph_factory(self):
            return None

    v = Variant(ModelSource("mlp"), "onnxruntime", 1, "fp32", "implicit")
    prepared = prepare_model(v, v.model.load())
    got = {}
    for cls in (Capturing, OnnxRuntimeBackend):
        for gate in (True, False):
            for transfers in (True, False):
                settings = replace(RunSettings(), launch_gate=gate, data_transfers=transfers)
                be = cls(v, settings, prepared)
                be.on_gpu = True  # the timer's constructor touches no CUDA: which timer is built, and how, is checked
                timer = be.stage_timer()
                assert timer.launch_gate is gate and timer.captures is cls.captures_graphs
                facts = timing_facts(be, settings)
                got[cls.__name__, gate, transfers] = facts["launch_gate"], facts["compute_window"]
    gated, marked = "events behind the launch gate (GPU work only)", "event nodes inside the graph (GPU work only)"
    around, eager = "events around the graph launch (launch gap included)", "events around the eager call (launch included)"
    assert got == {("Capturing", True, False): (True, gated), ("Capturing", True, True): (False, marked),
                   ("Capturing", False, False): (False, around), ("Capturing", False, True): (False, around),
                   # onnxruntime's Run is never captured: the records say compute is timed eagerly
                   **dict.fromkeys([("OnnxRuntimeBackend", g, t) for g in (True, False) for t in (True, False)],
                                   (False, eager))}
