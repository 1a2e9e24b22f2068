"""The TensorRT backend: version differences (``compat``), building (``build``), the engine cache
(``cache``), the runtime backend (``backend``), per-layer profiling (``layers``), and the plan-file
commands (``plan_run``)."""
