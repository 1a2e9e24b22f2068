#!/usr/bin/env python3
"""An independent clock for TensorRT plans: single-stream GPU compute time, one query in flight.

Shares nothing with trtbench (it imports only tensorrt, cuda-python, numpy and the standard library), so
trtbench's numbers can be checked against it on the same GPU. Each plan is deserialized (never built),
its inputs get the profile-0 opt shapes (first dim = --batch when given), seeded data is copied in once,
and every query is timed by a CUDA event pair around one launch (a CUDA graph replay, or
execute_async_v3 with --mode eager). --method query (default) times what a user's loop sees, the host's
launch gap included; gated holds the stream (cuStreamWaitValue32 on a mapped pinned word) until the end
event is enqueued, so the window is the GPU's alone; stream times --per-sample launches back to back between
one event pair. Nothing on the device is changed: no clocks, no limits.

    python3.9 bench/bare_trt_clock.py --plan a.plan --plan b.plan --batch 8 --json out.json

Exit codes: 0 every plan measured, 1 some plan failed (its reason is in the JSON), 2 TensorRT,
cuda-python or a GPU is missing.
"""

import argparse
import contextlib
import ctypes
import json
import math
import platform
import statistics
import sys
import time
from fractions import Fraction

trt = cudart = driver = np = None  # imported in load_deps(), after argument parsing, so --help needs none of them


def nearest_rank(sorted_values, p):
    """trtexec's percentile: sorted[max(n - 1 - floor((1 - p/100) * n), 0)], in exact arithmetic
    (in binary floating point (1 - 0.9) * 10 floors to 0, not 1)."""
    n = len(sorted_values)
    if n == 0:
        raise ValueError("no samples")
    drop = math.floor((1 - Fraction(str(p)) / 100) * n)
    return sorted_values[max(n - 1 - drop, 0)]


def summarize(samples_ms, launch_ms):
    xs = sorted(samples_ms)
    out = {"n": len(xs), "median_ms": statistics.median(xs), "mean_ms": statistics.fmean(xs),
           "min_ms": xs[0], "max_ms": xs[-1]}
    for p in (10, 90, 99):
        out[f"p{p}_ms"] = nearest_rank(xs, p)
    out["host_launch_median_ms"] = statistics.median(launch_ms)
    out["samples_ms"] = list(samples_ms)
    return out


def die(message):
    print(f"bare_trt_clock: {' '.join(str(message).split())}", file=sys.stderr)
    sys.exit(2)


def load_deps():
    """Import TensorRT, cuda-python and numpy; exit 2 with one line when one is missing or no GPU is seen."""
    global trt, cudart, driver, np
    try:
        import tensorrt as trt
    except Exception as exc:
        die(f"TensorRT is not importable ({type(exc).__name__}: {exc})")
    try:
        import numpy as np
        try:
            from cuda.bindings import driver, runtime as cudart  # cuda-python >= 12.6
        except ImportError:
            from cuda import cuda as driver, cudart
    except Exception as exc:
        die(f"cuda-python or numpy is not importable ({type(exc).__name__}: {exc})")
    err, count = cudart.cudaGetDeviceCount()[:2]
    if err != cudart.cudaError_t.cudaSuccess or count < 1:
        die(f"no CUDA GPU ({getattr(err, 'name', err)}, {count} devices)")


def cu(fn, *args):
    """Call cudart.<fn>; raise with the call's name unless it returned cudaSuccess; return its value(s)."""
    err, *values = getattr(cudart, fn)(*args)
    if err != cudart.cudaError_t.cudaSuccess:
        raise RuntimeError(f"{fn} failed: {getattr(err, 'name', err)}")
    return values[0] if len(values) == 1 else tuple(values)


def versions():
    name = cu("cudaGetDeviceProperties", 0).name
    rt, drv = cu("cudaRuntimeGetVersion"), cu("cudaDriverGetVersion")
    return {"tensorrt": trt.__version__, "cuda_runtime": f"{rt // 1000}.{rt % 1000 // 10}",
            "cuda_driver": f"{drv // 1000}.{drv % 1000 // 10}",
            "gpu": name.split(b"\0")[0].decode() if isinstance(name, bytes) else str(name)}


def host_dtype(dt):
    """(numpy dtype, kind) of a TensorRT I/O dtype; bfloat16 travels as uint16."""
    if getattr(dt, "name", "") == "BF16":
        return np.dtype(np.uint16), "bf16"
    d = np.dtype(trt.nptype(dt))
    return d, "float" if d.kind == "f" else "other"


def fill(view, kind, rng):
    """Seeded input data: standard normal for floats (bf16: float32 bits truncated), zeros otherwise."""
    if kind == "float":
        view[:] = rng.standard_normal(view.size, dtype=np.float32).astype(view.dtype)
    elif kind == "bf16":
        view[:] = (rng.standard_normal(view.size, dtype=np.float32).view(np.uint32) >> 16).astype(np.uint16)
    else:
        view[:] = 0


