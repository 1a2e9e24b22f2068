"""The measurement protocol: build pass, then rounds of trials in a per-round shuffled order (seeded and
recorded), inline, in a fresh worker process per trial or per round; and the statistics over trials.

Most tests use ``ScriptedBackend`` (tests/fakes.py): a backend double on the real ``HostStageTimer`` with a
``FakeClock``, so every sample is known exactly. The process-isolation test runs real onnxruntime."""

import os
import statistics
from dataclasses import replace

import pytest

from tests.fakes import ScriptedBackend
from tests.helpers import run_variants, variant_of
from trtbench.config.settings import RunSettings
from trtbench.run.protocol import Arm, arm_order, round_order, round_tasks

MS = 1_000_000  # ns


@pytest.fixture
def scripted(tmp_path):
    def run(script, *, trials=3, order_seed=7, batch=1, **kw):
        log = []
        options = dict(warmup_ms=0, duration_s=0.0, iterations=20, max_iterations=20, trials=trials,
                       isolation="inline", order_seed=order_seed, min_samples=5, check_accuracy=False, nvml=False,
                       cache_dir=str(tmp_path / "cache"))
        settings = RunSettings(**dict(options, **kw))
        variants = [variant_of(name, batch=batch) for name in script]
        outcome, doc = run_variants(variants, settings, tmp_path / f"r{len(list(tmp_path.iterdir()))}",
                                    make_backend=ScriptedBackend.factory(script, log))
        return outcome, doc, log, variants

    return run


def _order(doc, rnd):
    """The variant ids of round ``rnd`` by their recorded position."""
    trials = [(t.position, r.id) for r in doc.records for t in r.trials if t.round == rnd]
    return [vid for _, vid in sorted(trials)]


def test_rounds_are_shuffled_with_the_recorded_seed(scripted):
    script = {f"m{i}": [[MS]] for i in range(5)}
    outcome, doc, _, variants = scripted(script, trials=4, order_seed=7)
    ids = [v.id for v in variants]
    assert outcome.seed == 7 and doc.protocol["order_seed"] == 7 and doc.protocol["trials"] == 4
    orders = [_order(doc, r) for r in range(4)]
    assert orders == [[ids[i] for i in round_order(5, 7, r)] for r in range(4)]
    assert len({tuple(o) for o in orders}) > 1  # really shuffled per round, not once
    assert all(sorted(o) == sorted(ids) for o in orders)  # each round: every variant once
    starts = {r: sorted((t.started, t.position) for rec in doc.records for t in rec.trials if t.round == r)
              for r in range(4)}
    assert all([p for _, p in starts[r]] == list(range(5)) for r in range(4))  # positions are the run order
    ends = {r: max(t.ended for rec in doc.records for t in rec.trials if t.round == r) for r in range(4)}
    assert all(ends[r] <= starts[r + 1][0][0] for r in range(3))  # round r+1 starts after round r ended
    _, again, _, _ = scripted(script, trials=4, order_seed=7)
    assert [_order(again, r) for r in range(4)] == orders  # the seed reproduces the order
    _, other, _, _ = scripted(script, trials=4, order_seed=8)
    assert [_order(other, r) for r in range(4)] != orders


def test_a_drawn_seed_is_recorded_and_reproduces_the_order(scripted):
    script = {f"m{i}": [[MS]] for i in range(4)}
    outcome, doc, _, variants = scripted(script, trials=3, order_seed=None)
    seed = doc.protocol["order_seed"]
    assert isinstance(seed, int) and seed == outcome.seed and doc.settings["order_seed"] is None
    ids = [v.id for v in variants]
    assert [_order(doc, r) for r in range(3)] == [[ids[i] for i in round_order(4, seed, r)] for r in range(3)]


