"""Each variant's outputs against the FP32 model on onnxruntime (CPU), on the same inputs.

Metrics per output: max absolute error, relative L2 error ``||y - ref|| / ||ref||``, cosine similarity,
and for classifier-like outputs (2-D, more than one class) top-1 agreement. A variant beyond its
precision's tolerance is ``inaccurate``.
"""

from __future__ import annotations

import hashlib
from typing import Dict, Optional

import numpy as np
import onnx

from trtbench.models.loading import model_digest

#: precision -> (max relative L2 error, min top-1 agreement). Override with RunSettings / matrix [run].
DEFAULT_TOLERANCES: Dict[str, Dict[str, float]] = {
    "fp32": {"rel_l2": 1e-4, "top1": 1.0},
    "tf32": {"rel_l2": 5e-3, "top1": 0.99},
    "fp16": {"rel_l2": 1e-2, "top1": 0.98},
    "fp16-io": {"rel_l2": 1e-2, "top1": 0.98},
    "bf16": {"rel_l2": 5e-2, "top1": 0.95},
    "bf16-io": {"rel_l2": 5e-2, "top1": 0.95},
    "int8": {"rel_l2": 1.5e-1, "top1": 0.9},
    "fp8": {"rel_l2": 2e-1, "top1": 0.85},
}

_REFERENCE: Dict[tuple, Dict[str, np.ndarray]] = {}


def reference_outputs(model: onnx.ModelProto, feeds: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """FP32 outputs from onnxruntime's CPU provider (cached by model hash and the inputs' shapes, dtypes and bytes:
    b1 x seq64 and b4 x seq16 draw the same seeded bytes)."""

    import onnxruntime as ort

    h = hashlib.sha256()
    for n in sorted(feeds):
        a = np.ascontiguousarray(feeds[n])
        h.update(f"{n}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    key = (model_digest(model), h.hexdigest())
    if key not in _REFERENCE:
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        sess = ort.InferenceSession(model.SerializeToString(), sess_options=opts,
                                    providers=["CPUExecutionProvider"])
        names = [o.name for o in sess.get_outputs()]
        _REFERENCE[key] = dict(zip(names, sess.run(None, feeds)))
    return _REFERENCE[key]


def compare_output(y: np.ndarray, ref: np.ndarray) -> Dict[str, Optional[float]]:
    if not (np.issubdtype(np.asarray(y).dtype, np.number) and np.issubdtype(ref.dtype, np.number)):
        raise ValueError(f"output of dtype {np.asarray(y).dtype} is not numeric: it cannot be compared")
    a = np.asarray(y, dtype=np.float64).reshape(ref.shape) if np.asarray(y).size == ref.size else None
    if a is None:
        raise ValueError(f"output has {np.asarray(y).size} elements, the reference has {ref.size}")
    r = ref.astype(np.float64)
    diff = a - r
    ref_norm = float(np.linalg.norm(r))
    out: Dict[str, Optional[float]] = {
        "max_abs": float(np.max(np.abs(diff))) if diff.size else 0.0,
        "rel_l2": float(np.linalg.norm(diff) / ref_norm) if ref_norm > 0 else float(np.linalg.norm(diff)),
        "cosine": float(np.dot(a.ravel(), r.ravel()) / (np.linalg.norm(a) * ref_norm))
        if ref_norm > 0 and np.linalg.norm(a) > 0 else None,
        "top1": None,
    }
    if not np.all(np.isfinite(a)):
        out["rel_l2"] = float("inf")
        out["nonfinite"] = int(np.size(a) - np.count_nonzero(np.isfinite(a)))
    if r.ndim == 2 and r.shape[1] > 1:  # a row with a NaN/inf never agrees (argmax would pick the NaN's index)
        agree = (np.argmax(a, axis=1) == np.argmax(r, axis=1)) & np.all(np.isfinite(a), axis=1)
        out["top1"] = float(np.mean(agree))
    return out


def compare(outputs: Dict[str, np.ndarray], reference: Dict[str, np.ndarray], precision: str,
            tolerances: Optional[Dict[str, Dict[str, float]]] = None) -> dict:
    tol = (tolerances or DEFAULT_TOLERANCES).get(precision, DEFAULT_TOLERANCES["fp32"])
    per_output = {}
    for name, ref in reference.items():
        if name not in outputs:
            raise ValueError(f"the backend produced no output {name!r}")
        per_output[name] = compare_output(outputs[name], ref)
    worst_l2 = max((m["rel_l2"] for m in per_output.values()), default=0.0)
    top1s = [m["top1"] for m in per_output.values() if m["top1"] is not None]
    worst_top1 = min(top1s) if top1s else None
    inaccurate = worst_l2 > tol["rel_l2"] or (worst_top1 is not None and worst_top1 < tol["top1"])
    nonfinite = sum(int(m.get("nonfinite") or 0) for m in per_output.values())
    out = {"nonfinite": nonfinite} if nonfinite else {}  # rel_l2 is inf then, which a results file holds as null
    return {**out, "reference": "onnxruntime CPU, fp32 model, same inputs", "tolerance": dict(tol),
            "rel_l2": worst_l2, "top1": worst_top1,
            "max_abs": max((m["max_abs"] for m in per_output.values()), default=0.0),
            "cosine": min((m["cosine"] for m in per_output.values() if m["cosine"] is not None), default=None),
            "inaccurate": bool(inaccurate), "outputs": per_output}
