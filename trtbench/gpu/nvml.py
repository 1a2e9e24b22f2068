"""NVML telemetry: a background thread sampling the GPU while a variant runs.

Each sample: device memory used, this process's GPU memory, GPU and memory utilisation, power, the
cumulative energy counter, SM and memory clocks, temperature, clock-event (throttle) reasons and, every
``pcie_every``-th sample, PCIe TX/RX throughput (that query itself blocks ~20 ms inside NVML, so it is
sampled less often). Per variant, ``summary`` derives peak memory, mean/max utilisation, mean power,
energy per inference (only from windows of at least one second: the counter updates every 20-100 ms)
and whether any throttling was seen.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Dict, List, Optional

from trtbench.gpu.cuda import check, rt

#: clock-event reasons that are not throttling (idle, application clocks set by the user).
_BENIGN = ("GpuIdle", "ApplicationsClocksSetting")
_REASONS = ("GpuIdle", "ApplicationsClocksSetting", "SwPowerCap", "HwSlowdown", "SyncBoost",
            "SwThermalSlowdown", "HwThermalSlowdown", "HwPowerBrakeSlowdown", "DisplayClockSetting")

FIELDS = ("t_s", "mem_used_bytes", "process_mem_bytes", "gpu_util_pct", "mem_util_pct", "power_w", "energy_j",
          "sm_clock_mhz", "mem_clock_mhz", "temp_c", "throttle_mask", "pcie_tx_kbs", "pcie_rx_kbs")


def _nvml():
    import pynvml

    return pynvml


def nvml_unavailable_reason() -> Optional[str]:
    try:
        nv = _nvml()
    except ImportError:
        return "nvidia-ml-py is not installed: pip install 'trtbench[gpu]'"
    try:
        nv.nvmlInit()
        nv.nvmlDeviceGetCount()
    except Exception as exc:
        return f"NVML cannot be initialised ({exc}): no NVIDIA driver on this machine"
    return None


def _bus_key(bus_id) -> str:
    """'00000000:00:06.0' (NVML) and '0000:00:06.0' (CUDA) -> '0000:00:06.0'."""
    text = bus_id.decode() if isinstance(bus_id, bytes) else str(bus_id)
    text = text.strip().rstrip("\x00").lower()
    domain, _, rest = text.partition(":")
    return f"{int(domain, 16):04x}:{rest}" if rest else text


def nvml_index_for_cuda_device(device: int) -> int:
    """NVML numbers every GPU of the host and ignores CUDA_VISIBLE_DEVICES; CUDA numbers the visible
    ones. Match them by PCI bus id, so telemetry and fingerprints describe the GPU that really ran."""
    try:

        bus = check(rt().cudaDeviceGetPCIBusId(32, device), "cudaDeviceGetPCIBusId")
    except Exception:
        return device
    nv = _nvml()
    nv.nvmlInit()
    want = _bus_key(bus)
    for i in range(nv.nvmlDeviceGetCount()):
        if _bus_key(nv.nvmlDeviceGetPciInfo(nv.nvmlDeviceGetHandleByIndex(i)).busId) == want:
            return i
    return device


def reason_names(mask: int) -> List[str]:
    nv = _nvml()
    names = []
    for r in _REASONS:
        bit = getattr(nv, f"nvmlClocksEventReason{r}", None) or getattr(nv, f"nvmlClocksThrottleReason{r}", None)
        if bit and mask & bit:
            names.append(r)
    return names


def _throttle_bits() -> int:
    nv = _nvml()
    benign = 0
    for r in _BENIGN:
        bit = getattr(nv, f"nvmlClocksEventReason{r}", None) or getattr(nv, f"nvmlClocksThrottleReason{r}", None)
        benign |= bit or 0
    return ~benign


class _Probe:
    """Reads one row of telemetry; lives in the sampler process."""

    def __init__(self, device: int, pid: int, pcie_every: int) -> None:
        nv = _nvml()
        nv.nvmlInit()
        self.nv = nv
        self.handle = nv.nvmlDeviceGetHandleByIndex(device)
        self.pid = pid
        self.pcie_every = max(1, pcie_every)
        self.n = 0
        self._get_reasons = getattr(nv, "nvmlDeviceGetCurrentClocksEventReasons", None) or \
            nv.nvmlDeviceGetCurrentClocksThrottleReasons

    @staticmethod
    def _try(fn, *args):
        try:
            return fn(*args)
        except Exception:
            return None

    def row(self, t: float) -> tuple:
        nv, h, q = self.nv, self.handle, self._try
        mem = q(nv.nvmlDeviceGetMemoryInfo, h)
        util = q(nv.nvmlDeviceGetUtilizationRates, h)
        procs = q(nv.nvmlDeviceGetComputeRunningProcesses, h) or []
        mine = next((p.usedGpuMemory for p in procs if p.pid == self.pid), None)
        power = q(nv.nvmlDeviceGetPowerUsage, h)
        energy = q(nv.nvmlDeviceGetTotalEnergyConsumption, h)
        pcie = (q(nv.nvmlDeviceGetPcieThroughput, h, nv.NVML_PCIE_UTIL_TX_BYTES),
                q(nv.nvmlDeviceGetPcieThroughput, h, nv.NVML_PCIE_UTIL_RX_BYTES)) \
            if self.n % self.pcie_every == 0 else (None, None)
        self.n += 1
        return (t, mem.used if mem else None, mine, util.gpu if util else None, util.memory if util else None,
                power / 1000.0 if power is not None else None, energy / 1000.0 if energy is not None else None,
                q(nv.nvmlDeviceGetClockInfo, h, nv.NVML_CLOCK_SM), q(nv.nvmlDeviceGetClockInfo, h, nv.NVML_CLOCK_MEM),
                q(nv.nvmlDeviceGetTemperature, h, nv.NVML_TEMPERATURE_GPU), q(self._get_reasons, h), pcie[0], pcie[1])


def _sampler_process(conn, device: int, pid: int, interval_s: float, pcie_every: int) -> None:
    """The sampling loop, in its own process: it never competes for the measured process's GIL.
    Messages: ("pid", n) follows another process's memory; "collect" sends the rows so far; "stop" ends."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the measuring process's to handle; it stops us
    probe = _Probe(device, pid, pcie_every)
    rows = []
    conn.send("ready")
    next_t = time.monotonic()
    while True:
        rows.append(probe.row(time.monotonic()))
        next_t += interval_s
        delay = next_t - time.monotonic()
        if delay < 0:
            next_t, delay = time.monotonic(), 0
        while conn.poll(delay):
            msg = conn.recv()
            delay = 0
            if isinstance(msg, tuple) and msg[0] == "pid":
                probe.pid = int(msg[1])
                continue
            rows.append(probe.row(time.monotonic()))
            conn.send(rows)
            rows = []
            if msg == "stop":
                return