def test_build_pass_first_then_every_variant_gets_its_trials(scripted):
    script = {"a": [[MS]], "b": [[2 * MS]], "c": [[3 * MS]]}
    _, doc, log, variants = scripted(script, trials=3)
    first_trial = log.index(next(e for e in log if e[0] == "trial"))
    built = log[:first_trial]
    # the build pass described each variant once (made, released) before any trial; then trials reload
    assert [e for e in built if e[0] == "release"] == [("release", v.id) for v in variants]
    assert {e[1] for e in built if e[0] == "make"} >= {v.id for v in variants}
    for rec in doc.records:
        assert rec.planned_trials == 3 and [t.index for t in rec.trials] == [0, 1, 2] == [t.round for t in rec.trials]
        assert all(0 <= t.position < 3 for t in rec.trials)
    for r in range(3):
        assert sorted(t.position for rec in doc.records for t in rec.trials if t.round == r) == [0, 1, 2]


def test_inline_keeps_each_backend_loaded_between_rounds(scripted):
    script = {"a": [[MS]], "b": [[MS]]}
    _, doc, log, variants = scripted(script, trials=3)
    for rec in doc.records:
        assert [t.reloaded for t in rec.trials] == [True, False, False]
        assert {t.process for t in rec.trials} == {"inline"}
    makes = [e for e in log if e[0] == "make"]
    assert len(makes) == 2 * len(variants)  # once for the build pass, once for all the trials
    assert sorted(log[-2:]) == sorted(("release", v.id) for v in variants)  # released when the session ends


def test_headline_is_the_median_of_the_trial_medians_and_noise_is_judged_between_trials(scripted):
    script = {"steady": [[MS]],  # every trial 1 ms
              "drifting": [[MS], [int(1.2 * MS)], [int(0.9 * MS)]],  # trials disagree: 1.0, 1.2, 0.9 ms
              "jittery": [[MS, 2 * MS, 3 * MS]]}  # 1-3 ms inside every trial, trials agree
    _, doc, _, _ = scripted(script, trials=3)
    by = {r.variant.model.name: r for r in doc.records}
    steady = by["steady"].headline("compute")
    assert (steady.value, steady.spread, steady.trials) == (1.0, 0.0, 3) and "noisy" not in by["steady"].quality
    drift = by["drifting"]
    assert drift.trial_values("compute") == pytest.approx([1.0, 1.2, 0.9])
    h = drift.headline("compute")
    assert h.value == pytest.approx(1.0) and (h.low, h.high) == pytest.approx((0.9, 1.2))
    assert h.spread == pytest.approx(statistics.stdev([1.0, 1.2, 0.9]) / statistics.mean([1.0, 1.2, 0.9]))
    assert "noisy" in drift.quality
    jit = by["jittery"]
    assert max(t.stats["compute"].cv for t in jit.trials) > 0.3  # very noisy inside each trial ...
    assert jit.headline("compute").spread == 0.0 and "noisy" not in jit.quality  # ... but trials agree
    assert sorted(set(jit.pooled("compute"))) == pytest.approx([1.0, 2.0, 3.0])
    assert jit.headline("compute").get("p99") == 3.0 and jit.headline("compute").get("min") == 1.0
    # latency = h2d + compute + d2h; throughput = queries / walltime x batch, median over trials
    assert by["steady"].headline("latency").value == pytest.approx(3.0)
    assert by["steady"].inferences_per_s == pytest.approx(1000 / 4.0)  # 4 clock readings (4 ms) per query


def test_too_few_samples_and_the_flags_of_one_trial(scripted):
    _, doc, _, _ = scripted({"m": [[MS]]}, trials=2, min_samples=50)
    (rec,) = doc.records
    assert "too_few_samples" in rec.quality and all(t.flags == ("too_few_samples",) for t in rec.trials)


