"""The GPU path's speed targets, each measured side by side in one run on the GPU:

1. harness-measured pinned H2D bandwidth (16-256 MiB) >= 95% of a raw cudaMemcpyAsync loop;
2. harness host overhead per query in latency mode <= 15 us beyond the raw stage calls;
3. the torch backend's compute-stage median within 3% of torch's own CUDA-event timing of the same
   module on the same input;
4. NVML sampling at 50 Hz moves the median latency by < 1% (on vs off, interleaved).

Usage (on a GPU machine): python bench/gpu_targets.py OUT.json
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from dataclasses import replace

import numpy as np


def h2d_bandwidth(sizes_mib=(16, 64, 256), reps=40, trials=3):
    from trtbench.gpu import cuda
    from trtbench.gpu.buffers import IOBuffers
    from trtbench.gpu.event_timer import CudaEventStageTimer
    from trtbench.timing.samples import LoopPlan

    rows = []
    for mib in sizes_mib:
        n = mib << 20
        bufs = IOBuffers({"x": (np.uint8, (n,))}, {})

        class Stages:
            h2d = bufs.h2d

            def compute(self, stream):
                pass

            def d2h(self, stream):
                pass

        s = cuda.Stream()
        e0, e1 = cuda.Event(), cuda.Event()
        h2d_kind, _ = cuda.memcpy_kinds()
        b = bufs.inputs["x"]
        trial_rows = []
        for _ in range(trials):  # interleaved: harness, then the raw loop, on the same buffers
            raw = CudaEventStageTimer("latency").run(Stages(), LoopPlan(0.05, reps, 0.0, reps))
            harness = n / (statistics.median(raw.h2d) / 1e3) / 1e9
            times = []
            for i in range(reps + 5):  # raw loop: an event pair around each bare cudaMemcpyAsync
                e0.record(s)
                cuda.memcpy_async(b.device.ptr, b.host.ptr, n, h2d_kind, s)
                e1.record(s)
                e1.synchronize()
                if i >= 5:
                    times.append(e1.elapsed_ms(e0))
            rawbw = n / (statistics.median(times) / 1e3) / 1e9
            trial_rows.append((harness, rawbw))
        harness = statistics.median(t[0] for t in trial_rows)
        rawbw = statistics.median(t[1] for t in trial_rows)
        rows.append({"mib": mib, "harness_gbs": harness, "raw_gbs": rawbw, "ratio": harness / rawbw,
                     "trials": trial_rows})
        for x in (e0, e1):
            x.destroy()
        s.destroy()
        bufs.free()
    return {"target": "harness >= 95% of raw cudaMemcpyAsync", "rows": rows,
            "pass": all(r["ratio"] >= 0.95 for r in rows)}


def host_overhead(queries=3000):
    """Wall time per query of the latency-mode timer vs the same stage calls in a bare loop that waits the
    same way: spin-wait (harness --spin-wait vs a default event synchronised each query) and blocking sync
    (trtexec's default: harness default vs a cudaEventBlockingSync event synchronised each query)."""
    from trtbench.gpu import cuda
    from trtbench.gpu.buffers import IOBuffers
    from trtbench.gpu.event_timer import CudaEventStageTimer
    from trtbench.timing.samples import LoopPlan

    bufs = IOBuffers({"x": (np.float32, (1024,))}, {"y": (np.float32, (1024,))})
    d2d = cuda.rt().cudaMemcpyKind.cudaMemcpyDeviceToDevice
    src, dst = bufs.inputs["x"].device.ptr, bufs.outputs["y"].device.ptr

    class Stages:
        h2d = bufs.h2d
        d2h = bufs.d2h

        def compute(self, stream):
            cuda.rt().cudaMemcpyAsync(dst, src, 4096, d2d, stream)

    stages = Stages()
    out = {}
    for mode, spin in (("spin", True), ("blocking", False)):
        trials = []
        for _ in range(3):  # interleaved, to cancel drift
            raw = CudaEventStageTimer("latency", spin_wait=spin).run(stages, LoopPlan(0.05, queries, 0.0, queries))
            harness_us = raw.walltime_s / raw.queries * 1e6
            s = cuda.Stream()
            done = cuda.Event(blocking=not spin)
            h = s.handle
            for _ in range(200):
                stages.h2d(h); stages.compute(h); stages.d2h(h); done.record(s); done.synchronize()
            t0 = time.perf_counter()
            for _ in range(queries):
                stages.h2d(h)
                stages.compute(h)
                stages.d2h(h)
                done.record(s)
                done.synchronize()
            bare_us = (time.perf_counter() - t0) / queries * 1e6
            done.destroy()
            s.destroy()
            trials.append({"harness_us_per_query": harness_us, "bare_us_per_query": bare_us,
                           "overhead_us": harness_us - bare_us})
        out[mode] = {"trials": trials, "overhead_us": statistics.median(t["overhead_us"] for t in trials)}
    bufs.free()
    worst = max(v["overhead_us"] for v in out.values())
    return {"target": "<= 15 us per query beyond the raw stage calls (same synchronisation on both sides)",
            "modes": out, "overhead_us": worst, "pass": worst <= 15.0}


def torch_compute_agreement(settings, model="resnet", batch=1024, precision="fp16"):
    import torch

    from trtbench.matrix.spec import Variant
    from trtbench.models.loading import ModelSource
    from trtbench.runner import model_backend, run_variant

    v = Variant(ModelSource(model), "torch", batch, precision, "implicit")
    rec = run_variant(v, settings)
    harness = rec["stats"]["stages"]["compute"]["median"]
    # independent: the same converted module, the same input, torch's own stream and CUDA events
    be = model_backend(v, settings)
    be.prepare()
    be.load()
    # the same work as the compute stage (fp32 input cast to fp16, the module, the output cast back)
    x = torch.randn(*be.prepared.run_shapes[be.prepared.info.inputs[0].name], device="cuda")
    run = be._run_module
    times = []
    with torch.inference_mode():
        for _ in range(50):
            run([x])
        torch.cuda.synchronize()
        for _ in range(rec["stats"]["stages"]["compute"]["n"]):
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record()
            run([x])
            b.record()
            b.synchronize()
            times.append(a.elapsed_time(b))
    be.release()
    independent = statistics.median(times)
    diff = abs(harness - independent) / independent
    return {"target": "within 3%", "variant": v.id, "harness_compute_median_ms": harness,
            "torch_events_median_ms": independent, "relative_difference": diff, "pass": diff <= 0.03}


def nvml_perturbation(settings, model="transformer", batch=32, rounds=8):
    from trtbench.matrix.spec import Variant
    from trtbench.models.loading import ModelSource
    from trtbench.runner import default_sampler_factory, run_variant

    v = Variant(ModelSource(model), "torch", batch, "fp16", "implicit")
    factory = default_sampler_factory()
    on, off = [], []
    for i in range(rounds):  # ABBA order cancels slow drift
        for sampled in ((False, True) if i % 2 == 0 else (True, False)):
            if sampled:
                r = run_variant(v, replace(settings, nvml_interval_ms=20.0), factory)
                on.append(r["stats"]["stages"]["latency"]["median"])
                samples = r["nvml"]["summary"]["samples"]
            else:
                off.append(run_variant(v, settings, None)["stats"]["stages"]["latency"]["median"])
    m_on, m_off = statistics.median(on), statistics.median(off)
    shift = abs(m_on - m_off) / m_off
    return {"target": "< 1% median latency shift at 50 Hz", "variant": v.id, "latency_median_ms_on": m_on,
            "latency_median_ms_off": m_off, "rounds_on": on, "rounds_off": off, "nvml_samples_last": samples,
            "relative_shift": shift, "pass": shift < 0.01}


def main(out_path: str) -> int:
    from trtbench.gpu.fingerprint import gpu_fingerprint
    from trtbench.config.settings import RunSettings

    settings = RunSettings(warmup_ms=300, duration_s=2.0, iterations=100, check_accuracy=False)
    report = {"gpu": gpu_fingerprint(0), "h2d_bandwidth": h2d_bandwidth(), "host_overhead": host_overhead(),
              "torch_compute_agreement": torch_compute_agreement(settings),
              "nvml_perturbation": nvml_perturbation(replace(settings, duration_s=1.5))}
    with open(out_path, "w") as f:
        json.dump(report, f, indent=1)
    for k, v in report.items():
        if isinstance(v, dict) and "pass" in v:
            print(f"{k}: {'PASS' if v['pass'] else 'FAIL'}  " + json.dumps({a: b for a, b in v.items()
                                                                          if a not in ('rows', 'trials', 'modes', 'rounds_on', 'rounds_off')}))
    for mode, v in report["host_overhead"]["modes"].items():
        print(f"  host overhead ({mode}): {v['overhead_us']:.1f} us/query; " +
              ", ".join(f"{t['harness_us_per_query']:.1f} vs {t['bare_us_per_query']:.1f}" for t in v["trials"]))
    for r in report["h2d_bandwidth"]["rows"]:
        print(f"  H2D {r['mib']} MiB: harness {r['harness_gbs']:.1f} GB/s, raw {r['raw_gbs']:.1f} GB/s ({r['ratio']:.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "gpu-targets.json"))
