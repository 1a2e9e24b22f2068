"""Which axes of a model's inputs are the batch, which are other named dynamic dims, and which are fixed.

- The batch of a model with a symbolic first dim is that symbol on axis 0 of its first input of rank >= 2
  (of rank 1 when it has none); every input whose axis 0 carries the same symbol has the batch.
- The batch of a static model is the size on axis 0 of that same input (the batch it was exported with);
  the inputs of that rank class whose axis 0 has that size have the batch.
- Every other input (a bias vector, a scalar, a table of fixed size, an input whose first dim is another
  symbol) is held at its own shape at every batch: it never pins the batch.
- Any other symbolic dim is a named dim (``seq``): its size comes from the variant (``--dim seq=128,512``)
  or from the profile. A dynamic dim without a name can only be given by per-input shapes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Tuple

from trtbench.errors import NotApplicable
from trtbench.models.inspect import ModelInfo, TensorInfo

Shape = Tuple[int, ...]
ANONYMOUS = "?"  # the batch symbol of a model whose first dim is dynamic but has no name


@dataclass(frozen=True)
class BatchLayout:
    symbol: Optional[str]  # the batch's symbolic name; None for a static batch (or none at all)
    exported: Optional[int]  # a static model's batch (what it was exported with)
    inputs: Tuple[str, ...]  # the inputs whose axis 0 is the batch

    def has_batch(self, name: str) -> bool:
        return name in self.inputs

    def describe(self) -> str:
        if not self.inputs:
            return "no input has a batch dimension"
        what = f"symbolic {self.symbol!r}" if self.symbol else f"static, exported at {self.exported}"
        return f"{what}, axis 0 of {', '.join(self.inputs)}"


def _first_dim(t: TensorInfo):
    return ANONYMOUS if t.shape[0] is None else t.shape[0]


def batch_layout(info: ModelInfo) -> BatchLayout:
    ranked = [t for t in info.inputs if len(t.shape) >= 1]
    matrices = [t for t in ranked if len(t.shape) >= 2]
    pool = matrices or ranked
    symbol = next((_first_dim(t) for t in pool if not isinstance(t.shape[0], int)), None)
    if symbol is not None:
        return BatchLayout(symbol, None, tuple(t.name for t in ranked if _first_dim(t) == symbol))
    if not pool:
        return BatchLayout(None, None, ())
    exported = int(pool[0].shape[0])
    return BatchLayout(None, exported, tuple(t.name for t in pool if t.shape[0] == exported))


def named_dims(info: ModelInfo, layout: Optional[BatchLayout] = None) -> Dict[str, List[Tuple[str, int]]]:
    """symbol -> the (input, axis) places it sits, the batch's axes left out."""
    layout = layout or batch_layout(info)
    out: Dict[str, List[Tuple[str, int]]] = {}
    for t in info.inputs:
        for axis, d in enumerate(t.shape):
            if isinstance(d, str) and not (axis == 0 and layout.has_batch(t.name)):
                out.setdefault(d, []).append((t.name, axis))
    return out


def is_batch_axis(t: TensorInfo, axis: int, layout: BatchLayout) -> bool:
    return axis == 0 and layout.has_batch(t.name)


def resolve_shape(t: TensorInfo, layout: BatchLayout, batch: int, dims: Mapping[str, int], what: str) -> Shape:
    """One input's shape at ``batch`` with the named dims' sizes ``dims``; fixed dims as the model has them."""
    out = []
    for axis, d in enumerate(t.shape):
        if is_batch_axis(t, axis, layout):
            out.append(batch)
        elif isinstance(d, int):
            out.append(d)
        elif d is not None and d in dims:
            out.append(int(dims[d]))
        else:
            raise NotApplicable(unsized_dim(t, axis, what))
    return tuple(out)


def unsized_dim(t: TensorInfo, axis: int, what: str) -> str:
    d = t.shape[axis]
    if d is None:
        return (f"input {t.name} axis {axis} is dynamic without a name; {what} needs its size: give per-input "
                f"shapes with --minShapes/--optShapes/--maxShapes")
    return (f"input {t.name} axis {axis} is the dynamic dim {d!r}; {what} needs its size: give it with "
            f"--dim {d}=128,512 (or per-input shapes with --minShapes/--optShapes/--maxShapes)")
