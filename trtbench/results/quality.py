"""Every result carries its quality: trtexec's warnings as flags, judged over trials.

- ``noisy``: the trials disagree: the coefficient of variation of the trials' compute medians is above
  the threshold (trtexec's 2.5% by default). Judged *between* trials, because that is the spread a
  second run will see; the spread inside one trial is reported beside it but does not make a figure noisy.
- ``too_few_samples``: a trial measured fewer queries than ``min_samples``.
- ``enqueue_bound``: on a GPU, the host's launch time (eager enqueue, median) is above 0.8 x the GPU
  compute time: without a CUDA graph the GPU waits for the host. Both figures are in the record.
- ``transfer_bound``: median H2D or D2H at least the median compute.
- ``throttled``: NVML saw a clock-event reason other than idle during a trial.
- ``inaccurate``: outputs beyond the precision's tolerance against the fp32 reference.
- ``incomplete``: fewer trials than planned (interrupted, or a trial failed).
- ``harness_bound``: under load, the median trial reached at least 80% of the harness ceiling (the rate
  the harness itself reaches with a no-op compute at that concurrency): the figure may be the harness's.
- ``unserved``: an open-loop trial ended with arrivals never served (the offered rate overloaded the variant).
"""

from __future__ import annotations

from typing import List, Mapping, Optional, Sequence

from trtbench.results.record import Headline, Trial
from trtbench.timing.load import HARNESS_BOUND_SHARE
from trtbench.timing.stats import median_of


def eager_enqueue(trials: Sequence[Trial]) -> Optional[float]:
    """Median host launch time: from the eager pass when a graph timed compute, else the trial's own."""
    vals = []
    for t in trials:
        src = t.eager if t.eager else t.stats
        s = (src or {}).get("enqueue")
        if s is not None and s.n:
            vals.append(s.median)
    return median_of(vals)


def assess(trials: Sequence[Trial], *, planned: int, gpu: bool, min_samples: int, cv_threshold: float,
           accuracy: Optional[Mapping] = None) -> List[str]:
    flags: List[str] = []
    compute = Headline.over(trials, "compute")
    if compute is None:
        return ["incomplete"] if planned else []
    if any((t.stats.get("compute").n if t.stats.get("compute") else 0) < min_samples for t in trials):
        flags.append("too_few_samples")
    if compute.trials > 1 and compute.spread > cv_threshold:
        flags.append("noisy")
    enq = eager_enqueue(trials)
    if gpu and compute.value > 0 and enq is not None and enq > 0.8 * compute.value:
        flags.append("enqueue_bound")
    for stage in ("h2d", "d2h"):
        h = Headline.over(trials, stage)
        if h is not None and compute.value > 0 and h.value >= compute.value:
            flags.append("transfer_bound")
            break
    if any(t.telemetry is not None and t.telemetry.throttled for t in trials):
        flags.append("throttled")
    if accuracy and accuracy.get("inaccurate"):
        flags.append("inaccurate")
    if len(trials) < planned:
        flags.append("incomplete")
    return flags + load_flags(trials)


def load_flags(trials: Sequence[Trial]) -> List[str]:
    """``harness_bound`` and ``unserved`` from the trials' load facts (none for single-query trials)."""
    loads = [t.samples.load for t in trials if t.samples.load]
    flags: List[str] = []
    shares = [lo["achieved_qps"] / lo["harness_ceiling_qps"] for lo in loads
              if lo.get("harness_ceiling_qps") and lo.get("achieved_qps") is not None]
    if shares and median_of(shares) >= HARNESS_BOUND_SHARE:
        flags.append("harness_bound")
    if any(lo.get("unserved") for lo in loads):
        flags.append("unserved")
    return flags
