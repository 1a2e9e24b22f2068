"""Runs a matrix: each variant through its backend's lifecycle and a stage timer, into the results file.

One variant's failure (a skip, a user error, a crash, out of memory) is recorded and the matrix goes
on; every record is written as soon as it exists.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional

from trtbench.backends.registry import backend_info, load_class, uses_gpu
from trtbench.errors import UserError, VariantSkipped
from trtbench.matrix.expand import Exclusion, expand
from trtbench.matrix.spec import Matrix, Variant
from trtbench.models.inputs import make_inputs
from trtbench.models.inspect import inspect_model
from trtbench.backends.prepare import prepare_model, profile_misfit
from trtbench.results.fingerprint import machine_fingerprint
from trtbench.results.store import ResultsWriter, utc_now
from trtbench.config.settings import RunSettings
from trtbench.timing.samples import LoopPlan
from trtbench.timing.stats import quality_flags, summarize


@dataclass
class RunOutcome:
    path: str
    run_id: str
    records: List[dict] = field(default_factory=list)
    excluded: List[dict] = field(default_factory=list)
    interrupted: bool = False


def plan_matrix(matrix: Matrix):
    """Expand, then drop (with reasons) the profiles that do not describe a model's inputs. A per-input
    profile that fits none of the models is a user error, raised before anything runs."""
    variants, excluded = expand(matrix)
    infos = {}
    for m in matrix.models:
        infos[m] = inspect_model(m.load())
    for p in matrix.profiles:
        if p.inputs and all(profile_misfit(infos[m], p) for m in matrix.models):
            raise UserError(profile_misfit(infos[matrix.models[0]], p) + "; fix the profile's input names/shapes")
    kept = []
    for v in variants:
        why = profile_misfit(infos[v.model], v.profile) if v.profile is not None else None
        if why:
            excluded.append(Exclusion(v.model.name, v.backend, v.batch, v.precision, v.build_mode,
                                      v.profile.name, why))
        else:
            kept.append(v)
    return kept, excluded


def loop_plan(settings: RunSettings) -> LoopPlan:
    return LoopPlan(warmup_s=settings.warmup_ms / 1000.0, min_iterations=settings.iterations,
                    min_duration_s=settings.duration_s, max_iterations=max(settings.max_iterations,
                                                                            settings.iterations),
                    data_transfers=settings.data_transfers)


def _error(exc: BaseException) -> dict:
    return {"type": type(exc).__name__, "message": str(exc),
            "traceback": "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))[-4000:]}


def model_backend(variant: Variant, settings: RunSettings):
    """The usual way to a backend: load the model, prepare it for the variant, construct the backend."""
    cls = load_class(backend_info(variant.backend))
    cls.require()
    prepared = prepare_model(variant, variant.model.load())
    return cls(variant, settings, prepared)


def run_variant(variant: Variant, settings: RunSettings, sampler_factory=None, artifacts_dir=None,
                make_backend=model_backend) -> dict:
    record: Dict = {"variant": variant.to_dict(), "status": "ok", "reason": None, "started": utc_now()}
    t0 = time.perf_counter()
    backend = None
    try:
        backend = make_backend(variant, settings)
        prepared = backend.prepared
        backend.artifacts_dir = artifacts_dir
        record["shapes"] = {k: {n: list(s) for n, s in getattr(prepared, k + "_shapes").items()}
                            for k in ("run", "min", "opt", "max")}
        backend.prepare()
        backend.load()
        feeds = make_inputs(prepared.dtypes, prepared.run_shapes, settings.seed)
        backend.bind(feeds)
        timer = backend.stage_timer()
        device = backend.gpu_device()
        sampler = sampler_factory(device, settings) if (sampler_factory and device is not None) else None
        if sampler is not None:
            sampler.start()
        try:
            raw = timer.run(backend.stage_calls(), loop_plan(settings))
        finally:
            if sampler is not None:
                sampler.stop()
        outputs = {k: v.copy() for k, v in backend.outputs().items()}
        telemetry = sampler.summary(raw.queries * variant.batch, raw.walltime_s) if sampler is not None else None
        stats = summarize(raw.series(), queries=raw.queries, walltime_s=raw.walltime_s, batch=variant.batch)
        throttled = bool(telemetry and telemetry.get("summary", {}).get("throttled"))
        record.update(
            backend=dict(backend.facts),
            timing={"timer": raw.timer, "mode": getattr(timer, "mode", "latency"),
                    "cuda_graph": getattr(timer, "cuda_graph", False), "spin_wait": getattr(timer, "spin_wait", False),
                    "data_transfers": settings.data_transfers, "warmup_queries": raw.warmup_queries,
                    "percentiles": "nearest-rank, as trtexec (no interpolation)"},
            samples=raw.to_dict(), stats=stats,
            quality=quality_flags(stats["stages"], min_samples=settings.min_samples,
                                  cv_threshold=settings.cv_threshold, throttled=throttled,
                                  gpu=device is not None),
            nvml=telemetry, accuracy=None)
        if hasattr(backend, "extra_artifacts"):
            record["artifacts"] = backend.extra_artifacts()
        if settings.check_accuracy and prepared.model is not None:
            record["accuracy"] = _accuracy(variant, prepared, feeds, outputs, settings.tolerances)
            if record["accuracy"].get("inaccurate"):
                record["quality"].append("inaccurate")
    except VariantSkipped as exc:
        record.update(status="skipped", reason=str(exc))
    except UserError as exc:
        record.update(status="failed", reason=str(exc), error=_error(exc))
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: B902 - one variant's crash must not end the matrix
        if isinstance(exc, SystemExit):
            raise
        record.update(status="failed", reason=f"{type(exc).__name__}: {exc}"[:1000] or type(exc).__name__,
                      error=_error(exc))
    finally:
        if backend is not None:
            try:
                backend.release()
            except Exception as exc:  # a release failure is recorded, not raised
                record.setdefault("release_error", _error(exc))
        if backend is not None and backend.facts and "backend" not in record:
            record["backend"] = dict(backend.facts)
        record["duration_s"] = time.perf_counter() - t0
    return record


def _accuracy(variant: Variant, prepared, feeds, outputs, tolerances=None) -> dict:
    from trtbench.precision.accuracy import DEFAULT_TOLERANCES, compare, reference_outputs

    try:
        ref = reference_outputs(prepared.model, feeds)
        tol = {p: dict(t, **(tolerances or {}).get(p, {})) for p, t in DEFAULT_TOLERANCES.items()}
        return compare(outputs, ref, variant.precision, tol)
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}", "inaccurate": False}


def default_sampler_factory():
    try:
        from trtbench.gpu.nvml import sampler_for
    except Exception:
        return None
    return sampler_for


def run_matrix(matrix: Matrix, settings: RunSettings, results_dir: str, *, command: Optional[str] = None,
               on_record: Optional[Callable[[int, int, dict], None]] = None,
               variants: Optional[List[Variant]] = None, excluded: Optional[List[Exclusion]] = None,
               sampler_factory=None) -> RunOutcome:
    if variants is None:
        variants, excluded = plan_matrix(matrix)
    excluded = excluded or []
    needs_gpu = any(uses_gpu(v.backend) for v in variants)
    gpu = None
    if needs_gpu:
        try:
            from trtbench.gpu.fingerprint import gpu_fingerprint

            gpu = gpu_fingerprint(settings.device)
        except Exception as exc:  # no driver: the fingerprint says so
            gpu = {"available": False, "reason": f"{type(exc).__name__}: {exc}"}
    writer = ResultsWriter(results_dir, machine=machine_fingerprint(gpu), settings=settings.to_dict(),
                           matrix=matrix.to_dict(), excluded=[e.to_dict() for e in excluded], command=command)
    outcome = RunOutcome(str(writer.path), writer.run_id, excluded=[e.to_dict() for e in excluded])
    factory = sampler_factory if sampler_factory is not None else (default_sampler_factory() if settings.nvml
                                                                   else None)
    try:
        for i, v in enumerate(variants):
            record = run_variant(v, settings, factory, artifacts_dir=str(writer.directory))
            writer.add(record)
            outcome.records.append(record)
            if on_record:
                on_record(i + 1, len(variants), record)
    except KeyboardInterrupt:
        writer.finish("interrupted")
        outcome.interrupted = True
        return outcome
    writer.finish("complete")
    return outcome
