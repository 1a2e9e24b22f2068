"""TensorRT engines on the shared buffers, CUDA-event stage timer and NVML sampler.

prepare: precision route (builder flags or a typed model) -> BuildSpec -> engine cache or build.
load:    Runtime (engine host code disallowed) -> deserialize_cuda_engine -> create_execution_context.
bind:    set_optimization_profile_async(0) -> set_input_shape at the profile max (output buffers sized
         from it) -> set_input_shape at the run shapes -> infer_shapes must name nothing -> output
         shapes from the context -> set_tensor_address for every I/O tensor.
compute: execute_async_v3 on the harness's stream (or a CUDA graph of it).
slots:   each further query in flight gets its own execution context of the one engine, bound the same way
         to its own buffers. Contexts of a dynamic engine share optimization profile 0, which TensorRT 8.6
         allows only for engines built with PreviewFeature.PROFILE_SHARING_0806 (set, and part of the cache
         key, when a variant's concurrency is above 1; TensorRT 10+ always allows it).
"""

from __future__ import annotations

import time
from typing import Dict, List, Optional, Tuple

import numpy as np

from trtbench.backends.gpu_base import GpuBackend
from trtbench.backends.registry import Availability
from trtbench.backends.slot import Slot
from trtbench.backends.tensorrt.build import BuildSpec, build_engine
from trtbench.backends.tensorrt.cache import EngineCache, cache_key
from trtbench.backends.tensorrt.compat import TensorRTError, TrtApi, load_trt
from trtbench.backends.tensorrt.layers import profile_layers
from trtbench.bfloat16 import widen
from trtbench.errors import UserError, VariantSkipped
from trtbench.gpu import cuda
from trtbench.gpu.cuda import gpu_unavailable_reason
from trtbench.models.loading import model_digest
from trtbench.precision.transform import apply_precision


def make_logger(api: TrtApi, verbose: bool = False):
    trt = api.trt

    class _Logger(trt.ILogger):
        def __init__(self):
            trt.ILogger.__init__(self)
            self.messages: List[str] = []

        def log(self, severity, msg):
            if int(severity) <= int(trt.ILogger.Severity.WARNING) or verbose:
                self.messages.append(f"{str(severity).split('.')[-1]}: {msg}")
                if verbose:
                    print(f"[TensorRT] {msg}", flush=True)

    return _Logger()


def trt_for_command(what: str, device: int) -> TrtApi:
    """TensorRT and a usable GPU for a command (build, run --engine), or a one-line user error."""

    try:
        api = load_trt()
    except TensorRTError as exc:
        raise UserError(f"{what} needs TensorRT: {exc}") from None
    reason = gpu_unavailable_reason(device)
    if reason:
        raise UserError(f"{what} needs an NVIDIA GPU: {reason}")
    return api


def gpu_identity(device: int) -> Dict[str, str]:
    props = cuda.device_properties(device)
    return {"gpu": props["name"], "compute_capability": props["compute_capability"]}


class _TrtSlot(Slot):
    """One query in flight: an execution context of the engine over this slot's buffers."""

    def __init__(self, index: int, buffers, context) -> None:
        super().__init__(index, buffers)
        self.context = context
        self._execute = context.execute_async_v3

    def compute(self, stream) -> None:
        if not self._execute(stream):
            raise TensorRTError("execute_async_v3 returned False (see the TensorRT log)")

    def _drop(self) -> None:
        self.context = self._execute = None


