"""Caches are never trusted blindly: a truncated converted model or a damaged record is converted again,
a read-only cache folder costs a conversion, not the variant; an engine-cache record that is valid JSON
but not an object is a miss."""

import json
import os

import pytest

from trtbench.backends.tensorrt.cache import EngineCache
from trtbench.config.settings import RunSettings
from trtbench.models.builtin import builtin_model
from trtbench.precision import transform
from trtbench.precision.transform import apply_precision


def _fresh(tmp_path):
    transform._CACHE.clear()
    return RunSettings(cache_dir=str(tmp_path / "cache"))


def _files(tmp_path):
    return sorted((tmp_path / "cache" / "models").glob("*.onnx"))


def test_truncated_converted_model_is_converted_again(tmp_path):
    s = _fresh(tmp_path)
    first = apply_precision(builtin_model("mlp"), "fp16", s)
    (onnx_file,) = _files(tmp_path)
    data = onnx_file.read_bytes()
    onnx_file.write_bytes(data[: len(data) // 2])  # a crash mid-write of an older version, a full disk
    transform._CACHE.clear()
    again = apply_precision(builtin_model("mlp"), "fp16", s)
    assert again.model.SerializeToString() == first.model.SerializeToString()
    assert onnx_file.read_bytes() == data  # rewritten whole


@pytest.mark.parametrize("record", ["[1, 2]", "{\"method\": 5}", "not json"])
def test_damaged_record_is_a_miss(tmp_path, record):
    s = _fresh(tmp_path)
    apply_precision(builtin_model("mlp"), "fp16", s)
    (onnx_file,) = _files(tmp_path)
    onnx_file.with_suffix(".json").write_text(record)
    transform._CACHE.clear()
    assert "float16" in apply_precision(builtin_model("mlp"), "fp16", s).method
    assert json.loads(onnx_file.with_suffix(".json").read_text())["size"] == onnx_file.stat().st_size


@pytest.mark.skipif(os.geteuid() == 0 if hasattr(os, "geteuid") else False, reason="root writes to read-only dirs")
def test_read_only_cache_folder_runs_uncached(tmp_path):
    s = _fresh(tmp_path)
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache").chmod(0o500)
    try:
        assert "float16" in apply_precision(builtin_model("mlp"), "fp16", s).method
    finally:
        (tmp_path / "cache").chmod(0o700)


def test_cache_path_that_is_a_file_runs_uncached(tmp_path):
    (tmp_path / "cache").write_text("a file where the cache folder should be")
    s = _fresh(tmp_path)
    assert "float16" in apply_precision(builtin_model("mlp"), "fp16", s).method


def test_engine_cache_record_that_is_not_an_object_is_a_miss(tmp_path):
    cache = EngineCache(str(tmp_path))
    cache.put("k", b"plan-bytes", {"spec": "x"})
    _, meta = cache.paths("k")
    meta.write_text("[1, 2, 3]")
    assert cache.get("k") is None and "not a JSON object" in cache.last_miss
