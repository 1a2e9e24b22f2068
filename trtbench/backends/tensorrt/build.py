"""Building a TensorRT engine from ONNX: the tutorial's trtexec step, as a function of a frozen spec.

``BuildSpec`` holds every setting that changes the plan (so it is also the engine-cache key).
``configure_build`` translates a spec into network flags, profile shapes and builder-config calls;
it is the part unit-tested on CPU against a recording double of the TensorRT API.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional, Tuple

import onnx

from trtbench.backends.tensorrt.compat import TensorRTError, TrtApi

Shape = Tuple[int, ...]


@dataclass(frozen=True)
class BuildSpec:
    precision: str  # fp32, tf32, fp16, fp16-io, bf16, bf16-io, int8, fp8
    typing: str  # weak (builder flags) or strong (typed model)
    static: bool  # implicit build: no optimization profile
    profile: Tuple[Tuple[str, Shape, Shape, Shape], ...] = ()  # (input, min, opt, max)
    workspace_bytes: Optional[int] = None
    optimization_level: Optional[int] = None  # 0-5, TensorRT's default 3
    tf32: bool = False
    version_compatible: bool = False
    profiling_verbosity: str = "DETAILED"
    #: several execution contexts share profile 0 (queries in flight on a dynamic engine): TensorRT 8.6 needs
    #: PreviewFeature.PROFILE_SHARING_0806 at build time
    profile_sharing: bool = False

    def key(self) -> str:
        d = asdict(self)
        if not d["profile_sharing"]:  # absent when off: the keys of engines cached before it existed still match
            del d["profile_sharing"]
        return json.dumps(d, sort_keys=True)


@dataclass
class BuildResult:
    plan: bytes
    build_time_s: float
    log: List[str] = field(default_factory=list)


def fit_for_parser(model: onnx.ModelProto, api: TrtApi) -> onnx.ModelProto:
    """Lower the IR version to what the parser reads; refuse opsets it cannot read."""
    max_ir, max_opset = api.parser_limits()
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    if opset > max_opset:
        raise TensorRTError(f"the model uses opset {opset}; TensorRT {api.version_text}'s ONNX parser reads opset "
                            f"{max_opset} at most: re-export with opset {max_opset}")
    if model.ir_version > max_ir:
        m = onnx.ModelProto()
        m.CopyFrom(model)
        m.ir_version = max_ir
        return m
    return model


def configure_build(api: TrtApi, builder, network, config, spec: BuildSpec, io_dtypes: Dict[str, str]) -> dict:
    """Apply ``spec`` to a parsed network and a builder config; returns what was set (for the results)."""
    trt = api.trt
    applied: dict = {"typing": spec.typing, "tensorrt": api.version_text}
    if spec.workspace_bytes:
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(spec.workspace_bytes))
        applied["workspace_bytes"] = int(spec.workspace_bytes)
    if spec.optimization_level is not None:
        if not 0 <= spec.optimization_level <= 5:
            raise TensorRTError(f"builder optimization level {spec.optimization_level} is outside 0..5")
        config.builder_optimization_level = int(spec.optimization_level)
        applied["optimization_level"] = int(spec.optimization_level)
    tf32 = api.builder_flag("TF32")
    if tf32 is not None:
        (config.set_flag if spec.tf32 else config.clear_flag)(tf32)
        applied["tf32"] = spec.tf32
    base = spec.precision.replace("-io", "")
    if spec.typing == "weak" and base not in ("fp32", "tf32"):
        flags = {"fp16": ["FP16"], "bf16": ["BF16"], "int8": ["INT8"], "fp8": ["FP8"]}[base]
        for name in flags:
            config.set_flag(api.builder_flag(name))
        applied["builder_flags"] = flags
        if spec.precision.endswith("-io"):  # weak typing: ask for half-precision I/O tensors
            io_type = trt.float16 if base == "fp16" else getattr(trt, "bfloat16", None)
            for i in range(network.num_inputs):
                network.get_input(i).dtype = io_type
            for i in range(network.num_outputs):
                network.get_output(i).dtype = io_type
            applied["io_dtype"] = base
    if spec.profile_sharing:
        applied["profile_sharing"] = api.enable_profile_sharing(config)
    if spec.version_compatible:
        flag = api.builder_flag("VERSION_COMPATIBLE")
        if flag is None:
            raise TensorRTError(f"TensorRT {api.version_text} cannot build version-compatible plans")
        config.set_flag(flag)
        applied["version_compatible"] = True
    verbosity = getattr(trt.ProfilingVerbosity, spec.profiling_verbosity, None)
    if verbosity is not None:
        config.profiling_verbosity = verbosity
    # tactic sources: keep TensorRT's own kernels; cuBLAS/cuDNN tactics are deprecated (10.x) and need
    # those libraries at build and run time.
    ts = getattr(trt, "TacticSource", None)
    if ts is not None and hasattr(config, "set_tactic_sources"):
        keep = 0
        for name in ("EDGE_MASK_CONVOLUTIONS", "JIT_CONVOLUTIONS"):
            if hasattr(ts, name):
                keep |= 1 << int(getattr(ts, name))
        config.set_tactic_sources(keep)
        applied["tactic_sources"] = "TensorRT kernels only (no cuBLAS/cuBLASLt/cuDNN)"
    if not spec.static:
        profile = builder.create_optimization_profile()
        inputs = {network.get_input(i).name: network.get_input(i) for i in range(network.num_inputs)}
        for name, lo, opt, hi in spec.profile:
            if name not in inputs:
                raise TensorRTError(f"the profile names input {name!r}; the network's inputs are "
                                    f"{', '.join(inputs)}")
            rank = len(inputs[name].shape)
            if len(lo) != rank:
                raise TensorRTError(f"the profile gives input {name} rank {len(lo)}; the network's input has rank "
                                    f"{rank} ({tuple(inputs[name].shape)})")
            if all(int(d) >= 0 for d in inputs[name].shape):
                continue  # a fixed input (a bias vector, a scalar) in a dynamic network: no range to give
            profile.set_shape(name, lo, opt, hi)
        config.add_optimization_profile(profile)
        applied["profile"] = [{"input": n, "min": list(a), "opt": list(b), "max": list(c)}
                              for n, a, b, c in spec.profile]
    return applied


def build_engine(api: TrtApi, model: onnx.ModelProto, spec: BuildSpec, logger, timing_cache: Optional[bytes] = None,
                 verbose: bool = False) -> Tuple[BuildResult, dict, Optional[bytes]]:
    """Parse and build. Returns the plan, what was applied, and the updated timing cache bytes."""
    if not api.has_builder:
        raise TensorRTError(f"this TensorRT ({'lean runtime' if api.lean else api.version_text}) has no builder: "
                            f"it can only run prebuilt plans (trtbench run --engine PLAN)")
    trt = api.trt
    model = fit_for_parser(model, api)
    t0 = time.perf_counter()
    builder = trt.Builder(logger)
    if builder is None:
        raise TensorRTError("trt.Builder could not be created (no usable GPU or driver?)")
    network = builder.create_network(api.network_flags(spec.typing))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(model.SerializeToString()):
        errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
        raise TensorRTError("the ONNX parser rejected the model: " + " | ".join(e.strip() for e in errors)[:1500])
    config = builder.create_builder_config()
    applied = configure_build(api, builder, network, config, spec, {})
    cache = config.create_timing_cache(timing_cache or b"")  # loaded from the last build, or empty
    config.set_timing_cache(cache, False)
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise TensorRTError("build_serialized_network failed (see the TensorRT log in the results); a profile that "
                            "does not fit the model, or an unsupported layer, are the usual causes")
    new_cache = bytes(memoryview(config.get_timing_cache().serialize()))
    result = BuildResult(bytes(memoryview(plan)), time.perf_counter() - t0)
    return result, applied, new_cache
