"""Shared fixtures. GPU and TensorRT tests are marked and skipped here, with the reason, when the
machine has no GPU or no TensorRT."""

from __future__ import annotations

import functools

import pytest


@functools.lru_cache(maxsize=None)
def gpu_reason():
    try:
        from trtbench.gpu.cuda import gpu_unavailable_reason

        return gpu_unavailable_reason(0)
    except Exception as exc:  # cuda-python missing
        return f"{type(exc).__name__}: {exc}"


@functools.lru_cache(maxsize=None)
def tensorrt_reason():
    try:
        from trtbench.backends.tensorrt.backend import TensorRTBackend

        a = TensorRTBackend.availability()
        return None if a.available else a.reason
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "gpu" in item.keywords and gpu_reason():
            item.add_marker(pytest.mark.skip(reason=f"needs an NVIDIA GPU: {gpu_reason()}"))
        elif "tensorrt" in item.keywords and tensorrt_reason():
            item.add_marker(pytest.mark.skip(reason=f"needs TensorRT: {tensorrt_reason()}"))
        if "torch" in item.keywords:
            try:
                import onnx2torch  # noqa: F401
                import torch  # noqa: F401
            except Exception as exc:
                item.add_marker(pytest.mark.skip(reason=f"needs torch and onnx2torch: {exc}"))


@pytest.fixture
def fast_settings(tmp_path):
    from trtbench.config.settings import RunSettings

    # two short trials, inline (a worker process would not see a test's monkeypatches); tests of process
    # isolation say so with replace(fast_settings, isolation="process")
    return RunSettings(warmup_ms=2, duration_s=0.02, iterations=5, min_samples=5, nvml_interval_ms=10, trials=2,
                       isolation="inline", order_seed=1, cache_dir=str(tmp_path / "cache"))


@pytest.fixture(autouse=True)
def _no_inherited_xdist_worker_variables(monkeypatch):
    """Under ``pytest -n``, this session's own xdist worker variables would reach the pytest runs that tests
    start (subprocesses and pytester), and pytest-benchmark there would believe it runs under xdist and switch
    itself off (an empty ``--benchmark-json``). A user's shell has none of them."""
    for name in [k for k in __import__("os").environ if k.startswith("PYTEST_XDIST_")]:
        monkeypatch.delenv(name)
