import math

import pytest

from tests.fakes import FakeClock, FakeStages
from trtbench.timing.host_timer import HostStageTimer
from trtbench.timing.samples import LoopPlan, RawSamples
from trtbench.timing.stats import describe, median, nearest_rank


def test_nearest_rank_matches_trtexec_formula():
    xs = list(range(1, 101))  # 1..100
    assert nearest_rank(xs, 99) == 99  # index 100-1-floor(0.01*100)=98 -> 99
    assert nearest_rank(xs, 90) == 90
    assert nearest_rank(xs, 50) == 50
    assert nearest_rank([5.0], 99) == 5.0
    ten = [float(i) for i in range(10)]
    assert nearest_rank(ten, 95) == 9.0  # exclude floor(0.05*10)=0 -> index 9
    assert nearest_rank(ten, 90) == 8.0  # exclude 1 -> index 8
    with pytest.raises(ValueError):
        nearest_rank([], 50)


def test_describe_known_values():
    d = describe([4.0, 1.0, 3.0, 2.0])
    assert d["n"] == 4 and d["min"] == 1.0 and d["max"] == 4.0
    assert d["mean"] == 2.5 and d["median"] == 2.5
    assert d["std"] == pytest.approx(math.sqrt(5 / 3))
    assert d["cv"] == pytest.approx(math.sqrt(5 / 3) / 2.5)
    assert d["iqr"] == d["p75"] - d["p25"] == 2.0
    assert median(sorted([3.0, 1.0, 2.0])) == 2.0
    assert describe([]) == {"n": 0}


def _trials(medians, n=50, **kw):
    from tests.helpers import trial_of

    return [trial_of([m] * n, i, **kw) for i, m in enumerate(medians)]


def test_quality_flags_are_judged_over_trials():
    from tests.helpers import trial_of
    from trtbench.results.quality import assess
    from trtbench.results.record import Stats, Telemetry

    kw = dict(min_samples=30, cv_threshold=0.025)
    stable = _trials([1.0, 1.0, 1.0], enqueue_ms=[0.2] * 50)
    assert assess(stable, planned=3, gpu=True, **kw) == []
    assert "noisy" in assess(_trials([1.0, 1.2, 0.9]), planned=3, gpu=False, **kw)  # the trials disagree
    assert "noisy" not in assess(_trials([1.0, 1.02, 0.99]), planned=3, gpu=False, **kw)  # CV 1.5%: within 2.5%
    jitter = [trial_of([1.0, 2.0] * 25, i) for i in range(3)]  # noisy inside each trial, trials agree
    assert jitter[0].stats["compute"].cv > 0.3 and "noisy" not in assess(jitter, planned=3, gpu=False, **kw)
    assert "noisy" not in assess(_trials([1.0]), planned=1, gpu=False, **kw)  # one trial: no between-trial spread
    assert "too_few_samples" in assess(_trials([1.0, 1.0], n=5), planned=2, gpu=False, **kw)
    enq = _trials([1.0, 1.0], enqueue_ms=[0.9] * 50)
    assert "enqueue_bound" in assess(enq, planned=2, gpu=True, **kw)
    assert "enqueue_bound" not in assess(enq, planned=2, gpu=False, **kw)  # a host timer's enqueue is compute
    # a CUDA graph timed compute: the launch time is the eager pass's enqueue, not the graph launch's
    eager = {"compute": Stats.of([1.1] * 20), "enqueue": Stats.of([0.9] * 20)}
    graphed = _trials([1.0, 1.0], enqueue_ms=[0.01] * 50, eager=eager, compute_timing="graph")
    assert "enqueue_bound" in assess(graphed, planned=2, gpu=True, **kw)
    assert "transfer_bound" in assess(_trials([1.0, 1.0], d2h_ms=[1.5] * 50), planned=2, gpu=False, **kw)
    assert "transfer_bound" not in assess(_trials([1.0, 1.0]), planned=2, gpu=False, **kw)
    hot = _trials([1.0, 1.0])
    hot[1] = trial_of([1.0] * 50, 1, telemetry=Telemetry(samples=9, throttled=True, throttle_reasons=("hw_slowdown",)))
    assert "throttled" in assess(hot, planned=2, gpu=True, **kw)
    assert "inaccurate" in assess(stable, planned=3, gpu=False, accuracy={"inaccurate": True}, **kw)
    assert "incomplete" in assess(stable, planned=4, gpu=False, **kw)
    assert assess([], planned=3, gpu=False, **kw) == ["incomplete"]


