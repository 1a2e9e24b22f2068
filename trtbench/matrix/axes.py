"""The values each axis of the matrix can take: precisions, build modes and the backends trtbench knows.

Backends are described here without importing them (their runtime libraries are optional and heavy);
``trtbench.backends.registry`` loads a backend class and asks whether it can run here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, FrozenSet, Optional, Tuple

from trtbench.errors import UserError

#: precision -> what it means. ``-io`` variants also convert the model's inputs/outputs (fewer H2D/D2H bytes).
PRECISIONS: Dict[str, str] = {
    "fp32": "float32 everywhere (TF32 tensor-core math off where the backend has a switch)",
    "tf32": "float32 tensors, TF32 tensor-core math allowed (a backend setting, not a model change)",
    "fp16": "float16 compute, float32 inputs/outputs kept",
    "fp16-io": "float16 compute and float16 inputs/outputs",
    "bf16": "bfloat16 compute, float32 inputs/outputs kept",
    "bf16-io": "bfloat16 compute and bfloat16 inputs/outputs",
    "int8": "int8 explicit quantization (Q/DQ nodes, calibrated)",
    "fp8": "fp8 (e4m3) explicit quantization (Q/DQ nodes, calibrated)",
}

#: build mode -> what it means (see README "implicit and explicit").
BUILD_MODES: Dict[str, str] = {
    "implicit": "static shapes: the batch is fixed when the engine/session is built, one per batch size",
    "explicit": "dynamic shapes: one engine per optimization profile (min/opt/max), the batch is set per run",
}



@dataclass(frozen=True)
class BackendInfo:
    name: str
    aliases: Tuple[str, ...]
    module: str  # "package.module:Class"
    precisions: FrozenSet[str]
    description: str
    gpu: Optional[bool]  # True: a GPU backend; None: depends on the install (onnxruntime-gpu or not)


BACKENDS: Dict[str, BackendInfo] = {
    b.name: b
    for b in (
        BackendInfo("onnxruntime", ("ort",), "trtbench.backends.onnxruntime_backend:OnnxRuntimeBackend",
                    frozenset({"fp32", "tf32", "fp16", "fp16-io", "bf16", "bf16-io", "int8"}),
                    "onnxruntime: CPU provider, or the CUDA provider (onnxruntime-gpu) when installed", gpu=None),
        BackendInfo("torch", ("pytorch",), "trtbench.backends.torch_backend:TorchBackend",
                    frozenset({"fp32", "tf32", "fp16", "fp16-io", "bf16", "bf16-io"}),
                    "PyTorch via onnx2torch, on CUDA when present (else CPU)", gpu=True),
        BackendInfo("tensorrt", ("trt",), "trtbench.backends.tensorrt.backend:TensorRTBackend",
                    frozenset({"fp32", "tf32", "fp16", "fp16-io", "bf16", "bf16-io", "int8", "fp8"}),
                    "NVIDIA TensorRT 8.6 / 10 / 11 engines (needs a GPU)", gpu=True),
    )
}

_ALIASES = {alias: b.name for b in BACKENDS.values() for alias in (b.name,) + b.aliases}


def backend_info(name: str) -> BackendInfo:
    canonical = _ALIASES.get(str(name).lower())
    if canonical is None:
        raise UserError(f"unknown backend {name!r}: choose from {', '.join(BACKENDS)}")
    return BACKENDS[canonical]
