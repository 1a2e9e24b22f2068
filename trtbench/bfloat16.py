"""Half-precision host data: numpy has float16 but no bfloat16, so bf16 tensors travel as their 16-bit
patterns in uint16 arrays. These helpers convert with round-to-nearest-even."""

from __future__ import annotations

import numpy as np


def to_bf16_bits(a: np.ndarray) -> np.ndarray:
    """float32 -> bfloat16 bit patterns, round to nearest even. A NaN stays a NaN (a quiet one, sign kept):
    rounding its payload could carry into the exponent and make it an infinity."""
    f = np.ascontiguousarray(a, np.float32)
    u = f.view(np.uint32).astype(np.uint64)
    u = u + 0x7FFF + ((u >> 16) & 1)
    out = (u >> 16).astype(np.uint16)
    nan = np.isnan(f)
    if nan.any():
        out[nan] = ((f.view(np.uint32)[nan] >> 16) & 0x8000).astype(np.uint16) | 0x7FC0
    return out


def from_bf16_bits(bits: np.ndarray) -> np.ndarray:
    return (np.ascontiguousarray(bits, np.uint16).astype(np.uint32) << 16).view(np.float32)


def narrow(a: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Host data converted to a buffer's dtype (uint16 buffers hold bf16)."""
    dtype = np.dtype(dtype)
    if dtype == np.uint16 and a.dtype.kind == "f":
        return to_bf16_bits(a)
    return a.astype(dtype, copy=False)


def widen(a: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """A buffer's contents as float32 when it holds a half type (for accuracy checks)."""
    dtype = np.dtype(dtype)
    if dtype == np.uint16:
        return from_bf16_bits(a)
    return a.astype(np.float32) if dtype == np.float16 else a
