"""trtbench: benchmark TensorRT engines and their baselines as a measured matrix.

The package is organised by responsibility:

- ``trtbench.models``   ONNX models: built-in generators, inspection, static/dynamic shape rewrites.
- ``trtbench.matrix``   the frozen variant spec and the matrix that expands into variants.
- ``trtbench.backends`` one lifecycle, several runtimes (onnxruntime, PyTorch, TensorRT).
- ``trtbench.timing``   clocks, stage timers, the measurement loop and statistics.
- ``trtbench.gpu``      CUDA streams/events/buffers, NVML sampling, GPU fingerprint.
- ``trtbench.results``  the versioned results envelope: schema, writer, reader.
- ``trtbench.runner``   runs a matrix: variant -> backend -> measurement -> results record.
- ``trtbench.cli``      the ``trtbench`` command line.
"""

__version__ = "0.1.0"