class TensorRTBackend(GpuBackend):
    name = "tensorrt"

    def __init__(self, variant, settings, prepared) -> None:
        super().__init__(variant, settings, prepared)
        self.api = self.logger = self.spec = self.plan = None
        self.runtime = self.engine = None
        self.context = None  # slot 0's execution context (the layer profile runs on it)
        self._setup_stream = None
        self._io: Optional["EngineIO"] = None

    @classmethod
    def availability(cls) -> Availability:
        try:
            api = load_trt()
        except TensorRTError as exc:
            return Availability(cls.name, False, None, str(exc))

        reason = gpu_unavailable_reason(0)
        if reason:
            return Availability(cls.name, False, api.version_text, f"TensorRT {api.version_text} is installed but "
                                                                   f"no CUDA GPU can be used: {reason}")
        if api.lean:
            return Availability(cls.name, False, f"{api.version_text} (lean runtime)",
                                f"only the TensorRT {api.version_text} lean runtime is installed: it runs prebuilt "
                                f"plans (trtbench run --engine PLAN) but cannot build engines; install tensorrt")
        return Availability(cls.name, True, api.version_text, None, "cuda:0")

    # ---- prepare: build or fetch the plan ---------------------------------------------------------
    def _prepare(self) -> None:
        self.require()

        api = self.api = load_trt()
        s = self.settings
        try:
            typing = api.typing_for(getattr(s, "trt_typing", "auto"))
        except TensorRTError as exc:
            raise VariantSkipped(str(exc)) from None
        why = api.precision_support(self.variant.precision, typing)
        if why:
            raise VariantSkipped(why)
        p = self.variant.precision
        base = p.replace("-io", "")
        # The model handed to the parser: fp32 for weak typing (flags do the rest) except Q/DQ for int8/fp8;
        # for strong typing the precision must be in the model's own types.
        if api.needs_converted_model(p, typing):
            converted = apply_precision(self.prepared.model, p, s)
            model, method = converted.model, converted.method
        else:
            model, method = self.prepared.model, "fp32 model"
        if typing == "weak" and base not in ("fp32", "tf32"):
            flag = {"fp16": "FP16", "bf16": "BF16", "int8": "INT8", "fp8": "FP8"}[base]
            method = f"BuilderFlag.{flag} on the {method}" + (f", {base} I/O tensors" if p.endswith("-io") else "")
        elif base == "tf32":
            method = "BuilderFlag.TF32 on the fp32 model"
        method = f"{typing} typing: {method}"
        static = self.variant.build_mode == "implicit"
        profile = () if static else tuple(
            (n, tuple(self.prepared.min_shapes[n]), tuple(self.prepared.opt_shapes[n]), tuple(self.prepared.max_shapes[n]))
            for n in sorted(self.prepared.min_shapes))
        spec = BuildSpec(precision=p, typing=typing, static=static, profile=profile,
                         workspace_bytes=getattr(s, "trt_workspace_bytes", None),
                         optimization_level=getattr(s, "trt_opt_level", None), tf32=p == "tf32",
                         profile_sharing=not static and self.variant.concurrency > 1)
        self.spec = spec
        ident = gpu_identity(s.device)
        cache = EngineCache(s.resolved_cache_dir())
        key = cache_key(model_digest(model), spec.key(), api.version_text, ident["gpu"], ident["compute_capability"])
        plan = cache.get(key)
        logger = self.logger = make_logger(api, verbose=getattr(s, "verbose", False))
        self.facts.update(runtime_version=api.version_text, precision_method=method, typing=typing,
                          tf32=spec.tf32, cache_key=key, device=f"cuda:{s.device}", profile_sharing=spec.profile_sharing,
                          **ident)
        if plan is not None:
            self.facts.update(cache_hit=True, build_time_s=0.0)
        else:
            self.facts.update(cache_hit=False, cache_miss_reason=cache.last_miss)
            tc_path = cache.timing_cache_path(api.version_text, ident["gpu"])
            result, applied, new_tc = build_engine(api, model, spec, logger, cache.load_timing_cache(tc_path))
            plan = result.plan
            cache.put(key, plan, {"spec": spec.key(), "tensorrt": api.version_text, **ident,
                                  "model_sha256": model_digest(model), "variant": self.variant.id})
            if new_tc:
                cache.save_timing_cache(tc_path, new_tc)
            self.facts.update(build_time_s=result.build_time_s, build=applied, timing_cache=str(tc_path))
        self.plan = plan
        self.facts["engine_bytes"] = len(plan)

    # ---- load -----------------------------------------------------------------------------------
    def _load(self) -> None:
        load_engine(self, self.plan)

    # ---- bind -----------------------------------------------------------------------------------
    def _bind(self, feeds: Dict[str, np.ndarray]) -> None:
        bind_engine(self, feeds)

    def _new_slot(self, index: int) -> _TrtSlot:
        return engine_slot(self, index)

    def _outputs(self) -> Dict[str, np.ndarray]:
        out = {}
        for n, a in self.slots[0].host_outputs().items():
            out[n] = widen(np.array(a), self.slots[0].buffers.outputs[n].dtype)
        return out

    def extra_artifacts(self) -> Optional[dict]:
        if not self.settings.layer_profile:
            return None

        return profile_layers(self)

    def _release(self) -> None:
        self._release_slots()  # contexts before the engine, the engine before the runtime
        self.context = None
        self.engine = None
        self.runtime = None
        if self._setup_stream is not None:
            self._setup_stream.destroy()
            self._setup_stream = None


