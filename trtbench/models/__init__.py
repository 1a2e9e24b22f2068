"""ONNX models: the built-in generators, loading with clear errors, inspection and shape rewrites."""

from trtbench.models.builtin import BUILTIN_MODELS, builtin_model, builtin_names
from trtbench.models.loading import ModelSource, load_onnx, resolve_model

__all__ = ["BUILTIN_MODELS", "builtin_model", "builtin_names", "ModelSource", "load_onnx", "resolve_model"]