def run_shapes(engine, batch):
    """Input shapes: profile-0 opt shapes (static engines: the engine's shapes), first dim = batch."""
    shapes = {}
    for i in range(engine.num_io_tensors):
        name = engine.get_tensor_name(i)
        if engine.get_tensor_mode(name) != trt.TensorIOMode.INPUT:
            continue
        if engine.is_shape_inference_io(name):
            raise ValueError(f"input {name} is a shape tensor (not supported here)")
        shape = list(engine.get_tensor_shape(name))
        if -1 in shape:
            lo, opt, hi = (list(s) for s in engine.get_tensor_profile_shape(name, 0))
            shape = opt
            if batch is not None and shape and not lo[0] <= batch <= hi[0]:
                raise ValueError(f"batch {batch} is outside input {name}'s profile 0 range {lo[0]}..{hi[0]}")
        elif batch is not None and shape and shape[0] != batch:
            raise ValueError(f"batch {batch} does not fit input {name}, whose first dim is fixed at {shape[0]}")
        if batch is not None and shape:
            shape[0] = batch
        shapes[name] = shape
    return shapes


def allocate(engine, ctx, name, shape, stack):
    """Device buffer (and a pinned host twin) for one I/O tensor at its run shape, freed by the stack."""
    dtype, kind = host_dtype(engine.get_tensor_dtype(name))
    dims = list(shape)
    vdim, comps = engine.get_tensor_vectorized_dim(name), engine.get_tensor_components_per_element(name)
    if vdim >= 0 and comps > 1:  # vectorized formats pad the vectorized dim
        dims[vdim] = -(-dims[vdim] // comps) * comps
    count = math.prod(dims)
    nbytes = max(count * dtype.itemsize, 1)
    dev = cu("cudaMalloc", nbytes)
    stack.callback(cudart.cudaFree, dev)
    host = cu("cudaMallocHost", nbytes)
    stack.callback(cudart.cudaFreeHost, host)
    view = np.ctypeslib.as_array((ctypes.c_uint8 * nbytes).from_address(host))[:count * dtype.itemsize]
    if not ctx.set_tensor_address(name, dev):
        raise RuntimeError(f"set_tensor_address({name}) returned False")
    return dev, host, nbytes, view.view(dtype), kind


def capture(ctx, stream, stack):
    """One execute_async_v3 captured into a CUDA graph on the stream (after a first, uncaptured run)."""
    if not ctx.execute_async_v3(int(stream)):
        raise RuntimeError("execute_async_v3 returned False")
    cu("cudaStreamSynchronize", stream)
    cu("cudaStreamBeginCapture", stream, cudart.cudaStreamCaptureMode.cudaStreamCaptureModeThreadLocal)
    try:
        ok = ctx.execute_async_v3(int(stream))
    finally:
        err, graph = cudart.cudaStreamEndCapture(stream)
    if err == cudart.cudaError_t.cudaSuccess:
        stack.callback(cudart.cudaGraphDestroy, graph)
    if err != cudart.cudaError_t.cudaSuccess or not ok:
        cudart.cudaGetLastError()
        raise RuntimeError(f"CUDA graph capture failed (execute_async_v3 {ok}, cudaStreamEndCapture "
                           f"{getattr(err, 'name', err)}); try --mode eager")
    graph_exec = cu("cudaGraphInstantiate", graph, 0)
    stack.callback(cudart.cudaGraphExecDestroy, graph_exec)
    return graph_exec


def launcher(ctx, stream, graph_exec):
    """One query's launch on the stream, as a call that returns whether it succeeded."""
    if graph_exec is None:
        handle = int(stream)
        return lambda: ctx.execute_async_v3(handle)
    success = cudart.cudaError_t.cudaSuccess
    return lambda: cudart.cudaGraphLaunch(graph_exec, stream)[0] == success


class Hold:
    """--method gated: the stream waits (cuStreamWaitValue32) on a word of mapped pinned host memory until the
    host has enqueued start event, launch and end event, so the GPU runs them back to back."""

    def __init__(self, stack):
        self.word = cu("cudaHostAlloc", 4, cudart.cudaHostAllocMapped)
        stack.callback(cudart.cudaFreeHost, self.word)
        self.dev = cu("cudaHostGetDevicePointer", self.word, 0)
        self.cell = ctypes.c_uint32.from_address(self.word)
        self.cell.value = 0
        self.n = 0
        stack.callback(self.release)  # never leave a stream waiting (before the word is freed)

    def hold(self, stream):
        self.n += 1
        err = driver.cuStreamWaitValue32(stream, self.dev, self.n,
                                         driver.CUstreamWaitValue_flags.CU_STREAM_WAIT_VALUE_GEQ)[0]
        if err != driver.CUresult.CUDA_SUCCESS:
            raise RuntimeError(f"cuStreamWaitValue32 failed: {getattr(err, 'name', err)}")

    def release(self):
        self.cell.value = self.n


def measure(launch, stream, start, end, h2d, d2h, seconds, min_queries, method="query", hold=None, per_sample=1):
    """Queries until `seconds` and `min_queries` are both reached: (event ms, launch ms) per sample.

    query: one event pair around each launch, as a user's loop does (the GPU may wait for the host's launch
    call inside the window); gated: the same with the stream held until the end event is enqueued;
    stream: `per_sample` launches back to back between one event pair, time / per_sample (the GPU kept fed)."""
    to_dev, to_host = cudart.cudaMemcpyKind.cudaMemcpyHostToDevice, cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost
    gpu_ms, launch_ms = [], []
    k = per_sample if method == "stream" else 1
    t_end = time.perf_counter() + seconds
    while time.perf_counter() < t_end or len(gpu_ms) < min_queries:
        for dst, src, nbytes in h2d:
            cu("cudaMemcpyAsync", dst, src, nbytes, to_dev, stream)
        if method == "gated":
            hold.hold(stream)
        try:
            cu("cudaEventRecord", start, stream)
            t0 = time.perf_counter_ns()
            ok = launch() if k == 1 else all([launch() for _ in range(k)])  # query: the same host work as ever
            t1 = time.perf_counter_ns()
            if not ok:
                raise RuntimeError("launching a query failed (cudaGraphLaunch or execute_async_v3)")
            cu("cudaEventRecord", end, stream)
        finally:
            if method == "gated":
                hold.release()
        for dst, src, nbytes in d2h:
            cu("cudaMemcpyAsync", dst, src, nbytes, to_host, stream)
        if h2d or d2h:
            cu("cudaStreamSynchronize", stream)  # the copies out too: one query in flight
        else:
            cu("cudaEventSynchronize", end)
        gpu_ms.append(cu("cudaEventElapsedTime", start, end) / k)
        launch_ms.append((t1 - t0) / 1e6 / k)
    return gpu_ms, launch_ms


def run_plan(path, args, stream, start, end, logger):
    rec = {"plan": path, "status": "failed", "reason": None, "shapes": {}, "output_shapes": {}, "repeats": []}
    try:
        with open(path, "rb") as f:
            blob = f.read()
        runtime = trt.Runtime(logger)
        engine = runtime.deserialize_cuda_engine(blob)
        if engine is None:
            raise RuntimeError("deserialize_cuda_engine returned None (see the TensorRT log above)")
        ctx = engine.create_execution_context()
        if ctx is None:
            raise RuntimeError("create_execution_context returned None")
        try:
            with contextlib.ExitStack() as stack:
                try:
                    run_with(args, engine, ctx, stream, start, end, rec, stack)
                finally:
                    cudart.cudaStreamSynchronize(stream)  # nothing of ours in flight when the stack frees
        finally:
            del ctx, engine, runtime
        rec["status"] = "ok"
    except Exception as exc:
        rec["reason"] = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
    return rec


def run_with(args, engine, ctx, stream, start, end, rec, stack):
    rec["shapes"] = run_shapes(engine, args.batch)
    dynamic = any(-1 in list(engine.get_tensor_shape(name)) for name in rec["shapes"])
    if dynamic and not ctx.set_optimization_profile_async(0, int(stream)):  # static engines use profile 0
        raise RuntimeError("set_optimization_profile_async(0) returned False")
    for name, shape in rec["shapes"].items():
        if not ctx.set_input_shape(name, shape):
            raise ValueError(f"set_input_shape({name}, {shape}) returned False")
    missing = ctx.infer_shapes()
    if missing:
        raise ValueError(f"infer_shapes could not infer {list(missing)}")
    rng = np.random.default_rng(args.seed)
    h2d, d2h = [], []
    for i in range(engine.num_io_tensors):
        name = engine.get_tensor_name(i)
        is_input = engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT
        shape = list(ctx.get_tensor_shape(name))
        if not is_input:
            if any(d < 0 for d in shape):
                raise ValueError(f"output {name} has a data-dependent shape {shape} (not supported here)")
            rec["output_shapes"][name] = shape
        dev, host, nbytes, view, kind = allocate(engine, ctx, name, shape, stack)
        if is_input:
            fill(view, kind, rng)
            cu("cudaMemcpyAsync", dev, host, nbytes, cudart.cudaMemcpyKind.cudaMemcpyHostToDevice, stream)
            h2d.append((dev, host, nbytes))
        else:
            d2h.append((host, dev, nbytes))
    cu("cudaStreamSynchronize", stream)
    graph_exec = capture(ctx, stream, stack) if args.mode == "graph" else None
    if not args.transfers:
        h2d, d2h = [], []
    launch = launcher(ctx, stream, graph_exec)
    hold = Hold(stack) if args.method == "gated" else None
    how = dict(method=args.method, hold=hold, per_sample=args.per_sample)
    for _ in range(args.repeat):
        measure(launch, stream, start, end, h2d, d2h, args.warmup_ms / 1e3, 0, **how)
        gpu_ms, launch_ms = measure(launch, stream, start, end, h2d, d2h, args.duration, args.min_iterations, **how)
        rep = summarize(gpu_ms, launch_ms)
        if args.method == "stream":  # the host must outrun the GPU, or the GPU waited for launches inside the window:
            rep["host_bound"] = rep["host_launch_median_ms"] >= 0.8 * rep["median_ms"]  # a thin lead counts as none
        rec["repeats"].append(rep)


def parse_args(argv):
    p = argparse.ArgumentParser(description="Single-stream GPU compute time of TensorRT plans (one query in "
                                            "flight), timed by CUDA events; shares no code with trtbench.")
    p.add_argument("--plan", action="append", required=True, help="a serialized TensorRT engine (repeatable)")
    p.add_argument("--batch", type=int, default=None, help="first dim of every input (default: profile opt)")
    p.add_argument("--mode", choices=("graph", "eager"), default="graph",
                   help="graph: replay a captured CUDA graph; eager: execute_async_v3 per query")
    p.add_argument("--method", choices=("query", "gated", "stream"), default="query",
                   help="query: an event pair around each launch (a user's loop: the host's launch gap is timed); "
                        "gated: the same, the stream held until the end event is enqueued (no host gap); stream: "
                        "--per-sample launches back to back between one event pair, time / launches")
    p.add_argument("--per-sample", type=int, default=20, help="launches per sample with --method stream")
    p.add_argument("--transfers", action="store_true",
                   help="copy inputs in before and outputs out after each query (outside the timed window)")
    p.add_argument("--warmup-ms", type=float, default=200.0)
    p.add_argument("--duration", type=float, default=1.0, help="seconds of measured queries (at least)")
    p.add_argument("--min-iterations", type=int, default=50, help="measured queries (at least)")
    p.add_argument("--repeat", type=int, default=1, help="warm-up + measure this many times per plan")
    p.add_argument("--seed", type=int, default=0, help="seed of the random input data")
    p.add_argument("--json", required=True, help="write the results here")
    args = p.parse_args(argv)
    if args.repeat < 1 or args.min_iterations < 1 or args.per_sample < 1 or (args.batch is not None and args.batch < 1):
        p.error("--repeat, --min-iterations, --per-sample and --batch must be positive")
    if args.method == "stream" and args.transfers:
        p.error("--method stream times launches back to back: it takes no --transfers")
    return args


def main(argv=None):
    args = parse_args(argv)
    load_deps()
    logger = trt.Logger(trt.Logger.WARNING)
    out = {"tool": "bare_trt_clock", **versions(), "python": platform.python_version(), "mode": args.mode,
           "method": args.method, "per_sample": args.per_sample if args.method == "stream" else 1,
           "transfers": args.transfers, "batch": args.batch, "warmup_ms": args.warmup_ms,
           "duration_s": args.duration, "min_iterations": args.min_iterations, "seed": args.seed, "plans": []}
    with contextlib.ExitStack() as stack:
        stream = cu("cudaStreamCreateWithFlags", cudart.cudaStreamNonBlocking)
        stack.callback(cudart.cudaStreamDestroy, stream)
        start, end = cu("cudaEventCreate"), cu("cudaEventCreate")
        stack.callback(cudart.cudaEventDestroy, start)
        stack.callback(cudart.cudaEventDestroy, end)
        for path in args.plan:
            rec = run_plan(path, args, stream, start, end, logger)
            out["plans"].append(rec)
            if rec["status"] == "ok":
                reps = rec["repeats"]
                print(f"{path}: ok {args.mode} median " + "/".join(f"{r['median_ms']:.4f}" for r in reps)
                      + f" ms, p99 {reps[-1]['p99_ms']:.4f} ms, n={reps[-1]['n']}, host launch "
                      f"{reps[-1]['host_launch_median_ms']:.4f} ms, inputs {rec['shapes']}", flush=True)
            else:
                print(f"{path}: FAILED {rec['reason']}", flush=True)
    with open(args.json, "w") as f:
        json.dump(out, f, indent=1)
    return 0 if all(r["status"] == "ok" for r in out["plans"]) else 1


if __name__ == "__main__":
    sys.exit(main())
