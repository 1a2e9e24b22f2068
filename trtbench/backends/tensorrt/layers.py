"""The per-layer view: a separate profiling run with an ``IProfiler`` (it slows execution, so it never
overlaps the measured run), plus the engine inspector's layer information."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List

from trtbench.results.store import atomic_write_json


def _profiler_class(trt):
    class LayerTimes(trt.IProfiler):
        def __init__(self):
            trt.IProfiler.__init__(self)
            self.times: Dict[str, List[float]] = {}

        def report_layer_time(self, layer_name, ms):
            self.times.setdefault(layer_name, []).append(float(ms))

    return LayerTimes


def profile_layers(backend, runs: int = 20) -> dict:
    """Per-layer median times over ``runs`` profiled queries, and the inspector's JSON (when the bindings
    have the inspector). The full data goes to ``backend.artifacts_dir`` when set."""
    api, ctx, engine = backend.api, backend.context, backend.engine
    trt = api.trt
    prof = _profiler_class(trt)()
    ctx.profiler = prof
    stream = backend._setup_stream
    for _ in range(runs):  # the context is released right after this run, profiler and all
        if not ctx.execute_async_v3(stream.handle):
            raise RuntimeError("execute_async_v3 failed during the profiling run")
        stream.synchronize()
    layers = []
    for name, ts in prof.times.items():
        s = sorted(ts)
        layers.append({"layer": name, "median_ms": s[len(s) // 2], "calls": len(s)})
    layers.sort(key=lambda r: -r["median_ms"])
    total = sum(r["median_ms"] for r in layers)
    info = None
    if hasattr(engine, "create_engine_inspector"):
        try:
            inspector = engine.create_engine_inspector()
            inspector.execution_context = ctx
            info = json.loads(inspector.get_engine_information(trt.LayerInformationFormat.JSON), strict=False)
        except Exception as exc:  # the lean runtime has no inspector output; older plans lack detail
            info = {"error": f"{type(exc).__name__}: {exc}"}
    full = {"runs": runs, "layers": layers, "inspector": info}
    path = None
    out_dir = getattr(backend, "artifacts_dir", None)
    if out_dir is not None:

        path = Path(out_dir) / "layers" / f"{backend.variant.id}.json"
        atomic_write_json(path, full)
    return {"layer_profile": {"runs": runs, "layers": len(layers), "total_median_ms": total,
                              "top": layers[:10], "file": str(path) if path else None,
                              "inspector_layers": len(info.get("Layers") or []) if isinstance(info, dict) else None,
                              "inspector_error": info.get("error") if isinstance(info, dict) else None,
                              "inspector_keys": sorted(info)[:10] if isinstance(info, dict) else None}}