# ---- shared by the matrix backend and `trtbench run --engine` ------------------------------------
def load_engine(backend, plan: bytes) -> None:
    api = backend.api
    cuda.set_device(backend.settings.device)
    runtime = api.trt.Runtime(backend.logger)
    api.disallow_host_code(runtime)
    t0 = time.perf_counter()
    seen = len(backend.logger.messages)
    engine = runtime.deserialize_cuda_engine(plan)
    if engine is None:
        log = " | ".join(backend.logger.messages[seen:][-3:])  # this call's messages only
        raise TensorRTError(f"deserialize_cuda_engine failed: the plan is corrupt, or was built for another "
                            f"TensorRT version or GPU ({log or 'no log'}); rebuild it for this machine")
    backend.runtime, backend.engine = runtime, engine
    backend.context = engine.create_execution_context()
    if backend.context is None:
        raise TensorRTError("create_execution_context failed (out of device memory?)")
    backend.facts.update(deserialize_time_s=time.perf_counter() - t0,
                         device_memory_bytes=api.device_memory_size(engine),
                         optimization_profiles=engine.num_optimization_profiles)
    backend._setup_stream = cuda.Stream()


def engine_profile_shapes(api: TrtApi, engine, name: str):
    """(min, opt, max) of input ``name`` in profile 0, or None for a static engine."""
    shape = tuple(engine.get_tensor_shape(name))
    if all(d >= 0 for d in shape):
        return None
    lo, opt, hi = engine.get_tensor_profile_shape(name, 0)
    return tuple(lo), tuple(opt), tuple(hi)


class EngineIO:
    """What every slot of an engine is bound with: its I/O tensors, the profile maximum (buffer sizes) and the
    run shapes of the inputs, and the output shapes at the profile maximum."""

    def __init__(self, inputs, outputs, max_in, run_in, feeds, dynamic: bool) -> None:
        self.inputs: List[Tuple[str, object, tuple]] = inputs  # (name, dtype, engine shape)
        self.outputs: List[Tuple[str, object]] = outputs  # (name, dtype)
        self.max_in: Dict[str, tuple] = max_in
        self.run_in: Dict[str, tuple] = run_in
        self.feeds: Dict[str, np.ndarray] = feeds
        self.dynamic = dynamic
        #: inputs with a dynamic engine shape; fixed ones (bias vectors, scalars) keep theirs, no set_input_shape
        self.shaped = [n for n, _, shape in inputs if any(d < 0 for d in shape)]
        self.max_out: Dict[str, tuple] = {}


