"""The config boundary: option strings, TOML values and pytest options parsed once, strictly, into typed
settings; every bad value is a one-line UserError that names the option and the accepted form."""

import pytest

from trtbench.config.configure import configure
from trtbench.config.parse import parse_batches, parse_mem_pool, parse_profile, parse_shapes, parse_tolerance
from trtbench.errors import UserError


def _error(values) -> str:
    with pytest.raises(UserError) as info:
        configure(values)
    message = str(info.value)
    assert "\n" not in message, message
    return message


# --- 1. numbers, strictly --------------------------------------------------------------------------------------

@pytest.mark.parametrize("raw", ["1_0", "１", "2.0", "-1", "0", "", "8,x", "1e1", "True"])
def test_bad_batches(raw):
    message = _error({"batches": [raw]})
    assert "--batch" in message and ("positive integers" in message or "no batch size" in message)


def test_batches_are_split_deduplicated_and_integers():
    assert parse_batches(["1, 8", "32", 8]) == (1, 8, 32)
    with pytest.raises(UserError, match="positive integers"):
        parse_batches([True])  # a bool is not a batch size


@pytest.mark.parametrize("bad", [lambda: parse_shapes("x:1x１"), lambda: parse_shapes("x:1x1_0"),
                                 lambda: parse_shapes("x:1x-2"), lambda: parse_profile("dyn:1,1_0,32"),
                                 lambda: parse_profile("dyn:1,８,32"), lambda: parse_profile("dyn:1,2.0,32")])
def test_shapes_and_profiles_take_ascii_digits_only(bad):
    with pytest.raises(UserError, match="positive integers"):
        bad()


@pytest.mark.parametrize("text,message", [
    ("fp16:rel_l2=nan", "bad --tolerance fp16:rel_l2 value 'nan': give a finite number > 0"),
    ("fp16:rel_l2=inf", "bad --tolerance fp16:rel_l2 value 'inf': give a finite number > 0"),
    ("fp16:rel_l2=0", "bad --tolerance fp16:rel_l2 value '0': give a finite number > 0"),
    ("fp16:rel_l2=1_0", "bad --tolerance fp16:rel_l2 value '1_0': give a finite number > 0"),
    ("fp16:top1=1.5", "bad --tolerance fp16:top1 value '1.5': give a finite number from 0 to 1"),
    ("fp16:top1=-0.1", "bad --tolerance fp16:top1 value '-0.1': give a finite number from 0 to 1"),
])
def test_bad_tolerance_values(text, message):
    assert _error({"tolerances": [text]}) == message


def test_good_tolerances():
    assert parse_tolerance("fp16:rel_l2=1e-9,top1=0.97") == {"fp16": {"rel_l2": 1e-9, "top1": 0.97}}
    assert parse_tolerance("int8:top1=0,rel_l2=2") == {"int8": {"top1": 0.0, "rel_l2": 2.0}}


@pytest.mark.parametrize("text", ["workspace:inf", "workspace:nan", "workspace:1_0", "workspace:0", "workspace:-1",
                                  "workspace:１０", "workspace:2048G", "workspace:1e999", "workspace:0.0000001K",
                                  "workspace:1e300G", "workspace:", "workspace:G"])
def test_bad_mem_pool_sizes(text):
    assert _error({"mem_pool_size": text}).startswith(f"bad --memPoolSize {text!r}: give workspace:SIZE")


def test_good_mem_pool_sizes():
    assert parse_mem_pool("workspace:1.5G") == 3 << 29 and parse_mem_pool("workspace:64K") == 64 << 10
    assert parse_mem_pool("workspace:1024G") == 1 << 40 and parse_mem_pool("workspace:2") == 2 << 20


@pytest.mark.parametrize("values,message", [({"precisions": [""]}, "no precision given"),
                                            ({"build_modes": [" "]}, "no build mode given")])
def test_a_choice_axis_given_empty_is_an_error_not_nothing(values, message):
    assert _error(values).startswith(message)
