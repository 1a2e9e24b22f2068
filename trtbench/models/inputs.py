"""Deterministic input data for a model's inputs."""

from __future__ import annotations

from typing import Dict, Sequence

import numpy as np


def make_inputs(dtypes: Dict[str, str], shapes: Dict[str, Sequence[int]], seed: int = 0) -> Dict[str, np.ndarray]:
    """Seeded data: normal floats, small non-negative integers (valid token ids and indices), random bools."""
    rng = np.random.default_rng(seed)
    out: Dict[str, np.ndarray] = {}
    for name in sorted(shapes):
        shape, dtype = tuple(shapes[name]), np.dtype(dtypes[name])
        if dtype.kind == "f":
            out[name] = rng.standard_normal(shape).astype(dtype)
        elif dtype.kind in "iu":
            out[name] = rng.integers(0, 10, size=shape).astype(dtype)
        elif dtype.kind == "b":
            out[name] = rng.integers(0, 2, size=shape).astype(bool)
        else:
            raise ValueError(f"input {name} has dtype {dtype}, which trtbench cannot generate data for")
    return out
