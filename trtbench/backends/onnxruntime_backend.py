"""onnxruntime: the reference runtime and the CPU backend (the CUDA provider is used when installed).

Stages on the CPU provider: ``h2d`` copies the caller's input arrays into the buffers bound to the
session (IOBinding over numpy memory, allocated once), ``compute`` runs the bound session, ``d2h``
copies the bound outputs into the result arrays. With the CUDA provider the bound buffers live on the
GPU and the copies cross PCIe.
"""

from __future__ import annotations

import time
from typing import Dict, List

import numpy as np

from trtbench.backends.base import Backend
from trtbench.backends.registry import Availability
from trtbench.errors import VariantSkipped


def _ort():
    import onnxruntime

    return onnxruntime


class OnnxRuntimeBackend(Backend):
    name = "onnxruntime"

    @classmethod
    def availability(cls) -> Availability:
        try:
            ort = _ort()
        except Exception as exc:  # ImportError, or a broken install
            return Availability(cls.name, False, None, f"onnxruntime cannot be imported ({exc}); "
                                                       f"pip install onnxruntime")
        device = "cuda:0" if "CUDAExecutionProvider" in ort.get_available_providers() else "cpu"
        return Availability(cls.name, True, ort.__version__, None, device)

    def _providers(self) -> List[str]:
        ort = _ort()
        if "CUDAExecutionProvider" in ort.get_available_providers():
            return ["CUDAExecutionProvider", "CPUExecutionProvider"]
        return ["CPUExecutionProvider"]

    def _prepare(self) -> None:
        from trtbench.precision.transform import apply_precision

        a = self.require()
        converted = apply_precision(self.prepared.model, self.variant.precision, self.settings)
        if self.variant.precision in ("int8",) and a.device != "cpu":
            raise VariantSkipped("onnxruntime int8 (QDQ) runs on the CPU provider here only")
        self._model_bytes = converted.model.SerializeToString()
        self.facts.update(runtime_version=a.version, device=a.device, providers=self._providers(),
                          precision_method=converted.method, model_bytes=len(self._model_bytes))

    def _load(self) -> None:
        ort = _ort()
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3
        t0 = time.perf_counter()
        self.session = ort.InferenceSession(self._model_bytes, sess_options=opts, providers=self._providers())
        self.facts["build_time_s"] = time.perf_counter() - t0
        self._on_gpu = self.session.get_providers()[0] == "CUDAExecutionProvider"

    def _bind(self, feeds: Dict[str, np.ndarray]) -> None:
        ort = _ort()
        sess = self.session
        in_types = {i.name: _np_type(i.type) for i in sess.get_inputs()}
        self.host_in = {n: np.ascontiguousarray(a, dtype=in_types[n]) for n, a in feeds.items()}
        # One probe run gives the output shapes for the run shapes.
        probe = sess.run(None, self.host_in)
        out_names = [o.name for o in sess.get_outputs()]
        self.host_out = {n: np.empty_like(p) for n, p in zip(out_names, probe)}
        self.binding = sess.io_binding()
        self.dev_in, self.dev_out = {}, {}
        for n, a in self.host_in.items():
            max_shape = self.prepared.max_shapes.get(n, a.shape)
            if self._on_gpu:
                self.dev_in[n] = ort.OrtValue.ortvalue_from_shape_and_type(a.shape, a.dtype, "cuda", 0)
                self.binding.bind_ortvalue_input(n, self.dev_in[n])
            else:
                flat = np.empty(int(np.prod(max_shape)), a.dtype)  # sized once for the profile maximum
                view = flat[: a.size].reshape(a.shape)
                self.dev_in[n] = view
                self.binding.bind_ortvalue_input(n, ort.OrtValue.ortvalue_from_numpy(view))
        for n, p in zip(out_names, probe):
            if self._on_gpu:
                self.dev_out[n] = ort.OrtValue.ortvalue_from_shape_and_type(p.shape, p.dtype, "cuda", 0)
            else:
                self.dev_out[n] = np.empty_like(p)
            value = self.dev_out[n] if self._on_gpu else ort.OrtValue.ortvalue_from_numpy(self.dev_out[n])
            self.binding.bind_ortvalue_output(n, value)
        self._keep = list(self.dev_out.values())

    def _h2d(self, stream) -> None:
        if self._on_gpu:
            for n, v in self.dev_in.items():
                v.update_inplace(self.host_in[n])
        else:
            for n, v in self.dev_in.items():
                np.copyto(v, self.host_in[n])

    def _compute(self, stream) -> None:
        self.session.run_with_iobinding(self.binding)

    def _d2h(self, stream) -> None:
        for n, v in self.dev_out.items():
            np.copyto(self.host_out[n], v.numpy() if self._on_gpu else v)

    def _outputs(self) -> Dict[str, np.ndarray]:
        return self.host_out

    def _release(self) -> None:
        for attr in ("binding", "session", "dev_in", "dev_out", "_keep"):
            if hasattr(self, attr):
                delattr(self, attr)


def _np_type(ort_type: str):
    table = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64,
             "tensor(int64)": np.int64, "tensor(int32)": np.int32, "tensor(int8)": np.int8,
             "tensor(uint8)": np.uint8, "tensor(bool)": np.bool_}
    return table.get(ort_type, np.float32)
