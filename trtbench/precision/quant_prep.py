"""Getting a model ready for onnxruntime's ``quantize_static``, on every onnxruntime trtbench supports (1.16+),
as onnxruntime's quantization docs recommend, so that old exports (opset 9, IR 3) quantize too:

1. the real inputs only, at IR 8 (IR < 4 lists every initializer as a graph input), and every node named;
2. the opset raised to 13 when below (``onnx.version_converter``): per-channel QDQ needs 13, and onnxruntime's
   own automatic upgrade goes to 11 only;
3. onnxruntime's pre-processing (``onnxruntime.quantization.shape_inference.quant_pre_process``): its symbolic
   and ONNX shape inference, so every tensor has a type and shape for the calibrator, falling back to ONNX
   shape inference alone when the symbolic one fails, and said so. Its graph-optimization step is skipped:
   it rewrites the graph (LayerNorm fused into one operator, BatchNorm folded into Conv, eight more opset
   domains declared), so an int8 variant would differ from the fp32 one by more than its Q/DQ nodes, and
   TensorRT makes those fusions itself.

And one fact of onnxruntime 1.18-1.19 that pre-processing does not fix (checked: 1.16.3, 1.17.3 and 1.20.1 do
not have it): ``quantize_static`` sets the range of every Softmax output to 0..1 (``adjust_tensor_ranges``), but
only calibrated tensors may be set, and a Softmax output is calibrated only when a quantized op reads it. A Softmax that ends the model (a classifier's
probabilities) then fails ("Only an existing tensor can be modified"). ``softmax_names`` gives the Softmax
nodes, which the caller calibrates (Softmax among the op types) but excludes from quantization
(``nodes_to_exclude``): their outputs get ranges, and no Softmax is quantized, on old and new versions alike.
(1.16.3 fails on an opset-9 export for another reason, per-channel QDQ below opset 13: step 2 fixes that.)
"""

from __future__ import annotations

import contextlib
import os
from typing import List, Tuple

import onnx
from onnx import version_converter

from trtbench.models.inspect import graph_inputs

MIN_OPSET = 13


def _opset(model: onnx.ModelProto) -> int:
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)


def quantizable(model: onnx.ModelProto) -> Tuple[onnx.ModelProto, List[str]]:
    """Steps 1-2: a copy ready for pre-processing, and what was changed (for the recorded method)."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    steps: List[str] = []
    real = graph_inputs(model)
    if len(real) != len(model.graph.input) or m.ir_version < 8:
        keep = [onnx.ValueInfoProto.FromString(vi.SerializeToString()) for vi in real]
        del m.graph.input[:]
        m.graph.input.extend(keep)
        m.ir_version = max(m.ir_version, 8)
    for i, node in enumerate(m.graph.node):
        if not node.name:
            node.name = f"trtbench_node_{i}_{node.op_type}"
    opset = _opset(m)
    if opset < MIN_OPSET:
        try:
            m = version_converter.convert_version(m, MIN_OPSET)
        except Exception as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            raise QuantPrepError(f"onnx.version_converter cannot raise opset {opset} to {MIN_OPSET} ({first}): "
                                 f"re-export the model with opset {MIN_OPSET} or newer") from None
        steps.append(f"opset {opset} -> {MIN_OPSET} (onnx.version_converter)")
    return m, steps


class QuantPrepError(Exception):
    """The model cannot be prepared for quantization (the message says why and what to do)."""


def pre_process(src: str, dst: str) -> str:
    """Step 3 from file ``src`` to file ``dst`` (paths in a temporary folder, which is the working directory
    meanwhile); returns what ran. When every variant fails, ``dst`` is a copy of
    ``src`` and the return value says so (quantize_static then runs on the model as it is)."""
    try:
        from onnxruntime.quantization.shape_inference import quant_pre_process
    except ImportError:  # pragma: no cover - every supported onnxruntime has it
        onnx.save(onnx.load(src), dst)
        return "no pre-processing (this onnxruntime has no quant_pre_process)"
    attempts = (({}, "quant_pre_process shape inference"),
                ({"skip_symbolic_shape": True}, "quant_pre_process, ONNX shape inference only"))
    errors = []
    for kwargs, what in attempts:
        try:
            with _working_directory(os.path.dirname(os.path.abspath(dst))):
                quant_pre_process(src, dst, skip_optimization=True, **kwargs)
            _drop_unused_domains(dst)
            return what + (f" (symbolic shape inference failed: {errors[0]})" if errors else "")
        except Exception as exc:
            errors.append((str(exc).strip().splitlines() or [type(exc).__name__])[0][:160])
    onnx.save(onnx.load(src), dst)
    return f"no pre-processing (quant_pre_process failed: {errors[0]})"


@contextlib.contextmanager
def _working_directory(path: str):
    """onnxruntime's symbolic shape inference, when incomplete, saves ``sym_shape_infer_temp.onnx`` and its data
    files into the working directory: let that be our temporary folder, not the user's."""
    before = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


def _drop_unused_domains(path: str) -> None:
    """Keep the opset imports of the default domain and of the domains a node uses."""
    m = onnx.load(path)
    used = {n.domain for n in m.graph.node} | {"", "ai.onnx"}
    keep = [o for o in m.opset_import if o.domain in used]
    if len(keep) != len(m.opset_import):
        del m.opset_import[:]
        m.opset_import.extend(keep)
        onnx.save(m, path)


def softmax_names(model: onnx.ModelProto) -> List[str]:
    return [n.name for n in model.graph.node if n.op_type == "Softmax" and n.name]
