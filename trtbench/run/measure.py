"""What happens to one variant inside the process that measures it: open (prepare, load, bind),
describe (shapes, backend facts, accuracy, per-layer profile), measure one trial, release.

The same functions run in a worker process and inline; they return plain data (a ``VariantRecord``
without trials, a ``Trial``), never print, and never decide the order of trials (``protocol`` does).
"""

from __future__ import annotations

import os
import time
import traceback
from typing import Callable, Dict, Optional

import numpy as np

from trtbench.backends.base import Backend
from trtbench.backends.prepare import prepare_model
from trtbench.backends.registry import load_class
from trtbench.backends.tensorrt.engine_file import plan_backend
from trtbench.config.settings import RunSettings
from trtbench.errors import UserError, VariantSkipped
from trtbench.gpu.cuda import Stream
from trtbench.matrix.axes import backend_info
from trtbench.matrix.spec import Variant
from trtbench.models.inputs import model_feeds
from trtbench.precision.accuracy import DEFAULT_TOLERANCES, compare, reference_outputs
from trtbench.results.record import Trial, VariantRecord
from trtbench.results.store import utc_now
from trtbench.run.load import measure_load
from trtbench.timing.load import GPU_LOAD_SPIN_WAIT
from trtbench.timing.samples import LoopPlan

BackendFactory = Callable[[Variant, RunSettings], Backend]


def model_backend(variant: Variant, settings: RunSettings) -> Backend:
    """The usual way to a backend: load the model, prepare it for the variant, construct the backend."""
    if variant.model.plan:  # a prebuilt TensorRT plan (trtbench run --engine)

        return plan_backend(variant, settings)
    cls = load_class(backend_info(variant.backend))
    cls.require()
    prepared = prepare_model(variant, variant.model.load(), fix_batch=settings.fix_batch)
    return cls(variant, settings, prepared)


def loop_plan(settings: RunSettings) -> LoopPlan:
    return LoopPlan(warmup_s=settings.warmup_ms / 1000.0, min_iterations=settings.iterations,
                    min_duration_s=settings.duration_s, max_iterations=max(settings.max_iterations, settings.iterations),
                    data_transfers=settings.data_transfers, cold=settings.cold)


def error_info(exc: BaseException) -> dict:
    return {"type": type(exc).__name__, "message": str(exc),
            "traceback": "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))[-4000:]}


def outcome_of(exc: BaseException):
    """(status, reason, error) for an exception that ended a variant."""
    if isinstance(exc, VariantSkipped):
        return "skipped", str(exc), None
    if isinstance(exc, UserError):
        return "failed", str(exc), error_info(exc)
    return "failed", (f"{type(exc).__name__}: {exc}"[:1000] or type(exc).__name__), error_info(exc)


def open_backend(variant: Variant, settings: RunSettings, make_backend: BackendFactory = model_backend) -> Backend:
    """prepare -> load -> bind; released again when any step fails."""
    backend = make_backend(variant, settings)
    try:
        backend.prepare()
        backend.load()
        prepared = backend.prepared
        backend.feeds, made = model_feeds(prepared.model, prepared.dtypes, prepared.run_shapes, settings.seed,
                                          settings.input_ranges, settings.load_inputs)
        backend.facts["inputs"] = made  # how each input's data was made (kind, range, file)
        if prepared.notes:
            backend.facts["model_rewrites"] = list(prepared.notes)  # --fix-batch, said in the results
        backend.bind(backend.feeds)
        return backend
    except BaseException:
        backend.release()
        raise


def timing_facts(backend: Backend, settings: RunSettings) -> dict:
    v = backend.variant
    if v.under_load:
        return load_facts(backend, settings)
    timer = backend.stage_timer()
    facts = {"timer": getattr(timer, "name", "host"), "mode": getattr(timer, "mode", "latency"),
             "cuda_graph": bool(getattr(timer, "cuda_graph", False)), "spin_wait": bool(getattr(timer, "spin_wait", False)),
             "launch_gate": bool(getattr(timer, "gated", lambda transfers: False)(settings.data_transfers)),
             "compute_window": getattr(timer, "compute_window", lambda transfers: "host clock")(settings.data_transfers),
             "data_transfers": settings.data_transfers, "cold": settings.cold, "trials": settings.trials,
             "isolation": settings.isolation, "warmup_ms": settings.warmup_ms, "duration_s": settings.duration_s,
             "percentiles": "nearest-rank, as trtexec (no interpolation)",
             "headline": "median over trials of the trial medians; spread = CV of the trial medians"}
    if facts["mode"] != settings.mode:  # the host timer runs one query at a time, synchronously
        facts["ignored"] = {"mode": settings.mode}
    return facts


def host_timer_note(records, cuda_graph_asked: bool) -> Optional[str]:
    """One line for the console when the host timer (a CPU backend) leaves GPU timing options aside: ``--mode
    throughput`` (recorded in the records' ``timing.ignored``) and an explicit ``--cuda-graph``."""
    host = [r for r in records if r.status == "ok" and r.timing.get("timer") == "host"]
    moded = [r for r in host if (r.timing.get("ignored") or {}).get("mode")]
    what = (["--mode throughput"] if moded else []) + (["--cuda-graph"] if cuda_graph_asked and host else [])
    if not what:
        return None
    n = len(host) if cuda_graph_asked else len(moded)
    return (f"{n} variant(s) run on the host timer (a CPU backend), which times one query at a time, synchronously, "
            f"without CUDA graphs: {' and '.join(what)} {'do' if len(what) > 1 else 'does'} not apply to them (their "
            f"records say timing.mode latency, timing.cuda_graph false)")


def load_facts(backend: Backend, settings: RunSettings) -> dict:
    """The timing options of a variant under load (``run.load``): which loop, which timer, which seed."""
    v = backend.variant
    gpu = backend.gpu_device() is not None
    loop = "budget" if v.latency_budget_ms is not None else ("open" if v.request_rate is not None else "closed")
    return {"timer": "load:cuda-events" if gpu else "load:host-threads", "mode": f"load-{loop}",
            "concurrency": v.concurrency, "request_rate": v.request_rate, "latency_budget_ms": v.latency_budget_ms,
            "cuda_graph": bool(settings.cuda_graph and gpu),
            "spin_wait": GPU_LOAD_SPIN_WAIT if gpu else settings.spin_wait,
            "data_transfers": settings.data_transfers, "cold": False, "trials": settings.trials,
            "isolation": settings.isolation, "warmup_ms": settings.warmup_ms, "duration_s": settings.duration_s,
            "arrivals": "Poisson, random.Random(f'{seed}:{trial}:{probe}')" if loop != "closed" else None,
            "seed": settings.seed, "percentiles": "nearest-rank, as trtexec (no interpolation)",
            "throughput": "completed queries / span from the first query's start to the last one's end "
                          "(GPU events on a GPU; trtexec's definition)",
            "latency_under_load": "response = scheduled arrival (closed loop: issue) to D2H end, queueing included",
            "headline": "median over trials of the trial medians; spread = CV of the trial medians"}


def run_once(backend: Backend) -> Dict[str, np.ndarray]:
    """One untimed query (H2D, compute, D2H), for the accuracy check; the outputs it produced."""
    stream = Stream() if backend.gpu_device() is not None else None
    try:
        handle = stream.handle if stream is not None else None
        calls = backend.stage_calls()
        calls.h2d(handle)
        calls.compute(handle)
        calls.d2h(handle)
        if stream is not None:
            stream.synchronize()
        return {k: np.array(v, copy=True) for k, v in backend.outputs().items()}
    finally:
        if stream is not None:
            stream.destroy()


def accuracy_of(variant: Variant, backend: Backend, settings: RunSettings) -> Optional[dict]:
    prepared = backend.prepared
    if not settings.check_accuracy or prepared.model is None:
        return None
    try:
        outputs = run_once(backend)
        ref = reference_outputs(prepared.model, backend.feeds)
        tol = {p: dict(t, **(settings.tolerances or {}).get(p, {})) for p, t in DEFAULT_TOLERANCES.items()}
        return compare(outputs, ref, variant.precision, tol)
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}", "inaccurate": False}


