"""The GPU block of the results fingerprint: name, UUID, compute capability, driver, CUDA, memory, clocks."""

from __future__ import annotations

from typing import Optional

from trtbench.gpu import cuda
from trtbench.gpu.cuda import gpu_unavailable_reason
from trtbench.gpu.nvml import nvml_index_for_cuda_device, nvml_unavailable_reason


def gpu_fingerprint(device: int = 0) -> Optional[dict]:
    """What GPU measured this run; ``{"available": False, "reason": ...}`` when there is none."""

    reason = gpu_unavailable_reason(device)
    if reason:
        return {"available": False, "reason": reason}

    out = {"available": True, "index": device, **cuda.device_properties(device),
           "cuda_runtime": cuda.version_text(cuda.runtime_version()),
           "cuda_driver_api": cuda.version_text(cuda.driver_version())}
    if nvml_unavailable_reason() is None:
        import pynvml as nv

        nvml_index = nvml_index_for_cuda_device(device)
        h = nv.nvmlDeviceGetHandleByIndex(nvml_index)

        def q(fn, *a):
            try:
                v = fn(*a)
                return v.decode() if isinstance(v, bytes) else v
            except Exception:
                return None

        out.update(
            uuid=q(nv.nvmlDeviceGetUUID, h), driver=q(nv.nvmlSystemGetDriverVersion),
            pci_bus_id=getattr(q(nv.nvmlDeviceGetPciInfo, h), "busId", None),
            sm_clock_mhz=q(nv.nvmlDeviceGetClockInfo, h, nv.NVML_CLOCK_SM),
            mem_clock_mhz=q(nv.nvmlDeviceGetClockInfo, h, nv.NVML_CLOCK_MEM),
            max_sm_clock_mhz=q(nv.nvmlDeviceGetMaxClockInfo, h, nv.NVML_CLOCK_SM),
            max_mem_clock_mhz=q(nv.nvmlDeviceGetMaxClockInfo, h, nv.NVML_CLOCK_MEM),
            power_limit_w=(q(nv.nvmlDeviceGetEnforcedPowerLimit, h) or 0) / 1000.0 or None,
            pcie_gen=q(nv.nvmlDeviceGetCurrPcieLinkGeneration, h),
            pcie_width=q(nv.nvmlDeviceGetCurrPcieLinkWidth, h),
            persistence_mode=q(nv.nvmlDeviceGetPersistenceMode, h), nvml_index=nvml_index,
            cuda_visible_devices=__import__("os").environ.get("CUDA_VISIBLE_DEVICES"))
        if isinstance(out.get("pci_bus_id"), bytes):
            out["pci_bus_id"] = out["pci_bus_id"].decode()
    return out


def gpu_block(device: int = 0) -> dict:
    """The GPU fingerprint, or why there is none (never raises: a run without a GPU block still runs)."""
    try:
        return gpu_fingerprint(device)
    except Exception as exc:
        return {"available": False, "reason": f"{type(exc).__name__}: {exc}"}
