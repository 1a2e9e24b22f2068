"""trtbench: benchmark TensorRT engines and their baselines as a measured matrix.

The data path, one way: spec -> backend -> timer -> record -> report/gate.

- ``trtbench.config``   the config boundary: option table (CLI + pytest), TOML, typed ``RunSettings``.
- ``trtbench.models``   ONNX models: built-in generators, loading, inspection, shape rewrites, inputs.
- ``trtbench.matrix``   the frozen variant spec, the axes' values, expansion with exclusions.
- ``trtbench.backends`` one lifecycle, several runtimes (onnxruntime, PyTorch, TensorRT).
- ``trtbench.timing``   the clock seam, stage timers' loop, the load schedulers (closed/open loop), statistics.
- ``trtbench.gpu``      CUDA streams/events/buffers, the CUDA-event timers (one query, load), NVML, fingerprint.
- ``trtbench.precision`` precision transforms and the accuracy check.
- ``trtbench.results``  the typed record, its quality flags, the versioned results file.
- ``trtbench.run``      the run session: build pass, interleaved trials in worker processes, load and the
  latency-budget search, ab.
- ``trtbench.compare``  reading runs back, gate rules, the one comparison engine.
- ``trtbench.report``   the summary table, HTML/markdown reports; ``trtbench.gate`` the gate's outputs.
- ``trtbench.pytest``   the pytest-benchmark suite; ``trtbench.cli`` the command line.
"""

__version__ = "0.2.0"