def test_throughput_is_the_median_over_trials_times_the_batch():
    from dataclasses import replace

    from tests.helpers import trial_of, variant_of
    from trtbench.results.record import VariantRecord

    trials = tuple(trial_of([1.0] * 10, i, queries_per_s=q) for i, q in enumerate((40.0, 50.0, 70.0)))
    rec = VariantRecord(variant_of("mlp", batch=8), "x", "ok", trials=trials, planned_trials=3)
    assert rec.queries_per_s == pytest.approx(50.0) and rec.inferences_per_s == pytest.approx(400.0)
    assert replace(rec, trials=()).inferences_per_s is None


def test_host_timer_with_a_fake_clock_gives_exact_stage_times():
    # every now_ns() call advances 1 ms: each stage measures exactly 1 ms
    clock = FakeClock([1_000_000])
    stages = FakeStages()
    raw = HostStageTimer(clock).run(stages, LoopPlan(warmup_s=0.0, min_iterations=5, min_duration_s=0.0,
                                                     max_iterations=100))
    assert raw.queries == 5 and raw.warmup_queries == 1
    assert raw.h2d == raw.compute == raw.d2h == [1.0] * 5
    assert raw.latency == [3.0] * 5 and raw.e2e == [3.0] * 5
    assert stages.calls == {"h2d": 6, "compute": 6, "d2h": 6}


def test_loop_runs_until_both_iterations_and_duration():
    clock = FakeClock([1_000_000])  # 1 ms per tick, 4 ticks per query
    raw = HostStageTimer(clock).run(FakeStages(), LoopPlan(0.0, 3, 0.1, 10_000))
    assert raw.queries > 3 and raw.walltime_s >= 0.1
    capped = HostStageTimer(FakeClock([1_000_000])).run(FakeStages(), LoopPlan(0.0, 3, 100.0, 7))
    assert capped.queries == 7  # max_iterations stops it


def test_warmup_by_time_and_no_transfers():
    clock = FakeClock([1_000_000])
    stages = FakeStages()
    raw = HostStageTimer(clock).run(stages, LoopPlan(0.010, 2, 0.0, 2, data_transfers=False))
    assert raw.warmup_queries >= 3 and stages.calls["h2d"] == stages.calls["d2h"] == 0
    assert raw.compute == [1.0, 1.0]
    assert raw.h2d == [] and raw.d2h == []  # no copies ran: no H2D/D2H figures (not 1 ms of clock reading)
    assert raw.compute_timing == "host" and not raw.timer.endswith(":cold")


def test_cold_host_loop_rotates_inputs_outside_the_timed_window():
    class Rotating(FakeStages):
        def next_inputs(self):
            self.calls["rotate"] = self.calls.get("rotate", 0) + 1

    stages = Rotating()
    raw = HostStageTimer(FakeClock([1_000_000])).run(stages, LoopPlan(0.0, 4, 0.0, 4, cold=True))
    assert raw.timer.endswith(":cold") and stages.calls["rotate"] == 4  # once before each measured query
    assert raw.compute == [1.0] * 4  # the rotation (and the cache flush) read no clock: untimed


def test_raw_samples_roundtrip():
    r = RawSamples(h2d=[1.0], compute=[2.0], d2h=[3.0], enqueue=[2.0], latency=[6.0], e2e=[6.5], walltime_s=1.0,
                   warmup_queries=2, timer="x")
    assert RawSamples.from_dict(r.to_dict()).to_dict() == r.to_dict()


def test_trial_and_record_roundtrip():
    from tests.helpers import trial_of, variant_of
    from trtbench.results.record import Stats, Telemetry, Trial, VariantRecord

    t = trial_of([1.0, 2.0, 3.0], 2, round=2, compute_timing="eager (graph fallback: NotApplicable: no)",
                 eager={"enqueue": Stats.of([0.5, 0.7])}, telemetry=Telemetry(samples=3, sm_clock_mhz=1980.0),
                 flags=("too_few_samples",))
    back = Trial.from_dict(t.to_dict())
    assert back.to_dict() == t.to_dict()  # samples are written to 1 ns (6 decimals of a ms)
    assert (back.compute_timing, back.eager, back.telemetry, back.flags) == (t.compute_timing, t.eager, t.telemetry,
                                                                             t.flags)
    assert back.stats == t.stats and back.value("compute") == 2.0 and back.value("compute", "p50") == 2.0
    assert back.value("compute", "p99") == 3.0 and back.value("nope") is None
    rec = VariantRecord(variant_of("mlp", batch=4), "mlp-x", "ok", trials=(t,), planned_trials=3,
                        accuracy={"rel_l2": 1e-7}, extra={"ab_side": "B"})
    again = VariantRecord.from_dict(rec.to_dict())
    assert again.to_dict() == rec.to_dict() and again.planned_trials == 3 and again.extra == {"ab_side": "B"}
    assert again.to_dict()["summary"]["compute"]["value"] == 2.0
