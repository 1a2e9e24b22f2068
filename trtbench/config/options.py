"""Every run option, defined once, for both front ends: the ``trtbench`` CLI and the pytest plugin.

``--duration 2`` on the CLI is ``--trtbench-duration 2`` under pytest. ``trtbench.config.configure``
turns the raw values (from either front end, plus an optional matrix file) into typed settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Optional, Sequence, Tuple

from trtbench.config.settings import ISOLATIONS, MODES, TRT_TYPINGS
from trtbench.matrix.axes import PRECISIONS


@dataclass(frozen=True)
class Option:
    dest: str
    flags: Tuple[str, ...]
    help: str
    kind: str = "str"  # str | list | int | float | flag
    metavar: Optional[str] = None
    choices: Optional[Tuple[str, ...]] = None

    @property
    def cli_flag(self) -> str:
        """The long flag, the option's name in error messages (the pytest plugin's is this under a prefix)."""
        return next(f for f in self.flags if f.startswith("--"))

    @property
    def pytest_flag(self) -> str:
        """The CLI's long flag under the ``--trtbench-`` prefix: --backend -> --trtbench-backend,
        --minShapes -> --trtbench-min-shapes."""
        long = self.cli_flag[2:]
        return "--trtbench-" + "".join("-" + c.lower() if c.isupper() else c for c in long)


MATRIX_OPTIONS = (
    Option("matrix", ("--matrix",), "TOML matrix file (flags given as well override its axes)", metavar="FILE"),
    Option("models", ("--model", "-m"), "built-in model name or .onnx path; repeat or comma-separate; a value "
           "that names an existing file is one path, commas included (default: every built-in model)", "list",
           "MODEL"),
    Option("backends", ("--backend", "-b"), "backend(s): onnxruntime, torch, tensorrt (default: the best "
           "available: tensorrt, then torch on a GPU, then onnxruntime)", "list", "NAME"),
    Option("batches", ("--batch",), "batch size(s), e.g. 1,8,32 (default: 1,8)", "list", "N"),
    Option("precisions", ("--precision",), "precision(s): " + ", ".join(PRECISIONS) + " (default: fp32)",
           "list", "P"),
    Option("build_modes", ("--build-mode",), "build mode(s): implicit (static shapes) or explicit (dynamic "
           "profile) (default: both)", "list", "MODE"),
    Option("profiles", ("--profile",), "named batch profile NAME:MIN,OPT,MAX, e.g. dyn:1,8,32; repeatable "
           "(default for explicit builds: smallest/middle/largest batch)", "list", "NAME:MIN,OPT,MAX"),
    Option("dims", ("--dim",), "sweep a named dynamic dim of the model, NAME=V1,V2,... with the symbolic name the "
           "ONNX gives it, e.g. seq=128,512,2048; repeatable (explicit builds: one profile over the values, smallest/"
           "middle/largest; implicit: one static engine per value)", "list", "NAME=V1,V2"),
    Option("min_shapes", ("--minShapes",), "trtexec-style per-input min shapes, name:1x3x224x224,...",
           metavar="SHAPES"),
    Option("opt_shapes", ("--optShapes",), "per-input opt shapes (default: the min shapes)", metavar="SHAPES"),
    Option("max_shapes", ("--maxShapes",), "per-input max shapes (default: the opt shapes)", metavar="SHAPES"),
    Option("concurrencies", ("--concurrency",), "queries in flight, e.g. 1,2,4,8 (an axis): each its own context or "
           "session, stream and buffers; throughput from the GPU span (default: 1)", "list", "N"),
    Option("request_rates", ("--request-rate",), "open loop: seeded Poisson arrivals per second, e.g. 100,200 (an "
           "axis); latency is measured from each query's scheduled arrival, queueing included (default: closed "
           "loop)", "list", "R"),
    Option("latency_budget", ("--latency-budget",), "find the highest request rate whose p99 latency (from arrival) "
           "stays within this budget, e.g. 10ms, by a bounded search of short open-loop probes", metavar="T"),
)

RUN_OPTIONS = (
    Option("mode", ("--mode",), "latency: one query in flight; throughput: pipelined H2D/compute/D2H like "
           "trtexec (default: latency)", choices=MODES),
    Option("warmup_ms", ("--warmup",), "warm-up time of each trial in milliseconds (default: 200)", "float", "MS"),
    Option("duration_s", ("--duration",), "minimum measured time per trial in seconds (default: 0.5; three "
           "trials by default)", "float", "S"),
    Option("iterations", ("--iterations",), "minimum measured queries per trial (default: 10)", "int", "N"),
    Option("max_iterations", ("--max-iterations",), "stop a trial after this many queries even before --duration "
           "(default: 20000)", "int", "N"),
    Option("trials", ("--trials",), "trials per variant, interleaved round-robin across the matrix, each after its "
           "own warm-up (default: 3)", "int", "N"),
    Option("isolation", ("--isolation",), "process: each trial runs in a fresh worker process, where run-to-run "
           "variation lives, and loads its engine first thing there (default); round: one worker per round (and ab "
           "side), its trials one after another (fewer process starts; a reloaded engine can run slower); inline: every "
           "trial in this process, backends stay loaded", choices=ISOLATIONS),
    Option("order_seed", ("--order-seed",), "seed of the per-round shuffle of the variant order (default: drawn "
           "and recorded)", "int", "N"),
    Option("cuda_graph", ("--cuda-graph",), "time the compute stage on a CUDA graph (the default on GPU backends; "
           "a model that cannot be captured falls back, with the reason recorded)", "flag"),
    Option("no_cuda_graph", ("--no-cuda-graph",), "time the eager compute call (launch included) instead of a CUDA "
           "graph", "flag"),
    Option("cold", ("--cold",), "cold caches: flush the GPU L2 (or the CPU's last-level cache) and rotate the host "
           "input buffers between queries, outside the timed window", "flag"),
    Option("no_launch_gate", ("--no-launch-gate",), "latency mode, CUDA graph: time compute with events around the "
           "graph launch, so it includes the host's launch gap (a few us), instead of holding the stream until "
           "compute is enqueued (--no-data-transfers) or recording compute's events inside the graph (with "
           "transfers)", "flag"),
    Option("spin_wait", ("--spin-wait",), "spin-wait on CUDA events instead of blocking sync (load runs, with --concurrency or --request-rate, always spin)", "flag"),
    Option("no_data_transfers", ("--no-data-transfers",), "time compute only: skip the H2D/D2H stages",
           "flag"),
    Option("nvml_interval_ms", ("--nvml-interval",), "NVML sampling interval in ms (default: 20)", "float",
           "MS"),
    Option("no_nvml", ("--no-nvml",), "do not sample NVML telemetry", "flag"),
    Option("device", ("--device",), "CUDA device index (default: 0)", "int", "N"),
    Option("seed", ("--seed",), "seed of the generated input data (default: 0)", "int", "N"),
    Option("cache_dir", ("--cache-dir",), "where built engines and converted models are cached "
           "(default: ~/.cache/trtbench)", metavar="DIR"),
    Option("no_accuracy", ("--no-accuracy",), "skip the comparison against the FP32 onnxruntime reference",
           "flag"),
    Option("input_ranges", ("--input-range",), "range of a generated input, NAME:LO,HI (both included), e.g. "
           "input_ids:0,30521; repeatable (default: token ids within the embedding table the graph shows, attention "
           "masks of ones, floats standard normal)", "list", "NAME:LO,HI"),
    Option("load_inputs", ("--loadInputs",), "input data from files, as trtexec: NAME:file.npy,... or one .npz with "
           "an array per input; checked against each variant's dtypes and shapes", "list", "SPEC"),
    Option("fix_batch", ("--fix-batch",), "rewrite a static model's Reshapes whose constant pins the batch, where "
           "provably equivalent (each rewrite is recorded), so the batch can be swept", "flag"),
    Option("calibration", ("--calibration",), "int8/fp8 calibration data: an .npz with one array per model input, "
           "first axis = samples (default: generated data)", metavar="NPZ"),
    Option("tolerances", ("--tolerance",), "accuracy tolerance of a precision, e.g. fp16:rel_l2=0.02,top1=0.97; "
           "repeatable (defaults: fp32 1e-4, tf32 5e-3, fp16 1e-2, bf16 5e-2, int8 0.15, fp8 0.2)", "list",
           "P:KEY=V,..."),
    Option("layer_profile", ("--layer-profile",), "also run a separate per-layer profiling pass (TensorRT)",
           "flag"),
    Option("trt_typing", ("--trt-typing",), "TensorRT precision route: weak (builder flags, 8.6/10.x), strong "
           "(typed model, 10.x/11.x) or auto (strong on 11, weak before)", choices=TRT_TYPINGS),
    Option("mem_pool_size", ("--memPoolSize",), "TensorRT workspace limit, trtexec syntax workspace:1024 (MiB; "
           "K/M/G suffixes allowed)", metavar="POOL:SIZE"),
    Option("opt_level", ("--builderOptimizationLevel",), "TensorRT builder optimization level 0-5 (default 3)",
           "int", "N"),
    Option("verbose", ("--verbose",), "print TensorRT's log", "flag"),
    Option("results", ("--results",), "results directory; each run writes RESULTS/<run-id>/results.jsonl "
           "(default: results)", metavar="DIR"),
)

ALL_OPTIONS = MATRIX_OPTIONS + RUN_OPTIONS


def add_argparse_options(parser, options: Sequence[Option] = ALL_OPTIONS) -> None:
    for o in options:
        kw: Dict[str, Any] = {"dest": o.dest, "help": o.help, "default": None}
        if o.kind == "flag":
            kw.update(action="store_true", default=False)
        elif o.kind == "list":
            kw.update(action="append", metavar=o.metavar)
        else:
            kw.update(metavar=o.metavar, type=str)
            if o.choices:
                kw.update(choices=o.choices, metavar=None)
        parser.add_argument(*o.flags, **kw)


def add_pytest_options(group, options: Sequence[Option] = ALL_OPTIONS) -> None:
    for o in options:
        kw: Dict[str, Any] = {"dest": "trtbench_" + o.dest, "help": o.help, "default": None}
        if o.kind == "flag":
            kw.update(action="store_true", default=False)
        elif o.kind == "list":
            kw.update(action="append", metavar=o.metavar)
        else:
            kw.update(metavar=o.metavar or o.dest.upper())
            if o.choices:
                kw.update(choices=o.choices)
        group.addoption(o.pytest_flag, **kw)
