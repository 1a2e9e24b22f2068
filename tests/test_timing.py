import math

import pytest

from tests.fakes import FakeClock, FakeStages
from trtbench.timing.host_timer import HostStageTimer
from trtbench.timing.samples import LoopPlan, RawSamples
from trtbench.timing.stats import describe, median, nearest_rank, quality_flags, summarize


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


def test_quality_flags():
    stable = {"compute": describe([1.0] * 50), "h2d": describe([0.1] * 50), "d2h": describe([0.1] * 50),
              "enqueue": describe([0.2] * 50)}
    assert quality_flags(stable, min_samples=30, cv_threshold=0.025, gpu=True) == []
    noisy = dict(stable, compute=describe([1.0, 2.0] * 25))
    assert "noisy" in quality_flags(noisy, min_samples=30, cv_threshold=0.025)
    few = dict(stable, compute=describe([1.0] * 5))
    assert "too_few_samples" in quality_flags(few, min_samples=30, cv_threshold=0.025)
    enq = dict(stable, enqueue=describe([0.9] * 50))
    assert "enqueue_bound" in quality_flags(enq, min_samples=30, cv_threshold=0.025, gpu=True)
    assert "enqueue_bound" not in quality_flags(enq, min_samples=30, cv_threshold=0.025, gpu=False)
    xfer = dict(stable, d2h=describe([1.5] * 50))
    assert "transfer_bound" in quality_flags(xfer, min_samples=30, cv_threshold=0.025)
    assert "throttled" in quality_flags(stable, min_samples=30, cv_threshold=0.025, throttled=True)


def test_summarize_throughput_multiplies_batch():
    s = summarize({"compute": [1.0, 1.0]}, queries=100, walltime_s=2.0, batch=8)
    assert s["throughput"]["queries_per_s"] == 50 and s["throughput"]["inferences_per_s"] == 400


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
    assert raw.warmup_queries >= 3 and stages.calls["h2d"] == 0
    assert raw.compute == [1.0, 1.0]


def test_raw_samples_roundtrip():
    r = RawSamples(h2d=[1.0], compute=[2.0], d2h=[3.0], enqueue=[2.0], latency=[6.0], e2e=[6.5], walltime_s=1.0,
                   warmup_queries=2, timer="x")
    assert RawSamples.from_dict(r.to_dict()).to_dict() == r.to_dict()
