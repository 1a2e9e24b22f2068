"""bf16 bit patterns against known values (golden), and the NaN case that used to become an infinity."""

import numpy as np

from trtbench.bfloat16 import from_bf16_bits, narrow, to_bf16_bits, widen


def test_golden_values_round_to_nearest_even():
    x = np.array([0.0, -0.0, 1.0, -2.0, 3.140625, 65504.0, 1e-40, np.inf, -np.inf], np.float32)
    assert to_bf16_bits(x).tolist() == [0x0000, 0x8000, 0x3F80, 0xC000, 0x4049, 0x4780, 0x0001, 0x7F80, 0xFF80]
    # ties go to even: 1 + 2^-8 is halfway between 1.0 (0x3F80) and 1.0078125 (0x3F81)
    assert to_bf16_bits(np.array([1.00390625], np.float32)).tolist() == [0x3F80]
    assert to_bf16_bits(np.array([1.01171875], np.float32)).tolist() == [0x3F82]  # 0x3F81.8 -> even 0x3F82


def test_nan_stays_nan_even_with_only_low_mantissa_bits():
    low = np.array([0x7F800001, 0xFF800001, 0x7FFFFFFF], np.uint32).view(np.float32)
    bits = to_bf16_bits(low)
    assert bits.tolist() == [0x7FC0, 0xFFC0, 0x7FC0]
    assert np.isnan(from_bf16_bits(bits)).all()


def test_roundtrip_and_half_helpers():
    x = np.linspace(-3, 3, 101, dtype=np.float32)
    back = from_bf16_bits(to_bf16_bits(x))
    assert np.max(np.abs(back - x) / np.maximum(np.abs(x), 1e-3)) < 2 ** -8
    assert narrow(x, np.uint16).dtype == np.uint16 and widen(narrow(x, np.uint16), np.uint16).dtype == np.float32
    assert widen(x.astype(np.float16), np.float16).dtype == np.float32