class NvmlSampler:
    """Samples NVML every ``interval_ms`` in a separate process between ``start()`` and ``stop()``.

    A sampling *thread* in the measured process would compete for the GIL with the timed loop (a host-
    bound PyTorch model measured 30% slower with one); a process does not. Rows carry ``time.monotonic()``
    (one clock for every process of the machine), so a trial measured in a worker process finds its rows
    by its own start and end times (``window``)."""

    def __init__(self, device: int = 0, interval_ms: float = 20.0, pcie_every: int = 10) -> None:
        _nvml()  # fail here, not in the child, when nvidia-ml-py is missing
        self.device = device
        self.interval_s = interval_ms / 1000.0
        self.pcie_every = pcie_every
        self.series: Dict[str, List] = {f: [] for f in FIELDS}
        self._proc = None
        self._conn = None

    def start(self) -> None:
        import multiprocessing as mp

        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_sampler_process, name="trtbench-nvml", daemon=True,
                                 args=(child, self.device, os.getpid(), self.interval_s, self.pcie_every))
        self._proc.start()
        child.close()
        if not self._conn.poll(30) or self._conn.recv() != "ready":
            self._proc.kill()
            raise RuntimeError("the NVML sampler process did not start")

    def follow(self, pid: int) -> None:
        """Record the GPU memory of process ``pid`` (the worker that measures now)."""
        if self._proc is not None:
            self._conn.send(("pid", pid))

    def _take(self, message: str) -> None:
        self._conn.send(message)
        for row in self._conn.recv():
            for f, v in zip(FIELDS, row):
                self.series[f].append(v)

    def collect(self) -> None:
        """Fetch the rows sampled so far (the sampler keeps going)."""
        if self._proc is not None:
            self._take("collect")

    def stop(self) -> None:
        if self._proc is None:
            return
        self._take("stop")
        self._proc.join(10)
        self._proc = None

    def rows(self, windows) -> Dict[str, List]:
        """The rows inside any of ``windows`` ((start, end) monotonic seconds); ``t_s`` made relative to the
        first window's start."""
        ts = self.series["t_s"]
        keep = [i for i, t in enumerate(ts) if any(a <= t <= b for a, b in windows)]
        out = {f: [self.series[f][i] for i in keep] for f in FIELDS}
        if keep and windows:
            t0 = min(a for a, _ in windows)
            out["t_s"] = [t - t0 for t in out["t_s"]]
        return out

    def window(self, start: float, end: float) -> dict:
        """Clocks and throttling during one trial."""
        s = self.rows([(start, end)])

        def vals(f):
            return [v for v in s[f] if v is not None]

        sm = vals("sm_clock_mhz")
        masks = vals("throttle_mask")
        seen = 0
        for m in masks:
            seen |= m
        bad = _throttle_bits()
        return {"samples": len(s["t_s"]), "sm_clock_mhz": sum(sm) / len(sm) if sm else None,
                "min_sm_clock_mhz": min(sm) if sm else None,
                "mem_clock_mhz": (sum(vals("mem_clock_mhz")) / len(vals("mem_clock_mhz"))) if vals("mem_clock_mhz") else None,
                "max_temp_c": max(vals("temp_c"), default=None),
                "mean_power_w": (sum(vals("power_w")) / len(vals("power_w"))) if vals("power_w") else None,
                "throttle_reasons": reason_names(seen) if masks else [],
                "throttled": any(m & bad for m in masks)}

    def summary(self, inferences: int, windows=None) -> dict:
        """Per variant, over its trials' windows (all rows when None)."""
        s = self.rows(windows) if windows else self.series

        def vals(f):
            return [v for v in s[f] if v is not None]

        def mean(xs):
            return sum(xs) / len(xs) if xs else None

        spans = [(b - a) for a, b in windows] if windows else (
            [s["t_s"][-1] - s["t_s"][0]] if len(s["t_s"]) > 1 else [])
        window = sum(spans)
        energy_per_inf = None
        energy_note = None
        if windows:
            used = 0.0
            for a, b in windows:
                w = self.rows([(a, b)])
                e = [v for v in w["energy_j"] if v is not None]
                if len(e) >= 2:
                    used += e[-1] - e[0]
        else:
            e = vals("energy_j")
            used = e[-1] - e[0] if len(e) >= 2 else 0.0
        if inferences > 0 and vals("energy_j"):
            if window >= 1.0:
                energy_per_inf = used / inferences
            else:
                energy_note = f"window {window:.2f} s is under 1 s: the energy counter is too coarse"
        masks = [m for m in s["throttle_mask"] if m is not None]
        bad = _throttle_bits()
        seen = 0
        for m in masks:
            seen |= m
        summary = {
            "samples": len(s["t_s"]), "interval_ms": self.interval_s * 1000.0, "window_s": window,
            "sampler": "separate process",
            "peak_mem_used_bytes": max(vals("mem_used_bytes"), default=None),
            "peak_process_mem_bytes": max(vals("process_mem_bytes"), default=None),
            "mean_gpu_util_pct": mean(vals("gpu_util_pct")), "max_gpu_util_pct": max(vals("gpu_util_pct"), default=None),
            "mean_mem_util_pct": mean(vals("mem_util_pct")), "max_mem_util_pct": max(vals("mem_util_pct"), default=None),
            "mean_power_w": mean(vals("power_w")), "max_power_w": max(vals("power_w"), default=None),
            "energy_per_inference_j": energy_per_inf, "energy_note": energy_note,
            "mean_sm_clock_mhz": mean(vals("sm_clock_mhz")), "min_sm_clock_mhz": min(vals("sm_clock_mhz"), default=None),
            "max_temp_c": max(vals("temp_c"), default=None),
            "mean_pcie_tx_kbs": mean(vals("pcie_tx_kbs")), "mean_pcie_rx_kbs": mean(vals("pcie_rx_kbs")),
            "throttled": any(m & bad for m in masks), "clock_event_reasons": reason_names(seen) if masks else [],
        }
        return {"summary": summary, "series": {f: list(v) for f, v in s.items()}}


def sampler_for(device: Optional[int], settings) -> Optional[NvmlSampler]:
    """The runner's factory: a sampler for ``device``, or None when NVML cannot be used here."""
    if device is None or nvml_unavailable_reason() is not None:
        return None
    return NvmlSampler(nvml_index_for_cuda_device(device), settings.nvml_interval_ms)
