#!/usr/bin/env python3
"""An independent clock for the throughput of ONE TensorRT plan with N queries in flight (trtexec's
--infStreams): N execution contexts of the same engine, each with its own non-blocking stream, its own
device I/O buffers and (graph mode) its own captured CUDA graph.

Shares nothing with trtbench (it imports only tensorrt, cuda-python, numpy and the standard library).
A host loop visits the streams in turn: it waits for that stream's previous query (event sync), reads its
event times, and enqueues the next one (start event, launch, end event), so up to N queries are in flight.
Throughput is trtexec's: completed queries / GPU span, the span running from the first query's start
event to the last query's end event; queries per host wall second are reported too. Nothing on the
device is changed: no clocks, no limits.

    python3.9 bench/bare_trt_multistream.py --plan a.plan --streams 1,2,4,8 --json out.json

TensorRT 8.6 lets several contexts share optimization profile 0 only when the engine was built with the
preview feature PROFILE_SHARING_0806 (always on from TensorRT 10); otherwise N > 1 fails, with that reason.
Exit codes: 0 every N measured, 1 some N failed (its reason is in the JSON), 2 TensorRT, cuda-python or
a GPU is missing.
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
from types import SimpleNamespace

trt = cudart = np = None  # imported in load_deps(), after argument parsing, so --help needs none of them


def nearest_rank(sorted_values, p):
    """trtexec's percentile: sorted[max(n - 1 - floor((1 - p/100) * n), 0)], in exact arithmetic
    (in binary floating point (1 - 0.9) * 10 floors to 0, not 1)."""
    n = len(sorted_values)
    if n == 0:
        raise ValueError("no samples")
    drop = math.floor((1 - Fraction(str(p)) / 100) * n)
    return sorted_values[max(n - 1 - drop, 0)]


def die(message):
    print(f"bare_trt_multistream: {' '.join(str(message).split())}", file=sys.stderr)
    sys.exit(2)


def load_deps():
    """Import TensorRT, cuda-python and numpy; exit 2 with one line when one is missing or no GPU is seen."""
    global trt, cudart, np
    try:
        import tensorrt as trt
    except Exception as exc:
        die(f"TensorRT is not importable ({type(exc).__name__}: {exc})")
    try:
        import numpy as np
        try:
            from cuda.bindings import runtime as cudart  # cuda-python >= 12.6
        except ImportError:
            from cuda import cudart
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


def fill_input(engine, name, dev, nbytes, count, rng, stream, stack):
    """Seeded data into a device input through a pinned buffer: standard normal for floats (bf16: float32
    bits truncated), zeros for ints and bools (the same data as bare_trt_clock.py's)."""
    dt = engine.get_tensor_dtype(name)
    dtype = np.dtype(np.uint16) if getattr(dt, "name", "") == "BF16" else np.dtype(trt.nptype(dt))
    host = cu("cudaMallocHost", nbytes)
    stack.callback(cudart.cudaFreeHost, host)
    view = np.ctypeslib.as_array((ctypes.c_uint8 * nbytes).from_address(host))[:count * dtype.itemsize]
    view = view.view(dtype)
    if getattr(dt, "name", "") == "BF16":
        view[:] = (rng.standard_normal(count, dtype=np.float32).view(np.uint32) >> 16).astype(np.uint16)
    elif dtype.kind == "f":
        view[:] = rng.standard_normal(count, dtype=np.float32).astype(dtype)
    else:
        view[:] = 0
    cu("cudaMemcpyAsync", dev, host, nbytes, cudart.cudaMemcpyKind.cudaMemcpyHostToDevice, stream)
    cu("cudaStreamSynchronize", stream)


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


def make_lane(engine, shapes, index, args, stack):
    """One in-flight slot: its own context, non-blocking stream, device I/O, graph and two event pairs."""
    stream = cu("cudaStreamCreateWithFlags", cudart.cudaStreamNonBlocking)
    stack.callback(cudart.cudaStreamDestroy, stream)
    ctx = engine.create_execution_context()
    if ctx is None:
        raise RuntimeError(f"create_execution_context returned None for context {index}")
    dynamic = any(-1 in list(engine.get_tensor_shape(name)) for name in shapes)
    if dynamic and not ctx.set_optimization_profile_async(0, int(stream)):  # static engines use profile 0
        raise RuntimeError(f"set_optimization_profile_async(0) returned False for context {index}"
                           + (" (TensorRT 8.6 shares a profile among contexts only for engines built with "
                              "PreviewFeature.PROFILE_SHARING_0806)" if index else ""))
    for name, shape in shapes.items():
        if not ctx.set_input_shape(name, shape):
            raise ValueError(f"set_input_shape({name}, {shape}) returned False")
    missing = ctx.infer_shapes()
    if missing:
        raise ValueError(f"infer_shapes could not infer {list(missing)}")
    outputs, rng = {}, np.random.default_rng(args.seed)
    for i in range(engine.num_io_tensors):
        name = engine.get_tensor_name(i)
        dims = list(ctx.get_tensor_shape(name))
        if any(d < 0 for d in dims):
            raise ValueError(f"tensor {name} has a data-dependent shape {dims} (not supported here)")
        if name not in shapes:
            outputs[name] = list(dims)
        vdim, comps = engine.get_tensor_vectorized_dim(name), engine.get_tensor_components_per_element(name)
        if vdim >= 0 and comps > 1:  # vectorized formats pad the vectorized dim
            dims[vdim] = -(-dims[vdim] // comps) * comps
        dt = engine.get_tensor_dtype(name)
        itemsize = 2 if getattr(dt, "name", "") == "BF16" else np.dtype(trt.nptype(dt)).itemsize
        count = math.prod(dims)
        nbytes = max(count * itemsize, 1)
        dev = cu("cudaMalloc", nbytes)
        stack.callback(cudart.cudaFree, dev)
        if name in shapes:
            fill_input(engine, name, dev, nbytes, count, rng, stream, stack)
        if not ctx.set_tensor_address(name, dev):
            raise RuntimeError(f"set_tensor_address({name}) returned False")
    graph_exec = capture(ctx, stream, stack) if args.mode == "graph" else None
    events = [cu("cudaEventCreate") for _ in range(4)]
    for ev in events:
        stack.callback(cudart.cudaEventDestroy, ev)
    return SimpleNamespace(ctx=ctx, stream=stream, handle=int(stream), graph_exec=graph_exec,
                           pairs=[events[:2], events[2:]], count=0, outputs=outputs)


def drive(lanes, seconds, ref=None):
    """Keep every lane busy for `seconds` of host time, then drain. With a reference event, return each
    completed query's (start, end) in ms after it and its latency (end - start event) in ms."""
    success = cudart.cudaError_t.cudaSuccess
    pending = [None] * len(lanes)
    done = []
    t_stop = time.perf_counter() + seconds
    while True:
        more = time.perf_counter() < t_stop
        for i, lane in enumerate(lanes):
            if pending[i] is not None:  # the stream's previous query: wait, read its events before reuse
                start, end = pending[i]
                cu("cudaEventSynchronize", end)
                if ref is not None:
                    done.append((cu("cudaEventElapsedTime", ref, start), cu("cudaEventElapsedTime", ref, end),
                                 cu("cudaEventElapsedTime", start, end)))
                pending[i] = None
            if more:
                start, end = lane.pairs[lane.count % 2]
                lane.count += 1
                cu("cudaEventRecord", start, lane.stream)
                if lane.graph_exec is not None:
                    ok = cudart.cudaGraphLaunch(lane.graph_exec, lane.stream)[0] == success
                else:
                    ok = lane.ctx.execute_async_v3(lane.handle)
                if not ok:
                    raise RuntimeError("launching a query failed (cudaGraphLaunch or execute_async_v3)")
                cu("cudaEventRecord", end, lane.stream)
                pending[i] = (start, end)
        if not more:
            return done


def run_streams(engine, shapes, n, args, ref):
    res = {"streams": n, "status": "failed", "reason": None}
    try:
        lanes = []
        with contextlib.ExitStack() as stack:
            try:
                for i in range(n):
                    lanes.append(make_lane(engine, shapes, i, args, stack))
                drive(lanes, args.warmup_ms / 1e3)
                cu("cudaEventRecord", ref, lanes[0].stream)  # just before the first measured query
                t0 = time.perf_counter()
                done = drive(lanes, args.duration, ref)
                wall = time.perf_counter() - t0
            finally:
                for lane in lanes:  # nothing of ours in flight when the stack frees
                    cudart.cudaStreamSynchronize(lane.stream)
        if not done:
            raise RuntimeError("no query completed (is --duration too short?)")
        span_s = (max(q[1] for q in done) - min(q[0] for q in done)) / 1e3
        lat = sorted(q[2] for q in done)
        res.update(status="ok", queries=len(done), gpu_span_s=span_s, wall_s=wall, qps_gpu=len(done) / span_s,
                   qps_wall=len(done) / wall, latency_median_ms=statistics.median(lat),
                   latency_mean_ms=statistics.fmean(lat), latency_min_ms=lat[0],
                   latency_p90_ms=nearest_rank(lat, 90), latency_p99_ms=nearest_rank(lat, 99),
                   output_shapes=lanes[0].outputs)
    except Exception as exc:
        res["reason"] = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
    return res


def parse_args(argv):
    p = argparse.ArgumentParser(description="Throughput of one TensorRT plan with N queries in flight (N "
                                            "contexts and streams), timed by CUDA events; shares no code "
                                            "with trtbench.")
    p.add_argument("--plan", required=True, help="a serialized TensorRT engine")
    p.add_argument("--streams", default="1,2,4,8", help="comma-separated numbers of queries in flight")
    p.add_argument("--batch", type=int, default=None, help="first dim of every input (default: profile opt)")
    p.add_argument("--mode", choices=("graph", "eager"), default="graph",
                   help="graph: replay a captured CUDA graph per stream; eager: execute_async_v3 per query")
    p.add_argument("--duration", type=float, default=2.0, help="seconds of measured queries per N")
    p.add_argument("--warmup-ms", type=float, default=300.0)
    p.add_argument("--seed", type=int, default=0, help="seed of the random input data")
    p.add_argument("--json", required=True, help="write the results here")
    args = p.parse_args(argv)
    try:
        args.streams = [int(s) for s in args.streams.split(",") if s.strip()]
    except ValueError:
        p.error(f"--streams must be comma-separated integers, not {args.streams!r}")
    if not args.streams or min(args.streams) < 1 or (args.batch is not None and args.batch < 1):
        p.error("--streams and --batch must be positive")
    return args


def main(argv=None):
    args = parse_args(argv)
    load_deps()
    logger = trt.Logger(trt.Logger.WARNING)
    out = {"tool": "bare_trt_multistream", **versions(), "python": platform.python_version(),
           "plan": args.plan, "mode": args.mode, "batch": args.batch, "warmup_ms": args.warmup_ms,
           "duration_s": args.duration, "seed": args.seed, "status": "failed", "reason": None, "shapes": {},
           "results": []}
    try:
        with open(args.plan, "rb") as f:
            blob = f.read()
        runtime = trt.Runtime(logger)
        engine = runtime.deserialize_cuda_engine(blob)
        if engine is None:
            raise RuntimeError("deserialize_cuda_engine returned None (see the TensorRT log above)")
        out["shapes"] = run_shapes(engine, args.batch)
        ref = cu("cudaEventCreate")
        try:
            for n in args.streams:
                res = run_streams(engine, out["shapes"], n, args, ref)
                out["results"].append(res)
                if res["status"] == "ok":
                    print(f"{args.plan} streams={n}: {res['qps_gpu']:.1f} q/s GPU span, {res['qps_wall']:.1f} "
                          f"q/s wall, latency median {res['latency_median_ms']:.4f} ms p99 "
                          f"{res['latency_p99_ms']:.4f} ms, {res['queries']} queries", flush=True)
                else:
                    print(f"{args.plan} streams={n}: FAILED {res['reason']}", flush=True)
        finally:
            cudart.cudaEventDestroy(ref)
        del engine, runtime
        out["status"] = "ok" if all(r["status"] == "ok" for r in out["results"]) else "failed"
    except Exception as exc:
        out["reason"] = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
        print(f"{args.plan}: FAILED {out['reason']}", flush=True)
    with open(args.json, "w") as f:
        json.dump(out, f, indent=1)
    return 0 if out["status"] == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
