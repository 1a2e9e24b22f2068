"""Load: the schedulers on a fake clock (closed loop, Poisson open loop and its queueing, overload), the harness
ceiling, the latency-budget search, and the real host path (HostBuffers, slots of onnxruntime and torch on the
CPU, thread lanes). The fakes (tests/load_fakes.py) test our logic only; GPU evidence is bench/gpu_load.sh's."""

from __future__ import annotations

import random
import statistics
import threading

import numpy as np
import pytest

from tests.load_fakes import FakeDevice, FakeLane, FakeLoadBackend, FakeLoadTimer, FakeTimeline
from trtbench.backends.base import LifecycleError
from trtbench.backends.host_buffers import HostBuffers
from trtbench.backends.onnxruntime_backend import OnnxRuntimeBackend
from trtbench.backends.prepare import prepare_model
from trtbench.backends.torch_backend import TorchBackend
from trtbench.config.settings import RunSettings
from trtbench.matrix.spec import ShapeProfile, Variant
from trtbench.models.inputs import make_inputs
from trtbench.models.loading import ModelSource
from trtbench.results.quality import load_flags
from trtbench.results.record import Trial
from trtbench.run.load import measure_load
from trtbench.run.search import LIGHT_SHARE, STEPS, TOP_SHARE, search
from trtbench.timing.load import LoadPlan, closed_loop, open_loop, poisson_gaps
from trtbench.timing.load_host import HostLoadTimer
from trtbench.timing.samples import RawSamples
from trtbench.timing.stats import nearest_rank


def plan(**kw) -> LoadPlan:
    base = dict(concurrency=1, warmup_s=0.0, min_iterations=10, min_duration_s=0.1, max_iterations=100_000)
    base.update(kw)
    return LoadPlan(**base)


# ---- 1. the closed loop ----------------------------------------------------------------------------------------

def test_closed_loop_on_independent_servers_gives_n_over_service_and_no_queueing():
    clock = FakeTimeline()
    lanes = [FakeLane(clock, 2.0) for _ in range(4)]
    out = closed_loop(lanes, plan(concurrency=4, min_duration_s=0.1), clock)
    assert len(out.times) % 4 == 0 and len(out.times) >= 200  # 4 lanes in lockstep for >= 0.1 s of 2 ms queries
    assert out.qps == pytest.approx(4 / 2e-3)  # span-based: N / service, exactly
    assert {round(t.end - t.start, 9) for t in out.times} == {2.0}
    assert all(not lane.busy for lane in lanes)  # drained


