"""The GPU path's speed targets, each measured side by side in one run on the GPU:

1. harness-measured pinned H2D bandwidth (16-256 MiB) >= 95% of a raw cudaMemcpyAsync loop;
2. harness host overhead per query in latency mode <= 15 us beyond the raw stage calls;
3. the torch backend's compute-stage median within 3% of torch's own CUDA-event timing of the same
   module on the same input;
(NVML's cost is measured under the trial protocol by bench/nvml_overhead.py.)

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
            done, copied = cuda.Event(blocking=not spin), cuda.Event(blocking=not spin)
            h = s.handle

            def bare(mid_sync: bool) -> float:
                # the harness waits for the H2D copy before it enqueues compute (no launch time hides in the
                # copy's window): mid_sync=True is the same synchronisation, False the cheapest possible loop
                for i in range(queries + 200):
                    if i == 200:
                        t0 = time.perf_counter()
                    stages.h2d(h)
                    if mid_sync:
                        copied.record(s)
                        copied.synchronize()
                    stages.compute(h)
                    stages.d2h(h)
                    done.record(s)
                    done.synchronize()
                return (time.perf_counter() - t0) / queries * 1e6

            same, cheapest = bare(True), bare(False)
            done.destroy()
            copied.destroy()
            s.destroy()
            trials.append({"harness_us_per_query": harness_us, "bare_us_per_query": same,
                           "bare_without_h2d_sync_us_per_query": cheapest, "overhead_us": harness_us - same,
                           "h2d_sync_cost_us": same - cheapest})
        out[mode] = {"trials": trials, "overhead_us": statistics.median(t["overhead_us"] for t in trials)}
    bufs.free()
    worst = max(v["overhead_us"] for v in out.values())
    return {"target": "<= 15 us per query beyond the raw stage calls (same synchronisation on both sides)",
            "modes": out, "overhead_us": worst, "pass": worst <= 15.0}


def measure_one(v, settings):
    """One variant through the run session (inline), as ``trtbench run`` measures it."""
    import tempfile

    from trtbench.run.session import RunSession, plain_arm

    with tempfile.TemporaryDirectory() as tmp:
        out = RunSession([plain_arm([v], settings)], tmp, command="gpu_targets", matrices=[{}],
                         excluded=[[]]).run()
    return out.records[0]


def torch_compute_agreement(settings, model="resnet", batch=1024, precision="fp16"):
    import torch

    from trtbench.matrix.spec import Variant
    from trtbench.models.loading import ModelSource
    from trtbench.run.measure import model_backend

    v = Variant(ModelSource(model), "torch", batch, precision, "implicit")
    # eager on both sides: torch's own events below time the eager module
    rec = measure_one(v, replace(settings, cuda_graph=False, isolation="inline"))
    harness = rec.headline("compute").value
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
        for _ in range(sum(t.samples.queries for t in rec.trials)):
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


def main(out_path: str) -> int:
    from trtbench.gpu.fingerprint import gpu_fingerprint
    from trtbench.config.settings import RunSettings

    settings = RunSettings(warmup_ms=300, duration_s=0.7, iterations=100, check_accuracy=False, nvml=False)
    report = {"gpu": gpu_fingerprint(0), "h2d_bandwidth": h2d_bandwidth(), "host_overhead": host_overhead(),
              "torch_compute_agreement": torch_compute_agreement(settings)}
    with open(out_path, "w") as f:
        json.dump(report, f, indent=1)
    for k, v in report.items():
        if isinstance(v, dict) and "pass" in v:
            print(f"{k}: {'PASS' if v['pass'] else 'FAIL'}  " + json.dumps({a: b for a, b in v.items()
                                                                          if a not in ('rows', 'trials', 'modes')}))
    for mode, v in report["host_overhead"]["modes"].items():
        print(f"  host overhead ({mode}): {v['overhead_us']:.1f} us/query; " +
              ", ".join(f"{t['harness_us_per_query']:.1f} vs {t['bare_us_per_query']:.1f} (the wait after H2D "
                        f"costs {t['h2d_sync_cost_us']:.1f})" for t in v["trials"]))
    for r in report["h2d_bandwidth"]["rows"]:
        print(f"  H2D {r['mib']} MiB: harness {r['harness_gbs']:.1f} GB/s, raw {r['raw_gbs']:.1f} GB/s ({r['ratio']:.3f})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "gpu-targets.json"))
