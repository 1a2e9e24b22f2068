"""``--fix-batch``: rewrite the Reshapes whose constant target pins a static model's batch, where provably
equivalent, so the batch can be swept. Every rewrite is returned as a sentence for the results.

The rule (each condition is checked, none assumed), for a model exported at batch ``B``:

1. the node is a Reshape whose target shape is a constant (an initializer or a Constant node), 1-D, whose
   first entry is ``B``;
2. with the batch inputs' first dim made symbolic, ONNX shape inference gives the Reshape's data input
   that symbol as its first dim: axis 0 of the data is the batch;
3. only the first entry changes, to ``0`` ("copy the input's dim 0"; ``-1`` when the node sets
   ``allowzero=1``, and then only when no other entry is ``-1``).

Why this is equivalent: a Reshape is row-major, so with axis 0 of the data being the batch and the
target's first entry ``B`` equal to it, each output row ``i`` is exactly the data's sample ``i`` reshaped
to the target's other entries. ``0`` copies the data's dim 0, which at batch ``B`` is ``B``: the same
target, the same tensor, bit for bit. At another batch the same per-sample reshape applies to each sample.
Pins the rule cannot prove (an Expand, a target computed at run time, a Reshape that mixes the batch with
other axes) are left alone, and the model stays not applicable with the reason.
"""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import numpy as np
import onnx
from onnx import helper, numpy_helper

from trtbench.models.inspect import graph_inputs, inspect_model
from trtbench.models.layout import batch_layout

_SYMBOL = "trtbench_batch"


def _inferred_shapes(model: onnx.ModelProto, batch_inputs) -> Optional[Dict[str, list]]:
    """name -> dims (int, symbol or None) from ONNX shape inference with the batch inputs' axis 0 symbolic."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    for vi in graph_inputs(m):
        dims = vi.type.tensor_type.shape.dim
        if vi.name in batch_inputs and len(dims):
            dims[0].Clear()
            dims[0].dim_param = _SYMBOL
    del m.graph.value_info[:]
    try:
        inferred = onnx.shape_inference.infer_shapes(m, check_type=False, strict_mode=False)
    except Exception:
        return None
    out = {}
    for vi in list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output):
        tt = vi.type.tensor_type
        if tt.HasField("shape"):
            out[vi.name] = [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in tt.shape.dim]
    return out


def _constant(model: onnx.ModelProto, name: str) -> Tuple[Optional[np.ndarray], Optional[object]]:
    """(value, holder) of a constant tensor: holder is the TensorProto initializer or the Constant node."""
    for t in model.graph.initializer:
        if t.name == name:
            return numpy_helper.to_array(t), t
    for node in model.graph.node:
        if node.op_type == "Constant" and node.output[0] == name:
            for a in node.attribute:
                if a.name == "value":
                    return numpy_helper.to_array(a.t), node
    return None, None


def _uses(model: onnx.ModelProto, name: str) -> int:
    return sum(list(n.input).count(name) for n in model.graph.node) + sum(o.name == name for o in model.graph.output)


def _write_target(model: onnx.ModelProto, node: onnx.NodeProto, holder, new: np.ndarray) -> None:
    """Set ``node``'s target shape to ``new``: in place when only this node reads it, else as a new initializer."""
    name = node.input[1]
    tensor = numpy_helper.from_array(new.astype(np.int64), name)
    if _uses(model, name) == 1 and isinstance(holder, onnx.TensorProto):
        holder.CopyFrom(tensor)
        return
    if _uses(model, name) == 1:  # a Constant node
        for a in holder.attribute:
            if a.name == "value":
                a.t.CopyFrom(tensor)
        return
    fresh = f"{name}_trtbench_fixbatch_{node.name or node.output[0]}"
    model.graph.initializer.append(numpy_helper.from_array(new.astype(np.int64), fresh))
    if model.ir_version < 4:  # IR 3 lists every initializer among the graph inputs
        model.graph.input.append(helper.make_tensor_value_info(fresh, onnx.TensorProto.INT64, [len(new)]))
    node.input[1] = fresh


def _allowzero(node: onnx.NodeProto) -> bool:
    return any(a.name == "allowzero" and a.i == 1 for a in node.attribute)


def fix_batch_pins(model: onnx.ModelProto) -> Tuple[onnx.ModelProto, List[str]]:
    """A copy with every provably equivalent Reshape pin rewritten, and one note per rewrite (and per pin the
    rule could not prove). A model without a static batch comes back unchanged with no notes."""
    layout = batch_layout(inspect_model(model))
    batch = layout.exported
    m = onnx.ModelProto()
    m.CopyFrom(model)
    if batch is None:
        return m, []
    notes: List[str] = []
    done = set()
    refused: Dict[str, str] = {}  # pins the rule does not prove, with why (kept until nothing else changes)
    while True:  # one rewrite at a time: a fixed pin lets the batch symbol reach the next Reshape
        shapes = _inferred_shapes(m, set(layout.inputs))
        if shapes is None:
            return m, notes + ["--fix-batch: ONNX shape inference fails on this model, so no Reshape could be proved "
                               "equivalent; nothing more rewritten"]
        progress = False
        for node in m.graph.node:
            key = node.name or node.output[0]
            if node.op_type != "Reshape" or len(node.input) < 2 or key in done:
                continue
            target, holder = _constant(m, node.input[1])
            if target is None or target.ndim != 1 or target.size == 0 or int(target[0]) != batch:
                continue
            data = shapes.get(node.input[0])
            if not data or data[0] != _SYMBOL:
                refused[key] = (f"its data input's first dim is {data[0] if data else 'unknown'}, not provably the "
                                f"batch")
                continue  # a later pass may see the batch there, after another rewrite
            new = target.astype(np.int64).copy()
            if _allowzero(node) and -1 in target.tolist():
                refused[key] = "allowzero=1 takes 0 literally and the target already has its one -1"
                continue
            new[0] = -1 if _allowzero(node) else 0
            _write_target(m, node, holder, new)
            done.add(key)
            refused.pop(key, None)
            notes.append(f"--fix-batch: Reshape {key!r} target {target.tolist()} -> {new.tolist()} (its data input's "
                         f"first dim is the batch by ONNX shape inference, and the entry equals the exported batch "
                         f"{batch}; {int(new[0])} keeps it per sample, identical at batch {batch})")
            progress = True
            break
        if not progress:
            break
    for key, why in refused.items():
        notes.append(f"--fix-batch: Reshape {key!r} left as it is ({why})")
    return m, notes
