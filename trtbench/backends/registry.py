"""Every backend trtbench knows, described without importing its library.

A backend's runtime library is imported only when a variant of it runs, or when availability is
asked for; a missing library makes the backend *unavailable, with the reason*, never an import error.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Dict, FrozenSet, List, Optional, Tuple

from trtbench.errors import UserError


@dataclass(frozen=True)
class BackendInfo:
    name: str
    aliases: Tuple[str, ...]
    module: str  # "package.module:Class"
    precisions: FrozenSet[str]
    description: str
    gpu: Optional[bool]  # True: a GPU backend; None: depends on the install (onnxruntime-gpu or not)

    def uses_gpu(self) -> bool:
        """Whether this backend's variants run on a GPU here (so the run fingerprints the GPU)."""
        if self.gpu is not None:
            return self.gpu
        a = availability(self.name)
        return bool(a.available and a.device and a.device.startswith("cuda"))

    def load_class(self):
        mod, _, cls = self.module.partition(":")
        return getattr(importlib.import_module(mod), cls)


@dataclass(frozen=True)
class Availability:
    name: str
    available: bool
    version: Optional[str]
    reason: Optional[str]  # why not, when unavailable
    device: Optional[str] = None  # where it runs ("cpu", "cuda:0", ...)


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
    canonical = _ALIASES.get(name.lower())
    if canonical is None:
        raise UserError(f"unknown backend {name!r}: choose from {', '.join(BACKENDS)}")
    return BACKENDS[canonical]


def availability(name: str) -> Availability:
    info = backend_info(name)
    try:
        cls = info.load_class()
    except Exception as exc:  # our module failed to import: report, don't crash the listing
        return Availability(info.name, False, None, f"backend module failed to import: {type(exc).__name__}: {exc}")
    return cls.availability()


def all_availability() -> List[Availability]:
    return [availability(n) for n in BACKENDS]


def best_available() -> str:
    """The backend ``trtbench run`` uses by default: TensorRT, then PyTorch on a GPU, then onnxruntime."""
    for name in ("tensorrt", "torch"):
        a = availability(name)
        if a.available and a.device and a.device.startswith("cuda"):
            return name
    return "onnxruntime"
