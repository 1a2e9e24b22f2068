"""Static and dynamic shapes: rewrite a model's batch dimension, and notice when the model pins it.

"implicit" build mode needs a model with fully static shapes (one engine per batch); "explicit" needs
a dynamic batch dimension (one engine, one optimization profile). A static-batch model can be made
dynamic by renaming its batch dims to a symbol, unless constants baked in at export time (a Reshape to
``[1, -1]``, an Expand to ``[8, ...]``) still fix the batch: then the variant is not applicable (a Reshape
pin can be rewritten with ``--fix-batch``, see ``models.fixbatch``). Which inputs have the batch is
``models.layout``'s call: inputs without it (bias vectors, scalars) keep their shapes.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import onnx
from onnx import numpy_helper

from trtbench.errors import NotApplicable
from trtbench.models.inspect import graph_inputs, inspect_model
from trtbench.models.layout import batch_layout

BATCH_SYMBOL = "batch"


def _dims(vi: onnx.ValueInfoProto):
    return vi.type.tensor_type.shape.dim


def _set_dim(dim, value) -> None:
    if isinstance(value, int):
        dim.Clear()
        dim.dim_value = value
    else:
        dim.Clear()
        dim.dim_param = value


def make_static(model: onnx.ModelProto, shapes: Dict[str, Sequence[int]]) -> onnx.ModelProto:
    """A copy with every input fixed to ``shapes`` (name -> full shape); symbolic output dims that the
    inputs define are resolved too, and stale intermediate shapes are dropped."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    symbols: Dict[str, int] = {}
    for vi in graph_inputs(m):
        if vi.name not in shapes:
            continue
        dims, shape = _dims(vi), list(shapes[vi.name])
        if len(dims) != len(shape):
            raise NotApplicable(f"input {vi.name} has rank {len(dims)}, the shape given has rank {len(shape)}")
        for d, v in zip(dims, shape):
            if d.HasField("dim_param") and d.dim_param:
                symbols[d.dim_param] = int(v)
            _set_dim(d, int(v))
    for vi in m.graph.output:
        for d in _dims(vi):
            if d.HasField("dim_param") and d.dim_param in symbols:
                _set_dim(d, symbols[d.dim_param])
    del m.graph.value_info[:]
    return m


def _constant_values(model: onnx.ModelProto) -> Dict[str, np.ndarray]:
    values = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Constant":
            for a in node.attribute:
                if a.name == "value":
                    values[node.output[0]] = numpy_helper.to_array(a.t)
    return values


def find_batch_pins(model: onnx.ModelProto, batch: int) -> List[str]:
    """Nodes whose constant target shape fixes the batch at ``batch`` (a Reshape to ``[batch, ...]``,
    an Expand to ``[batch, ...]``): each entry says which node and what constant."""
    consts = _constant_values(model)
    pins = []
    for node in model.graph.node:
        if node.op_type not in ("Reshape", "Expand") or len(node.input) < 2:
            continue
        target = consts.get(node.input[1])
        if target is None or target.ndim != 1 or target.size == 0:
            continue
        first = int(target[0])
        if first == batch and first > 0 and not (node.op_type == "Expand" and first == 1):
            pins.append(f"{node.op_type} node {node.name or node.output[0]!r} has the constant target shape "
                        f"{target.tolist()}")
    return pins


def _static_batch(model: onnx.ModelProto) -> Optional[int]:
    return batch_layout(inspect_model(model)).exported