def test_abba_arms_share_the_round_order():
    s = RunSettings(trials=4)
    vs = [variant_of(f"m{i}") for i in range(3)]
    a, b = Arm("A", vs, [v.id for v in vs], s, active=[0, 1, 2]), Arm("B", vs, [v.id for v in vs], s, active=[0, 1, 2])
    assert [arm_order(2, r) for r in range(4)] == [[0, 1], [1, 0], [0, 1], [1, 0]]
    for r in range(4):
        batches = round_tasks([a, b], 11, r)
        assert [bt[0].key.split(":")[0] for bt in batches] == (["A", "B"] if r % 2 == 0 else ["B", "A"])
        orders = [[t.vid for t in bt] for bt in batches]
        assert orders[0] == orders[1] == [vs[i].id for i in round_order(3, 11, r)]
        assert all(t.round == t.index == r for bt in batches for t in bt)
    b.active = [0, 2]  # a variant whose build failed has no trials
    assert [t.vid for t in round_tasks([a, b], 11, 0)[1]] == [vs[(0, 2)[j]].id for j in round_order(2, 11, 0)]


def _worker_runs(tmp_path, fast_settings, isolation):
    from trtbench.matrix.spec import Variant
    from trtbench.models.loading import ModelSource

    variants = [Variant(ModelSource("mlp"), "onnxruntime", b, "fp32", "implicit") for b in (1, 2)]
    s = replace(fast_settings, isolation=isolation, trials=3)
    outcome, doc = run_variants(variants, s, tmp_path)
    assert outcome.status == "complete" and doc.protocol["isolation"] == isolation
    assert doc.settings["isolation"] == isolation
    assert doc.protocol["worker_start"] in ("forkserver", "spawn")
    procs = {}
    for rec in doc.records:
        assert rec.ok and len(rec.trials) == 3 and all(t.reloaded for t in rec.trials)
        for t in rec.trials:
            assert t.process.startswith("worker pid ") and t.process != f"worker pid {os.getpid()}"
            procs.setdefault(t.round, []).append(t.process)
    return procs


def test_process_isolation_runs_each_trial_in_a_fresh_worker(tmp_path, fast_settings):
    procs = _worker_runs(tmp_path, fast_settings, "process")
    every = [p for ps in procs.values() for p in ps]
    assert len(every) == 6 and len(set(every)) == 6  # two variants x three rounds, six workers


def test_round_isolation_runs_each_round_in_a_fresh_worker(tmp_path, fast_settings):
    procs = _worker_runs(tmp_path, fast_settings, "round")
    assert all(len(p) == 2 and len(set(p)) == 1 for p in procs.values())  # one worker per round, shared
    assert len({p[0] for p in procs.values()}) == 3  # a different worker for every round


def test_per_trial_workers_are_each_followed_and_the_build_pass_shares_one(tmp_path, fast_settings):
    """The executor starts one worker for the whole build pass and one per trial, and tells the session each
    new worker's pid (the NVML sampler follows it) before it measures."""
    from trtbench.matrix.spec import Variant
    from trtbench.models.loading import ModelSource
    from trtbench.results.record import Trial, VariantRecord
    from trtbench.run.executor import ProcessExecutor, Task

    s = replace(fast_settings, isolation="process")
    vs = [Variant(ModelSource("mlp"), "onnxruntime", b, "fp32", "implicit") for b in (1, 2)]
    ex = ProcessExecutor(["onnxruntime"])
    pids = []
    described = list(ex.run([Task("describe", f":{v.id}", v, s, v.id, str(tmp_path)) for v in vs], on_start=pids.append))
    assert len(pids) == 1 and all(isinstance(out, VariantRecord) and out.status == "ok" for _, out in described)
    pids.clear()
    trials = [Task("trial", f":{v.id}", v, s, v.id, str(tmp_path), index=0, round=0, position=i) for i, v in enumerate(vs)]
    measured = list(ex.run(trials, on_start=pids.append))
    assert all(isinstance(out, Trial) for _, out in measured) and len(set(pids)) == 2
    assert [out.process for _, out in measured] == [f"worker pid {p}" for p in pids]
    assert ProcessExecutor(["onnxruntime"], per_trial=False).name == "round" and ex.name == "process"


