"""How a run measures (the part of the configuration that is not the matrix)."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Dict, Optional, Tuple

MODES = ("latency", "throughput")
ISOLATIONS = ("process", "round", "inline")
TRT_TYPINGS = ("auto", "weak", "strong")


def default_cache_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "trtbench")


@dataclass(frozen=True)
class RunSettings:
    """Measurement settings, recorded in every results file beside the numbers they produced.

    Each variant is measured in ``trials`` trials, interleaved round-robin across the matrix (the order
    shuffled per round with ``order_seed``), each trial in a fresh worker process unless ``isolation`` is
    ``round`` (one worker per round) or ``inline``. A trial warms up for ``warmup_ms``, then runs until both ``iterations`` queries and
    ``duration_s`` seconds are reached (as trtexec does within one run), or ``max_iterations``.
    """

    warmup_ms: float = 200.0
    duration_s: float = 0.5  # per trial
    iterations: int = 10  # per trial
    max_iterations: int = 20000  # per trial
    trials: int = 3
    isolation: str = "process"  # process: each trial in a fresh worker; round: one worker per round; inline: here
    order_seed: Optional[int] = None  # seed of the per-round shuffle; None: drawn at run time and recorded
    mode: str = "latency"  # latency: one query in flight; throughput: pipelined like trtexec
    cuda_graph: bool = True  # the compute stage replayed from a CUDA graph where it can be captured
    cold: bool = False  # flush the L2 cache and rotate host input buffers between queries (untimed)
    launch_gate: bool = True  # latency, graph: compute's window without the host's launch (gate or in-graph events)
    spin_wait: bool = False
    data_transfers: bool = True
    nvml_interval_ms: float = 20.0
    nvml: bool = True
    device: int = 0
    seed: int = 0
    cache_dir: str = ""
    min_samples: int = 30  # fewer samples than this is flagged "too_few_samples"
    cv_threshold: float = 0.025  # trtexec warns above 2.5%
    check_accuracy: bool = True
    layer_profile: bool = False
    engine: Optional[str] = None  # run a prebuilt TensorRT plan instead of a model
    trt_typing: str = "auto"  # auto | weak | strong (see backends/tensorrt/compat.py)
    trt_workspace_bytes: Optional[int] = None
    trt_opt_level: Optional[int] = None
    verbose: bool = False
    calibration: Optional[str] = None  # .npz with one array per input (int8/fp8 calibration)
    tolerances: Optional[Dict[str, Dict[str, float]]] = None  # precision -> {rel_l2, top1}, over the defaults
    fix_batch: bool = False  # rewrite provably equivalent Reshape batch pins (models/fixbatch.py), recorded
    input_ranges: Optional[Dict[str, Tuple[float, float]]] = None  # input -> (low, high), both included
    load_inputs: Optional[Dict[str, str]] = None  # input -> absolute .npy path, or the .npz holding its array

    def to_dict(self) -> dict:
        return asdict(self)

    def resolved_cache_dir(self) -> str:
        return self.cache_dir or default_cache_dir()