def test_closed_loop_on_one_shared_device_keeps_throughput_and_pays_in_latency():
    """When the device is the bottleneck, N in flight give the same throughput and N times the latency
    (Little's law: in flight = throughput x response time)."""
    clock = FakeTimeline()
    device = FakeDevice()
    lanes = [FakeLane(clock, 1.0, device) for _ in range(4)]
    out = closed_loop(lanes, plan(concurrency=4, min_duration_s=0.2), clock)
    assert out.qps == pytest.approx(1 / 1e-3, rel=1e-9)
    steady = sorted(t.end - t.start for t in out.times)[len(out.times) // 2]
    assert steady == pytest.approx(4.0)
    assert 4 == pytest.approx(out.qps * steady / 1e3)


def test_closed_loop_respects_max_iterations_and_issues_each_lane_only_when_idle():
    clock = FakeTimeline()
    lanes = [FakeLane(clock, 1.0) for _ in range(3)]
    out = closed_loop(lanes, plan(concurrency=3, min_duration_s=10.0, max_iterations=10), clock)
    assert len(out.times) == out.arrivals == 10 and sum(len(lane.issued) for lane in lanes) == 10


# ---- 2. the open loop ------------------------------------------------------------------------------------------

def _lindley(gaps_ns, service_ns):
    """Waiting times of a single FIFO server (Lindley's recursion), in ms."""
    w, out = 0, []
    for i, gap in enumerate(gaps_ns):
        if i:
            w = max(0, w + service_ns - gap)
        out.append(w / 1e6)
    return out


def test_open_loop_waits_are_lindleys_recursion_within_the_polling_interval():
    """One server, 1 ms per query, Poisson arrivals at 800/s: each measured queue wait lies between Lindley's
    recursion with the service time and with the service time plus one poll (completions are noticed by polling)."""
    clock = FakeTimeline()
    lane = FakeLane(clock, 1.0)
    p = plan(rate=800.0, seed=7, min_duration_s=2.0, poll_us=20.0)
    out = open_loop([lane], p, clock)
    n = len(out.times)
    assert n == out.arrivals and out.unserved == 0 and n > 1200
    gaps = poisson_gaps(800.0, 7)
    arrival_gaps = [next(gaps) for _ in range(n)]
    low, high = _lindley(arrival_gaps, 1_000_000), _lindley(arrival_gaps, 1_020_000)
    for k, (w, lo, hi) in enumerate(zip(out.queue, low, high)):
        assert lo - 1e-9 <= w <= hi + 1e-9, (k, w, lo, hi)
    assert sum(w > 0 for w in out.queue) > n // 3  # queueing really happened at 80% load
    # the issue times are the scheduled arrivals whenever the server was free (no lateness on the fake clock)
    t, arrivals = lane.issued[0] - arrival_gaps[0], []
    for g in arrival_gaps:
        t += g
        arrivals.append(t)
    assert all(i == a for i, a, w in zip(lane.issued, arrivals, out.queue) if w == 0)
    # M/D/1 (Pollaczek-Khinchine): mean wait rho * S / (2 (1 - rho)) = 2 ms; one seeded sample of it
    assert 1.2 < statistics.fmean(out.queue) < 3.0


def test_poisson_arrivals_are_seeded_and_have_the_rate():
    a, b, c = poisson_gaps(500.0, 3), poisson_gaps(500.0, 3), poisson_gaps(500.0, 4)
    xs = [next(a) for _ in range(20000)]
    assert xs[:100] == [next(b) for _ in range(100)] and xs[:100] != [next(c) for _ in range(100)]
    assert statistics.fmean(xs) / 1e9 == pytest.approx(1 / 500.0, rel=0.03)
    assert statistics.pstdev(xs) / statistics.fmean(xs) == pytest.approx(1.0, rel=0.05)  # exponential: CV 1


def test_open_loop_overload_counts_what_was_never_served():
    clock = FakeTimeline()
    out = open_loop([FakeLane(clock, 1.0)], plan(rate=3000.0, seed=1, min_duration_s=0.5, drain_limit_s=0.1), clock)
    assert out.unserved > 0 and len(out.times) + out.unserved == out.arrivals
    assert out.qps == pytest.approx(1000.0, rel=0.01)  # the server's capacity, not the offered rate
    assert max(out.queue) > 100  # ms: the backlog is in the latency, from the scheduled arrivals


def test_open_loop_needs_a_rate():
    with pytest.raises(ValueError):
        open_loop([FakeLane(FakeTimeline(), 1.0)], plan(), FakeTimeline())


# ---- 3. the timer: warm-up, harness ceiling, samples -----------------------------------------------------------

@pytest.mark.parametrize("service, bound", [(1.0, False), (0.011, True)])
def test_harness_ceiling_is_recorded_and_flags_a_variant_near_it(service, bound):
    timer = FakeLoadTimer(2, service, noop_ms=0.01)
    with timer:
        s = timer.measure(plan(concurrency=2, warmup_s=0.01, min_duration_s=0.05))
    assert timer.opened == timer.closed == 1
    load = s.load
    assert load["harness_ceiling_qps"] == pytest.approx(2 / 0.01e-3)
    assert load["achieved_qps"] == pytest.approx(2 / (service * 1e-3))
    assert load["harness_bound"] is bound and load["loop"] == "closed" and load["concurrency"] == 2
    assert s.queries == len(s.response) and not s.queue and s.response == s.e2e  # closed loop: response = e2e
    assert s.timer == "load:fake:closed:c2" and s.warmup_queries >= 2
    trial = Trial.measured(s, index=0, round=0, position=0, process="x", reloaded=True, started=0.0, ended=1.0,
                           compute_timing="eager")
    assert trial.queries_per_s == pytest.approx(load["achieved_qps"])
    assert ("harness_bound" in load_flags([trial])) is bound
    back = RawSamples.from_dict(s.to_dict())
    assert back.load == s.load and back.response == pytest.approx(s.response, abs=1e-6)


def test_samples_of_single_query_trials_are_written_as_before():
    s = RawSamples(compute=[1.0], latency=[1.0], e2e=[1.0], h2d=[0.0], d2h=[0.0], enqueue=[0.1], walltime_s=1.0)
    d = s.to_dict()
    assert "load" not in d and "queue" not in d and "response" not in d
    assert set(s.series()) == {"h2d", "compute", "d2h", "enqueue", "latency", "e2e"}


# ---- 4. the latency-budget search ------------------------------------------------------------------------------

def _probe_curve(capacity: float, base_ms: float):
    """A variant whose p99 grows as 1 / (1 - load): base_ms at no load, without bound at capacity."""
    calls = []

    def probe(rate: float) -> RawSamples:
        calls.append(rate)
        p99 = base_ms / (1 - rate / capacity) if rate < capacity else 1e9
        return RawSamples(response=[p99] * 100, load={"achieved_qps": rate, "unserved": 0})

    return probe, calls


def test_search_brackets_the_highest_rate_within_the_budget():
    probe, calls = _probe_curve(1000.0, 1.0)
    r = search(probe, budget_ms=4.0, capacity_qps=1000.0)
    true_limit = 1000.0 * (1 - 1.0 / 4.0)  # 750 q/s
    assert len(calls) == STEPS and calls[:2] == [LIGHT_SHARE * 1000.0, TOP_SHARE * 1000.0]
    assert r.reachable and r.answer.rate <= true_limit < r.not_met_above
    assert r.not_met_above - r.answer.rate <= (TOP_SHARE - LIGHT_SHARE) * 1000.0 / 2 ** (STEPS - 2) + 1e-9
    assert r.answer.p99 <= 4.0 and r.samples.response[0] == r.answer.p99
    d = r.to_dict()
    assert d["answer_qps"] == r.answer.rate and len(d["probes"]) == STEPS and "bounded search" in d["method"]


def test_search_budget_below_the_unloaded_latency_is_not_reachable_not_a_crash():
    probe, calls = _probe_curve(1000.0, 1.0)
    r = search(probe, budget_ms=1.0, capacity_qps=1000.0)  # p99 at 10% load is 1.11 ms
    assert not r.reachable and len(calls) == 1 and r.reason.startswith("not reachable: p99 1.111 ms")
    assert r.samples is not None and r.to_dict()["answer_qps"] is None


def test_search_top_probe_within_budget_is_the_answer():
    probe, calls = _probe_curve(1000.0, 1.0)
    r = search(probe, budget_ms=100.0, capacity_qps=1000.0)
    assert len(calls) == 2 and r.answer.rate == TOP_SHARE * 1000.0


def test_budget_variant_end_to_end_on_the_fake_timer():
    """measure_load runs the closed loop (capacity), then open-loop Poisson probes, on one queue (M/D/1)."""
    settings = RunSettings(warmup_ms=5, duration_s=0.4, iterations=50, seed=3)
    v = Variant(ModelSource("mlp"), "onnxruntime", 1, concurrency=1, latency_budget_ms=5.0)
    s = measure_load(FakeLoadBackend(v, FakeLoadTimer(1, 1.0, 0.01)), settings, trial=0)
    found = s.load["search"]
    assert s.load["loop"] == "budget" and s.timer.startswith("load:fake:budget:c1")
    assert found["capacity_qps"] == pytest.approx(1000.0) and found["reachable"]
    assert len(found["probes"]) == STEPS and found["answer_p99_ms"] <= 5.0
    assert nearest_rank(sorted(s.response), 99) == found["answer_p99_ms"]  # the trial's samples are the answer's
    assert 500 < found["answer_qps"] < found["not_met_above_qps"] <= TOP_SHARE * 1000.0
    again = measure_load(FakeLoadBackend(v, FakeLoadTimer(1, 1.0, 0.01)), settings, trial=0)
    assert again.load["search"]["probes"] == found["probes"]  # same seed, same arrivals, same answer
    v_low = Variant(ModelSource("mlp"), "onnxruntime", 1, concurrency=1, latency_budget_ms=0.5)
    low = measure_load(FakeLoadBackend(v_low, FakeLoadTimer(1, 1.0, 0.01)), settings, trial=0)
    assert not low.load["search"]["reachable"] and low.load["search"]["reason"].startswith("not reachable")


# ---- 5. host buffers, slots, thread lanes (real onnxruntime and torch on the CPU) -------------------------------

def test_host_buffers_copy_only_the_actual_bytes():
    b = HostBuffers({"x": (np.float32, (8, 4))}, {"y": (np.float32, (8, 4))})
    try:
        b.load_inputs({"x": np.arange(8, dtype=np.float32).reshape(2, 4)})
        assert b.total_bytes()["h2d_bytes"] == 32
        b.h2d(None)
        dev = b.inputs["x"].device.view(np.float32, (8, 4))
        assert dev[:2].ravel().tolist() == list(range(8)) and not dev[2:].any()
        b.set_output_source("y", b.inputs["x"].device.ptr)
        b.set_shape("y", (2, 4))
        b.d2h(None)
        assert b.host_outputs()["y"].tolist() == dev[:2].tolist()
        b.rotate_inputs(3)
        b.next_inputs()
        b.h2d(None)  # from another host copy, the same data
        assert dev[:2].ravel().tolist() == list(range(8))
        with pytest.raises(ValueError):
            b.set_shape("x", (9, 4))
    finally:
        b.free()
    assert all(t.device.ptr == 0 for t in b.inputs.values())


def _ort_backend(concurrency=1):
    v = Variant(ModelSource("resnet"), "onnxruntime", 2, "fp32", "explicit", ShapeProfile("p", batch=(1, 2, 4)),
                concurrency=concurrency)
    prepared = prepare_model(v, v.model.load())
    be = OnnxRuntimeBackend(v, RunSettings(warmup_ms=5, duration_s=0.05, iterations=5), prepared)
    return be, make_inputs(prepared.dtypes, prepared.run_shapes, 0)


def test_onnxruntime_cpu_slots_each_compute_the_same_outputs_on_their_own_buffers():
    be, feeds = _ort_backend(3)
    with pytest.raises(LifecycleError):
        be.open_slots(2)
    be.prepare()
    be.load()
    be.bind(feeds)
    be.h2d(None)
    be.compute(None)
    be.d2h(None)
    ref = be.outputs()["logits"].copy()
    slots = be.open_slots(3)
    assert slots[0] is be.slots[0] and be.stage_calls() is be and be.open_slots(2) == slots[:2]
    assert len({s.buffers.inputs["input"].device.ptr for s in slots}) == 3
    assert all(s.session is be.session for s in slots)  # CPU: one session, one IOBinding per slot
    for s in reversed(slots):
        s.h2d(None)
        s.compute(None)
        s.d2h(None)
        np.testing.assert_array_equal(s.host_outputs()["logits"], ref)
    be.release()
    assert be.slots == [] and be.session is None and all(s.buffers is None and s.binding is None for s in slots)


def test_host_thread_lanes_run_real_onnxruntime_queries_in_flight():
    be, feeds = _ort_backend(2)
    be.prepare()
    be.load()
    be.bind(feeds)
    try:
        with be.load_timer(be.open_slots(2)) as timer:
            closed = timer.measure(plan(concurrency=2, warmup_s=0.01, min_duration_s=0.1))
            opened = timer.measure(plan(concurrency=2, warmup_s=0.01, min_duration_s=0.2, rate=300.0, seed=5))
        assert not [t for t in threading.enumerate() if t.name.startswith("trtbench-")]
    finally:
        be.release()
    assert closed.queries >= 10 and closed.load["achieved_qps"] > 0 and closed.timer == "load:host-threads:closed:c2"
    assert closed.load["harness_ceiling_qps"] > 0  # measured with a no-op compute: its size is bench/'s business
    assert all(r >= c for r, c in zip(closed.response, closed.compute))
    assert opened.load["arrivals"] == opened.queries and len(opened.queue) == opened.queries
    assert all(r == pytest.approx(q + e) for r, q, e in zip(opened.response, opened.queue, opened.e2e))
    assert 300 * 0.5 < opened.load["achieved_qps"] < 300 * 1.6  # a seeded Poisson sample over ~0.2 s


class _Failing:
    def h2d(self, stream):
        pass

    def compute(self, stream):
        raise RuntimeError("kernel went wrong")

    def d2h(self, stream):
        pass


def test_a_failing_query_on_a_thread_lane_is_raised_not_hung():
    with HostLoadTimer([_Failing(), _Failing()]) as timer:
        with pytest.raises(RuntimeError, match="kernel went wrong"):
            timer.measure(plan(concurrency=2, ceiling_s=0.0))


@pytest.mark.torch
@pytest.mark.parametrize("precision", ["fp32", "bf16-io"])
def test_torch_cpu_slots_agree_with_slot_zero(precision):
    v = Variant(ModelSource("mlp"), "torch", 4, precision, "implicit", concurrency=2)
    prepared = prepare_model(v, v.model.load())
    be = TorchBackend(v, RunSettings(), prepared)
    be.prepare()
    be.load()
    be.bind(make_inputs(prepared.dtypes, prepared.run_shapes, 0))
    try:
        outs = []
        for s in be.open_slots(2):
            s.h2d(None)
            s.compute(None)
            s.d2h(None)
            outs.append(s.host_outputs())
        assert outs[0].keys() == outs[1].keys()
        for k in outs[0]:
            np.testing.assert_array_equal(outs[0][k], outs[1][k])
        assert be.slots[0].inputs[0].data_ptr() != be.slots[1].inputs[0].data_ptr()
    finally:
        be.release()
    assert be.module is None and be.slots == []


def test_random_module_is_not_the_arrival_source():
    """The arrivals come from their own seeded generator: the global random state does not move them."""
    random.seed(1)
    a = [next(poisson_gaps(100.0, 9)) for _ in range(1)]
    random.seed(2)
    assert a == [next(poisson_gaps(100.0, 9)) for _ in range(1)]


def test_gpu_load_runs_spin_and_their_record_says_so_whatever_spin_wait_says():
    """A blocking wait's wake-up idles a slot under load (93% vs 99.75% of a bare loop, H200), so the GPU
    load timer is built spinning and the timing facts record what ran; on a CPU the setting is recorded."""
    from trtbench.gpu.load_timer import CudaLoadTimer
    from trtbench.run.measure import load_facts

    be, _ = _ort_backend(2)
    assert not be.settings.spin_wait
    be.on_gpu = True  # the timer's constructor touches no CUDA: only which timer is built and how is checked
    timer = be.load_timer([])
    assert isinstance(timer, CudaLoadTimer) and timer.spin_wait is True
    assert load_facts(be, be.settings)["spin_wait"] is True
    be.on_gpu = False
    assert load_facts(be, be.settings)["spin_wait"] is False