def describe(variant: Variant, settings: RunSettings, vid: str, artifacts_dir: Optional[str] = None,
             make_backend: BackendFactory = model_backend) -> VariantRecord:
    """The build pass for one variant: build or fetch what runs (engines are cached for the trials), bind it,
    check its outputs, and say what it is. A failure or skip is the returned record's status."""
    t0 = time.perf_counter()
    started = utc_now()
    backend = None
    try:
        backend = open_backend(variant, settings, make_backend)
        backend.artifacts_dir = artifacts_dir
        p = backend.prepared
        shapes = {k: {n: list(s) for n, s in getattr(p, k + "_shapes").items()} for k in ("run", "min", "opt", "max")}
        acc = accuracy_of(variant, backend, settings)
        if variant.under_load:  # every query slot is bound in the build pass, so a slot that cannot be made fails here
            backend.open_slots(variant.concurrency)
        artifacts = backend.extra_artifacts() if hasattr(backend, "extra_artifacts") else None
        return VariantRecord(variant, vid, "ok", shapes=shapes, backend=dict(backend.facts),
                             timing=timing_facts(backend, settings), planned_trials=settings.trials, accuracy=acc,
                             artifacts=artifacts, started=started, duration_s=time.perf_counter() - t0)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # noqa: B902 - one variant's failure must not end the matrix
        status, reason, err = outcome_of(exc)
        facts = dict(backend.facts) if backend is not None else {}
        return VariantRecord(variant, vid, status, reason, err, backend=facts, started=started,
                             duration_s=time.perf_counter() - t0)
    finally:
        if backend is not None:
            backend.release()


def measure(backend: Backend, settings: RunSettings, *, index: int, round: int, position: int, process: str,
            reloaded: bool) -> Trial:
    """One trial: the backend's timer warms up, then measures (``settings``: duration, iterations, mode...)."""
    started = time.monotonic()
    if backend.variant.under_load:
        raw = measure_load(backend, settings, index)
    else:
        raw = backend.stage_timer().run(backend.stage_calls(), loop_plan(settings))
    ended = time.monotonic()
    eager = None
    if raw.eager is not None:
        eager = {k: v for k, v in Trial.measured(raw.eager, index=0, round=0, position=0, process="", reloaded=False,
                                                 started=0.0, ended=0.0, compute_timing="eager").stats.items()
                 if k in ("compute", "enqueue")}
        raw.eager = None
    flags = ("too_few_samples",) if raw.queries < settings.min_samples else ()
    return Trial.measured(raw, index=index, round=round, position=position, process=process, reloaded=reloaded,
                          started=started, ended=ended, compute_timing=raw.compute_timing, eager=eager, flags=flags)


def process_name(inline: bool) -> str:
    return "inline" if inline else f"worker pid {os.getpid()}"
