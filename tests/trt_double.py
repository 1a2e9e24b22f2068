"""RecordingTensorRT: a *double* of the TensorRT builder API that records the calls our translation
makes. It tests trtbench's logic (variant -> network flags, profiles, config) only; it is never evidence
that TensorRT works: that evidence is the real TensorRT 8.6 run under results/."""

from __future__ import annotations

import enum
import types


def _enum(name, members):
    return enum.IntEnum(name, {m: i for i, m in enumerate(members)})


def recording_tensorrt(version: str, builder_flags, creation_flags=("EXPLICIT_BATCH", "STRONGLY_TYPED")):
    calls = []
    trt = types.SimpleNamespace(__version__=version, calls=calls)
    trt.BuilderFlag = _enum("BuilderFlag", list(builder_flags))
    trt.NetworkDefinitionCreationFlag = _enum("NetworkDefinitionCreationFlag", list(creation_flags))
    trt.MemoryPoolType = _enum("MemoryPoolType", ["WORKSPACE"])
    trt.ProfilingVerbosity = _enum("ProfilingVerbosity", ["LAYER_NAMES_ONLY", "NONE", "DETAILED"])
    trt.TacticSource = _enum("TacticSource", ["CUBLAS", "CUBLAS_LT", "CUDNN", "EDGE_MASK_CONVOLUTIONS",
                                              "JIT_CONVOLUTIONS"])
    trt.float16 = "float16"
    trt.bfloat16 = "bfloat16"
    trt.Runtime = object
    trt.Builder = object

    class Tensor:
        def __init__(self, name, shape):
            self.name, self.shape, self.dtype = name, shape, "float32"

    class Network:
        def __init__(self, inputs, outputs):
            self._in = [Tensor(n, s) for n, s in inputs]
            self._out = [Tensor(n, s) for n, s in outputs]
            self.num_inputs, self.num_outputs = len(self._in), len(self._out)

        def get_input(self, i):
            return self._in[i]

        def get_output(self, i):
            return self._out[i]

    class Profile:
        def set_shape(self, name, lo, opt, hi):
            calls.append(("profile.set_shape", name, tuple(lo), tuple(opt), tuple(hi)))

    class Config:
        def __setattr__(self, k, v):
            calls.append(("config." + k, v))

        def set_flag(self, f):
            calls.append(("set_flag", f.name))

        def clear_flag(self, f):
            calls.append(("clear_flag", f.name))

        def set_memory_pool_limit(self, pool, n):
            calls.append(("set_memory_pool_limit", pool.name, n))

        def set_tactic_sources(self, mask):
            calls.append(("set_tactic_sources", mask))

        def add_optimization_profile(self, p):
            calls.append(("add_optimization_profile",))

    class Builder:
        def create_optimization_profile(self):
            return Profile()

    trt.Network, trt.Config, trt.BuilderDouble = Network, Config, Builder
    return trt
