"""Whether each backend can run here, asked without importing its library up front.

A backend's runtime library is imported only when a variant of it runs, or when availability is
asked for; a missing library makes the backend *unavailable, with the reason*, never an import error.
The backends themselves are described in ``trtbench.matrix.axes``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import List, Optional

from trtbench.matrix.axes import BACKENDS, BackendInfo, backend_info


@dataclass(frozen=True)
class Availability:
    name: str
    available: bool
    version: Optional[str]
    reason: Optional[str]  # why not, when unavailable
    device: Optional[str] = None  # where it runs ("cpu", "cuda:0", ...)


def load_class(info: BackendInfo):
    mod, _, cls = info.module.partition(":")
    return getattr(importlib.import_module(mod), cls)


def availability(name: str) -> Availability:
    info = backend_info(name)
    try:
        cls = load_class(info)
    except Exception as exc:  # our module failed to import: report, don't crash the listing
        return Availability(info.name, False, None, f"backend module failed to import: {type(exc).__name__}: {exc}")
    return cls.availability()


def all_availability() -> List[Availability]:
    return [availability(n) for n in BACKENDS]


def uses_gpu(name: str) -> bool:
    """Whether this backend's variants run on a GPU here (so the run fingerprints the GPU)."""
    info = backend_info(name)
    if info.gpu is not None:
        return info.gpu
    a = availability(info.name)
    return bool(a.available and a.device and a.device.startswith("cuda"))


def best_available() -> str:
    """The backend ``trtbench run`` uses by default: TensorRT, then PyTorch on a GPU, then onnxruntime."""
    for name in ("tensorrt", "torch"):
        a = availability(name)
        if a.available and a.device and a.device.startswith("cuda"):
            return name
    return "onnxruntime"
