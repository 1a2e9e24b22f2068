"""Every difference between TensorRT 8.6, 10.x and 11.x that trtbench touches, in one place.

| what                         | 8.6                    | 10.x                            | 11.x                     |
|------------------------------|------------------------|---------------------------------|--------------------------|
| EXPLICIT_BATCH network flag  | required for ONNX      | ignored (deprecated)            | removed                  |
| precision                    | builder flags (weak)   | builder flags or STRONGLY_TYPED | strongly typed only      |
| BF16 / FP8                   | no BF16; FP8 no ONNX   | flags or typed model            | typed model only         |
| device memory size           | device_memory_size     | device_memory_size(_v2)         | device_memory_size_v2    |
| engine host code switch      | engine_host_code_allowed (8.6+), set False when loading plans                        |
| contexts sharing a profile   | PreviewFeature.PROFILE_SHARING_0806 at build | always allowed (the feature is a no-op) |

Enum values are always looked up by name, never hard-coded (they were renumbered between versions).
The module is imported as ``tensorrt`` (full: builder, parser, runtime) or, for running prebuilt
version-compatible plans only, ``tensorrt_lean_bindings`` (the TensorRT lean runtime from PyPI).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Tuple

import numpy as np

from trtbench.errors import TrtbenchError

SUPPORTED = "8.6, 10.x and 11.x"


class TensorRTError(TrtbenchError):
    """TensorRT refused something (parse, build, deserialize, shapes); the message says what."""


def parse_version(text: str) -> Tuple[int, ...]:
    out = []
    for p in str(text).split("."):
        digits = "".join(c for c in p if c.isdigit())
        if not digits:
            break
        out.append(int(digits))
    return tuple(out)


def unsupported_reason(version: Tuple[int, ...]) -> Optional[str]:
    if version[:2] == (8, 6) or (version and version[0] in (10, 11)):
        return None
    return (f"TensorRT {'.'.join(map(str, version))} is not supported: trtbench supports TensorRT {SUPPORTED} "
            f"(install one of them, e.g. pip install 'tensorrt>=10')")


@dataclass
class TrtApi:
    """The imported module plus what this version can do."""

    trt: Any
    version: Tuple[int, ...]
    lean: bool

    @property
    def version_text(self) -> str:
        return ".".join(map(str, self.version))

    @property
    def major(self) -> int:
        return self.version[0]

    @property
    def has_builder(self) -> bool:
        return not self.lean and hasattr(self.trt, "Builder")

    # ---- precision ------------------------------------------------------------------------------
    def typing_for(self, requested: str) -> str:
        """``weak`` (builder flags on an fp32 model) or ``strong`` (precision from the model's types)."""
        if requested == "auto":
            return "strong" if self.major >= 11 else "weak"
        if requested == "strong" and self.version[:2] == (8, 6):
            raise TensorRTError("TensorRT 8.6 has no strongly typed networks: use --trt-typing weak")
        if requested == "weak" and self.major >= 11:
            raise TensorRTError("TensorRT 11 removed weak typing (BuilderFlag.FP16/INT8/...): use --trt-typing strong")
        return requested

    def builder_flag(self, name: str):
        return getattr(self.trt.BuilderFlag, name, None)

    def precision_support(self, precision: str, typing: str) -> Optional[str]:
        """None when this TensorRT can build ``precision`` with ``typing``; otherwise why not."""
        base = precision.replace("-io", "")
        if base in ("fp32", "tf32"):
            return None
        if typing == "weak":
            flag = {"fp16": "FP16", "bf16": "BF16", "int8": "INT8", "fp8": "FP8"}[base]
            if self.builder_flag(flag) is None:
                return f"TensorRT {self.version_text} has no BuilderFlag.{flag}"
            if base == "fp8" and self.major < 10:
                return (f"fp8 needs Q/DQ nodes of opset 19 and TensorRT {self.version_text}'s ONNX parser reads "
                        f"opset 17 at most")
            return None
        # strong typing: the precision is in the converted model's own types (bf16 via ModelOpt AutoCast),
        # and the conversion step says why when it cannot be done
        return None

    @staticmethod
    def needs_converted_model(precision: str, typing: str) -> bool:
        """Whether the ONNX model itself must carry the precision: Q/DQ nodes for int8/fp8 always, and
        every reduced precision under strong typing; weak typing sets builder flags on the fp32 model."""
        base = precision.replace("-io", "")
        return base in ("int8", "fp8") or (typing == "strong" and base not in ("fp32", "tf32"))

    def network_flags(self, typing: str) -> int:
        flags = 0
        ncf = self.trt.NetworkDefinitionCreationFlag
        if self.major < 10 and hasattr(ncf, "EXPLICIT_BATCH"):
            flags |= 1 << int(ncf.EXPLICIT_BATCH)
        if typing == "strong" and self.major < 11 and hasattr(ncf, "STRONGLY_TYPED"):
            flags |= 1 << int(ncf.STRONGLY_TYPED)
        return flags

    def parser_limits(self) -> Tuple[int, int]:
        """(max IR version, max opset) the ONNX parser reads."""
        return (8, 17) if self.major < 10 else (10, 22)

    # ---- engines --------------------------------------------------------------------------------
    def device_memory_size(self, engine) -> Optional[int]:
        for attr in ("device_memory_size_v2", "device_memory_size"):
            if hasattr(engine, attr):
                try:
                    return int(getattr(engine, attr))
                except Exception:
                    continue
        return None

    def io_tensors(self, engine):
        """[(name, is_input, dtype, engine shape)] by the name-based API (8.5+)."""
        trt = self.trt
        out = []
        for i in range(engine.num_io_tensors):
            name = engine.get_tensor_name(i)
            out.append((name, engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT,
                        engine.get_tensor_dtype(name), tuple(engine.get_tensor_shape(name))))
        return out

    def nptype(self, dtype):
        if hasattr(self.trt, "nptype"):
            try:
                return np.dtype(self.trt.nptype(dtype))
            except Exception:
                pass
        name = str(dtype).split(".")[-1].lower()
        table = {"float": np.float32, "half": np.float16, "int8": np.int8, "int32": np.int32, "int64": np.int64,
                 "bool": np.bool_, "uint8": np.uint8, "bf16": np.uint16, "bfloat16": np.uint16}
        if name not in table:
            raise TensorRTError(f"TensorRT tensor type {dtype} has no numpy equivalent here")
        return np.dtype(table[name])

    def enable_profile_sharing(self, config) -> str:
        """Let several execution contexts share optimization profile 0 (one context per query in flight on a
        dynamic engine): TensorRT 8.6 needs the preview feature PROFILE_SHARING_0806 set at build time; 10.0 and
        later always allow it. Returns what was done, for the results."""
        if self.major >= 10:
            return "always allowed (TensorRT 10+)"
        feature = getattr(getattr(self.trt, "PreviewFeature", None), "PROFILE_SHARING_0806", None)
        if feature is None or not hasattr(config, "set_preview_feature"):
            raise TensorRTError(f"TensorRT {self.version_text} has no PreviewFeature.PROFILE_SHARING_0806: its "
                                f"execution contexts cannot share a dynamic profile; run concurrency 1, or an "
                                f"implicit (static) build")
        config.set_preview_feature(feature, True)
        return "PreviewFeature.PROFILE_SHARING_0806"

    def disallow_host_code(self, runtime) -> None:
        if hasattr(runtime, "engine_host_code_allowed"):
            runtime.engine_host_code_allowed = False


def load_trt(prefer_full: bool = True) -> TrtApi:
    """Import TensorRT (full bindings first, then the lean runtime). Raises ``TensorRTError`` with the reason."""
    errors = []
    for name, lean in (("tensorrt", False), ("tensorrt_lean_bindings", True), ("tensorrt_lean", True)):
        try:
            mod = __import__(name)
        except Exception as exc:  # ImportError, or the stub package's RuntimeError
            errors.append(f"{name}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")
            continue
        if not hasattr(mod, "Runtime"):
            errors.append(f"{name}: imported but has no Runtime (a stub package?)")
            continue
        version = parse_version(getattr(mod, "__version__", "0"))
        reason = unsupported_reason(version)
        if reason:
            raise TensorRTError(reason)
        return TrtApi(mod, version, lean)
    raise TensorRTError("TensorRT is not installed (" + "; ".join(errors) + "): install TensorRT "
                        f"{SUPPORTED} (pip install tensorrt) on a machine with an NVIDIA GPU")
