"""TensorRT engines on the shared buffers, CUDA-event stage timer and NVML sampler.

prepare: precision route (builder flags or a typed model) -> BuildSpec -> engine cache or build.
load:    Runtime (engine host code disallowed) -> deserialize_cuda_engine -> create_execution_context.
bind:    set_optimization_profile_async(0) -> set_input_shape at the profile max (output buffers sized
         from it) -> set_input_shape at the run shapes -> infer_shapes must name nothing -> output
         shapes from the context -> set_tensor_address for every I/O tensor.
compute: execute_async_v3 on the harness's stream (or a CUDA graph of it).
"""

from __future__ import annotations

import time
from typing import Dict, List, Optional

import numpy as np

from trtbench.backends.gpu_base import GpuBackend
from trtbench.backends.registry import Availability
from trtbench.backends.tensorrt.build import BuildSpec, build_engine
from trtbench.backends.tensorrt.cache import EngineCache, cache_key
from trtbench.backends.tensorrt.compat import TensorRTError, TrtApi, load_trt
from trtbench.backends.tensorrt.layers import profile_layers
from trtbench.bfloat16 import widen
from trtbench.errors import UserError, VariantSkipped
from trtbench.gpu import cuda
from trtbench.gpu.buffers import IOBuffers
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


class TensorRTBackend(GpuBackend):
    name = "tensorrt"

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
                         optimization_level=getattr(s, "trt_opt_level", None), tf32=p == "tf32")
        self.spec = spec
        ident = gpu_identity(s.device)
        cache = EngineCache(s.resolved_cache_dir())
        key = cache_key(model_digest(model), spec.key(), api.version_text, ident["gpu"], ident["compute_capability"])
        plan = cache.get(key)
        logger = self.logger = make_logger(api, verbose=getattr(s, "verbose", False))
        self.facts.update(runtime_version=api.version_text, precision_method=method, typing=typing,
                          tf32=spec.tf32, cache_key=key, device=f"cuda:{s.device}", **ident)
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

    def _compute(self, stream) -> None:
        if not self.context.execute_async_v3(stream):
            raise TensorRTError("execute_async_v3 returned False (see the TensorRT log)")

    def _outputs(self) -> Dict[str, np.ndarray]:
        out = {}
        for n, a in self.buffers.host_outputs().items():
            out[n] = widen(np.array(a), self.buffers.outputs[n].dtype)
        return out

    def extra_artifacts(self) -> Optional[dict]:
        if not self.settings.layer_profile:
            return None

        return profile_layers(self)

    def _release(self) -> None:
        for attr in ("context", "engine", "runtime"):
            if hasattr(self, attr):
                delattr(self, attr)
        self._free_buffers()
        if getattr(self, "_setup_stream", None) is not None:
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


def bind_engine(backend, feeds: Dict[str, np.ndarray]) -> None:
    api, engine, ctx = backend.api, backend.engine, backend.context
    io = api.io_tensors(engine)
    inputs = [(n, dt, shape) for n, is_in, dt, shape in io if is_in]
    outputs = [(n, dt) for n, is_in, dt, _ in io if not is_in]
    if engine.num_optimization_profiles > 0 and any(d < 0 for _, _, s in inputs for d in s):
        ctx.set_optimization_profile_async(0, backend._setup_stream.handle)
        backend._setup_stream.synchronize()
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
    dynamic = [n for n, _, shape in inputs if any(d < 0 for d in shape)]  # fixed inputs keep their shape
    # outputs sized at the profile maximum
    for n in dynamic:
        if not ctx.set_input_shape(n, max_shapes[n]):
            raise TensorRTError(f"set_input_shape({n}, {max_shapes[n]}) was refused")
    max_out = {n: tuple(ctx.get_tensor_shape(n)) for n, _ in outputs}
    backend.buffers = IOBuffers({n: (api.nptype(dt), max_shapes[n]) for n, dt, _ in inputs},
                                {n: (api.nptype(dt), max_out[n]) for n, dt in outputs})
    for n in dynamic:
        if not ctx.set_input_shape(n, tuple(feeds[n].shape)):
            raise TensorRTError(f"set_input_shape({n}, {tuple(feeds[n].shape)}) was refused")
    missing = ctx.infer_shapes()
    if missing:
        raise TensorRTError(f"infer_shapes: shapes still unspecified for {', '.join(missing)}")
    backend.buffers.load_inputs({n: feeds[n] for n, _, _ in inputs})
    for n, _ in outputs:
        backend.buffers.set_shape(n, tuple(ctx.get_tensor_shape(n)))
    for n, b in list(backend.buffers.inputs.items()) + list(backend.buffers.outputs.items()):
        if not ctx.set_tensor_address(n, b.device.ptr):
            raise TensorRTError(f"set_tensor_address({n}) was refused")
    backend.facts.update(backend.buffers.total_bytes())
    backend.facts["io"] = [{"name": n, "input": i, "dtype": str(api.nptype(d)), "engine_shape": list(s)}
                           for n, i, d, s in io]