def make_dynamic(model: onnx.ModelProto, symbol: str = BATCH_SYMBOL) -> onnx.ModelProto:
    """A copy whose inputs and outputs have a symbolic first (batch) dimension.

    Raises ``NotApplicable`` when the model's own constants pin the batch, or when shape inference at
    another batch size contradicts the declared outputs."""
    layout = batch_layout(inspect_model(model))
    old_batch = layout.exported
    m = onnx.ModelProto()
    m.CopyFrom(model)
    if old_batch is None:  # already dynamic in the batch (or no input has one)
        return m
    pins = find_batch_pins(m, old_batch)
    if pins:
        hint = " (a Reshape's pin may be rewritten with --fix-batch)" if pins[0].startswith("Reshape") else ""
        raise NotApplicable(f"the model's batch is pinned at {old_batch} by its constants ({pins[0]}); "
                            f"re-export it with a dynamic batch axis{hint}")
    for vi in list(graph_inputs(m)) + list(m.graph.output):
        dims = _dims(vi)
        batched = vi.name in layout.inputs or vi.name not in {i.name for i in graph_inputs(m)}
        if batched and len(dims) and dims[0].HasField("dim_value") and dims[0].dim_value == old_batch:
            _set_dim(dims[0], symbol)
    del m.graph.value_info[:]
    probe = old_batch + 1
    at = {b: {vi.name: [b if i == 0 and vi.name in layout.inputs else (d.dim_value or 1)
                        for i, d in enumerate(_dims(vi))] for vi in graph_inputs(m)} for b in (probe, old_batch)}
    conflict = shape_conflict(m, at[probe]) or run_conflict(m, at[probe], probe, reference=at[old_batch])
    if conflict:
        raise NotApplicable(f"the model's batch is pinned at {old_batch}: at batch {probe} shape inference "
                            f"says {conflict}; re-export it with a dynamic batch axis")
    return m


def run_conflict(model: onnx.ModelProto, shapes: Dict[str, Sequence[int]], batch: int,
                 max_params: int = 50_000_000, reference: Optional[Dict[str, Sequence[int]]] = None) -> Optional[str]:
    """The runtime check: run the model once at ``shapes`` on onnxruntime (zeros) and see whether every
    output follows the batch. Catches pins ONNX's static inference cannot see (shapes computed from
    constants). Skipped for models over ``max_params`` parameters.

    Only a failure that depends on the batch is a verdict: a session onnxruntime cannot create (an operator
    without a kernel for these types, an opset it does not know) fails at every batch, and so does a run that
    also fails at the ``reference`` shapes (the exported batch); those are left to the backend to report."""
    if sum(int(np.prod(t.dims)) for t in model.graph.initializer) > max_params:
        return None
    try:
        import onnxruntime as ort
    except ImportError:
        return None

    info = inspect_model(model)

    def feeds(at):
        return {t.name: np.zeros(at[t.name], dtype=np.dtype(t.dtype)) for t in info.inputs}

    try:
        opts = ort.SessionOptions()
        opts.log_severity_level = 4
        sess = ort.InferenceSession(model.SerializeToString(), sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception:  # not about the batch: the backend says what it is when it loads the model
        return None
    try:
        outs = sess.run(None, feeds(shapes))
    except Exception as exc:
        if reference is not None:
            try:
                sess.run(None, feeds(reference))
            except Exception:
                return None  # it fails at the exported batch too: not a pin
        text = str(exc).strip().splitlines()
        return f"onnxruntime fails at that batch ({text[0][:200] if text else type(exc).__name__})"
    for o, value in zip(info.outputs, outs):
        if o.shape and o.shape[0] == BATCH_SYMBOL and (value.ndim == 0 or value.shape[0] != batch):
            return f"output {o.name} has shape {tuple(value.shape)}, not batch {batch}"
    return None


def shape_conflict(model: onnx.ModelProto, shapes: Dict[str, Sequence[int]]) -> Optional[str]:
    """Run strict ONNX shape inference with the inputs fixed to ``shapes``; return the message when an
    inferred shape contradicts a declared one (None when they agree or inference cannot tell)."""
    if any(0 in tuple(s) for s in shapes.values()):
        return None
    static = make_static(model, shapes)
    try:
        onnx.shape_inference.infer_shapes(static, check_type=False, strict_mode=True, data_prop=True)
    except Exception as exc:  # InferenceError: only a shape disagreement is a verdict
        text = str(exc)
        if "differ" in text or "mismatch" in text.lower():
            return text.strip().splitlines()[-1][:300]
    return None


def batch_is_dynamic(model: onnx.ModelProto) -> bool:
    return batch_layout(inspect_model(model)).symbol is not None


def input_shapes(model: onnx.ModelProto) -> Dict[str, Tuple]:
    return {t.name: t.shape for t in inspect_model(model).inputs}
