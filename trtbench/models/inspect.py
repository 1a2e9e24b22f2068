"""What a model takes and gives: the netron step of the workflow, as data."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import List, Optional, Tuple, Union

import numpy as np
import onnx
from onnx import helper

Dim = Union[int, str, None]  # a fixed size, a symbolic name, or unknown


@dataclass(frozen=True)
class TensorInfo:
    name: str
    dtype: str  # numpy dtype name, e.g. "float32"
    shape: Tuple[Dim, ...]

    @property
    def dynamic_axes(self) -> Tuple[int, ...]:
        return tuple(i for i, d in enumerate(self.shape) if not isinstance(d, int))

    @property
    def is_static(self) -> bool:
        return not self.dynamic_axes

    def shape_text(self) -> str:
        return "x".join(str(d) if isinstance(d, int) else f"{d or '?'}*" for d in self.shape) or "scalar"


@dataclass(frozen=True)
class ModelInfo:
    inputs: Tuple[TensorInfo, ...]
    outputs: Tuple[TensorInfo, ...]
    opset: int
    ir_version: int
    producer: str
    node_count: int
    parameter_count: int

    def input(self, name: str) -> Optional[TensorInfo]:
        return next((t for t in self.inputs if t.name == name), None)

    def to_dict(self) -> dict:
        d = asdict(self)
        for key in ("inputs", "outputs"):
            for t, info in zip(d[key], getattr(self, key)):
                t["shape"] = list(t["shape"])
                t["dynamic_axes"] = list(info.dynamic_axes)
        return d


def _dtype_name(elem_type: int) -> str:
    try:
        return np.dtype(helper.tensor_dtype_to_np_dtype(elem_type)).name
    except Exception:
        return onnx.TensorProto.DataType.Name(elem_type).lower()


def _tensor_info(vi: onnx.ValueInfoProto) -> TensorInfo:
    tt = vi.type.tensor_type
    dims: List[Dim] = []
    if tt.HasField("shape"):
        for d in tt.shape.dim:
            if d.HasField("dim_value") and d.dim_value >= 0:  # 0 is a size (an empty tensor), not unknown
                dims.append(int(d.dim_value))
            elif d.HasField("dim_param") and d.dim_param:
                dims.append(d.dim_param)
            else:
                dims.append(None)
    return TensorInfo(vi.name, _dtype_name(tt.elem_type), tuple(dims))


def graph_inputs(model: onnx.ModelProto) -> List[onnx.ValueInfoProto]:
    """The real inputs: old exporters (IR < 4) also list every initializer as a graph input."""
    weights = {i.name for i in model.graph.initializer}
    return [vi for vi in model.graph.input if vi.name not in weights]


def inspect_model(model: onnx.ModelProto) -> ModelInfo:
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    params = sum(int(np.prod(t.dims)) if t.dims else 1 for t in model.graph.initializer)
    for node in model.graph.node:  # weights stored as Constant nodes count too
        if node.op_type == "Constant":
            for a in node.attribute:
                if a.name == "value":
                    params += int(np.prod(a.t.dims)) if a.t.dims else 1
    return ModelInfo(
        inputs=tuple(_tensor_info(vi) for vi in graph_inputs(model)),
        outputs=tuple(_tensor_info(vi) for vi in model.graph.output),
        opset=int(opset),
        ir_version=int(model.ir_version),
        producer=f"{model.producer_name} {model.producer_version}".strip(),
        node_count=len(model.graph.node),
        parameter_count=params,
    )


def format_model_info(name: str, info: ModelInfo) -> str:
    lines = [f"{name}: opset {info.opset}, IR version {info.ir_version}, {info.node_count} nodes, "
             f"{info.parameter_count:,} parameters" + (f", producer {info.producer}" if info.producer else "")]
    for title, tensors in (("inputs", info.inputs), ("outputs", info.outputs)):
        lines.append(f"  {title}:")
        width = max((len(t.name) for t in tensors), default=0)
        for t in tensors:
            dyn = f"  dynamic axes {list(t.dynamic_axes)}" if t.dynamic_axes else "  static"
            lines.append(f"    {t.name:<{width}}  {t.dtype:<8} {t.shape_text()}{dyn}")
    lines.append("  (* marks a dynamic dimension)")
    return "\n".join(lines)