def bind_engine(backend, feeds: Dict[str, np.ndarray]) -> None:
    """Check the feeds against the engine and bind slot 0 to ``backend.context``."""
    api, engine = backend.api, backend.engine
    io = api.io_tensors(engine)
    inputs = [(n, dt, shape) for n, is_in, dt, shape in io if is_in]
    outputs = [(n, dt) for n, is_in, dt, _ in io if not is_in]
    max_shapes = {}
    for n, dt, shape in inputs:
        prof = engine_profile_shapes(api, engine, n)
        max_shapes[n] = prof[2] if prof else shape
        if n not in feeds:
            raise TensorRTError(f"the engine has input {n!r}, the feeds have {', '.join(feeds)}")
        run = tuple(feeds[n].shape)
        if prof and not all(a <= b <= c for a, b, c in zip(prof[0], run, prof[2])):
            raise TensorRTError(f"input {n} shape {run} is outside the engine's profile "
                                f"{prof[0]}..{prof[2]}: pick a batch inside the profile or rebuild")
        if not prof and run != shape:
            raise TensorRTError(f"input {n} shape {run} differs from the static engine's {shape}: "
                                f"build an engine for this batch")
    dynamic = engine.num_optimization_profiles > 0 and any(d < 0 for _, _, s in inputs for d in s)
    backend._io = EngineIO(inputs, outputs, max_shapes, {n: tuple(feeds[n].shape) for n, _, _ in inputs},
                           {n: feeds[n] for n, _, _ in inputs}, dynamic)
    backend._bind_slot0()
    backend.facts["io"] = [{"name": n, "input": i, "dtype": str(api.nptype(d)), "engine_shape": list(s)}
                           for n, i, d, s in io]


def engine_slot(backend, index: int) -> _TrtSlot:
    """Slot ``index``: slot 0 binds ``backend.context``, every other one a new execution context of the engine,
    each on its own buffers, sized for the profile maximum, with the run shapes set."""
    api, engine, io = backend.api, backend.engine, backend._io
    ctx = backend.context if index == 0 else engine.create_execution_context()
    if ctx is None:
        raise TensorRTError(f"create_execution_context failed for query slot {index} (out of device memory?)")
    stream = backend._setup_stream
    if io.dynamic:
        ok = ctx.set_optimization_profile_async(0, stream.handle)
        stream.synchronize()
        if ok is False:
            raise TensorRTError(
                f"set_optimization_profile_async(0) was refused for execution context {index}" +
                (f": TensorRT {api.version_text} lets several contexts share a profile only when the engine was built "
                 f"with PreviewFeature.PROFILE_SHARING_0806 (trtbench sets it for matrix variants with concurrency "
                 f"above 1; for --engine, rebuild the plan with it, or use a static engine)" if index else ""))
    if not io.max_out:  # output buffers sized at the profile maximum
        for n in io.shaped:
            if not ctx.set_input_shape(n, io.max_in[n]):
                raise TensorRTError(f"set_input_shape({n}, {io.max_in[n]}) was refused")
        io.max_out = {n: tuple(ctx.get_tensor_shape(n)) for n, _ in io.outputs}
    buffers = backend.buffer_class()({n: (api.nptype(dt), io.max_in[n]) for n, dt, _ in io.inputs},
                                     {n: (api.nptype(dt), io.max_out[n]) for n, dt in io.outputs})
    slot = _TrtSlot(index, buffers, ctx)
    try:
        for n in io.shaped:
            if not ctx.set_input_shape(n, io.run_in[n]):
                raise TensorRTError(f"set_input_shape({n}, {io.run_in[n]}) was refused")
        missing = ctx.infer_shapes()
        if missing:
            raise TensorRTError(f"infer_shapes: shapes still unspecified for {', '.join(missing)}")
        buffers.load_inputs(io.feeds)
        for n, _ in io.outputs:
            buffers.set_shape(n, tuple(ctx.get_tensor_shape(n)))
        for n, b in list(buffers.inputs.items()) + list(buffers.outputs.items()):
            if not ctx.set_tensor_address(n, b.device.ptr):
                raise TensorRTError(f"set_tensor_address({n}) was refused")
    except BaseException:
        slot.release()
        raise
    return slot