def test_inline_makes_room_when_a_backend_does_not_fit(tmp_path):
    """Room for one loaded backend (a double that raises 'out of memory' when another is alive): the inline
    executor releases the others and loads again, so every trial is measured, each on a fresh load."""
    script = {"a": [[MS]], "b": [[MS]], "c": [[MS]]}
    log = []
    make = ScriptedBackend.factory(script, log)

    def one_at_a_time(variant, settings):
        alive = sum(e[0] == "make" for e in log) - sum(e[0] == "release" for e in log)
        if alive >= 1:
            raise RuntimeError("CUDA out of memory (test double)")
        return make(variant, settings)

    settings = RunSettings(warmup_ms=0, duration_s=0.0, iterations=20, max_iterations=20, trials=3, isolation="inline",
                           order_seed=3, check_accuracy=False, nvml=False, cache_dir=str(tmp_path / "c"))
    variants = [variant_of(n) for n in script]
    outcome, doc = run_variants(variants, settings, tmp_path, make_backend=one_at_a_time)
    assert outcome.status == "complete"
    for rec in doc.records:
        assert rec.ok and len(rec.trials) == 3 and "failed_trials" not in rec.extra
        assert all(t.reloaded for t in rec.trials)  # room for one: the last one loaded is always another variant


def test_telemetry_is_taken_per_trial_window_and_summarised_per_variant(tmp_path, monkeypatch):
    """The session's NVML plumbing with a sampler double (no GPU here): each trial gets the telemetry of its
    own time window (a throttled window flags that trial and its variant), and each variant an NVML summary
    over its trials' windows, written as an update line and read back."""
    import trtbench.run.session as session

    class FakeSampler:
        def __init__(self):
            self.calls, self.windows = [], []

        def start(self):
            self.calls.append("start")

        def collect(self):
            self.calls.append("collect")

        def follow(self, pid):
            self.calls.append("follow")

        def window(self, start, end):
            self.windows.append((start, end))
            hot = len(self.windows) == 4  # the fourth trial measured ran throttled
            return {"samples": 3, "sm_clock_mhz": 1400.0 if hot else 1980.0, "throttled": hot,
                    "throttle_reasons": ["hw_slowdown"] if hot else []}

        def summary(self, inferences, windows):
            return {"summary": {"samples": 3 * len(windows), "inferences": inferences, "windows": len(windows)},
                    "series": {"t_s": [0.0, 0.01]}}

        def stop(self):
            self.calls.append("stop")

    fake = FakeSampler()
    monkeypatch.setattr(session, "uses_gpu", lambda backend: True)
    monkeypatch.setattr(session, "gpu_block", lambda device: {"name": "Fake GPU (test double)"})
    monkeypatch.setattr(session, "sampler_for", lambda device, settings: fake)
    script = {"a": [[MS]], "b": [[MS]]}
    settings = RunSettings(warmup_ms=0, duration_s=0.0, iterations=20, max_iterations=20, trials=3, isolation="inline",
                           order_seed=5, check_accuracy=False, min_samples=5, cache_dir=str(tmp_path / "c"))
    _, doc = run_variants([variant_of(n, batch=2) for n in script], settings, tmp_path,
                          make_backend=ScriptedBackend.factory(script, []))
    assert fake.calls[0] == "start" and fake.calls[-1] == "stop" and len(fake.windows) == 6
    assert doc.machine["gpu"] == {"name": "Fake GPU (test double)"}
    trials = sorted((t for r in doc.records for t in r.trials), key=lambda t: t.started)
    assert [(t.started, t.ended) for t in trials] == fake.windows  # each trial's own window
    hot = trials[3]
    assert hot.telemetry.throttled and hot.flags == ("throttled",) and hot.telemetry.throttle_reasons == ("hw_slowdown",)
    assert all(not t.telemetry.throttled and t.telemetry.sm_clock_mhz == 1980.0 for t in trials if t is not hot)
    for rec in doc.records:
        assert rec.nvml["summary"] == {"samples": 9, "inferences": 3 * 20 * 2, "windows": 3}
        assert ("throttled" in rec.quality) == (hot in rec.trials)
