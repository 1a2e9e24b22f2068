"""Input data by what each input is, and a sentence per input saying how it was made (for the results).

In order of precedence, an input is:

1. loaded from a file (``--loadInputs NAME:file.npy,...`` or one ``.npz``), checked against its dtype and run
   shape;
2. drawn uniformly from a range the user gave (``--input-range NAME:LO,HI``, both ends included);
3. token ids: an integer input that indexes an embedding (it reaches a ``Gather``'s indices, through casts and
   reshapes, and that Gather's data is a constant table) gets ids from 0 to the table's rows - 1;
4. an attention mask (an input whose name says ``mask``): all ones, every position attended;
5. by dtype: floats standard normal, bools uniform, other integers 0..9 (a guess, said so: give a range).

Everything is seeded; inputs are drawn in name order from one generator, so a model of float inputs only
gets the same data as before kinds existed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Mapping, Optional, Sequence, Tuple

import numpy as np
import onnx

from trtbench.errors import UserError

Range = Tuple[float, float]
_FOLLOW = {"Identity", "Reshape", "Unsqueeze", "Squeeze", "Flatten", "Expand", "Transpose"}  # values kept
_INT_TYPES = {onnx.TensorProto.INT8, onnx.TensorProto.INT16, onnx.TensorProto.INT32, onnx.TensorProto.INT64,
              onnx.TensorProto.UINT8, onnx.TensorProto.UINT16, onnx.TensorProto.UINT32, onnx.TensorProto.UINT64}


@dataclass(frozen=True)
class InputKind:
    kind: str  # loaded | range | ids | mask | float | bool | int
    low: Optional[float] = None  # inclusive
    high: Optional[float] = None  # inclusive
    source: str = ""  # why: the Gather that shows the range, the option, the name

    def describe(self, dtype: str) -> str:
        what = {"ids": f"token ids {_n(self.low)}..{_n(self.high)}, uniform",
                "range": f"uniform {_n(self.low)}..{_n(self.high)}", "mask": "all ones",
                "float": "standard normal", "bool": "uniform True/False",
                "int": f"uniform {_n(self.low)}..{_n(self.high)}", "loaded": "loaded"}[self.kind]
        return f"{dtype} {what}" + (f" ({self.source})" if self.source else "")


def _n(x) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


def _constants(model: onnx.ModelProto) -> Dict[str, Tuple[int, ...]]:
    """name -> shape of every constant tensor (initializers and Constant nodes)."""
    out = {t.name: tuple(t.dims) for t in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Constant":
            for a in node.attribute:
                if a.name == "value":
                    out[node.output[0]] = tuple(a.t.dims)
    return out


def embedding_rows(model: onnx.ModelProto, name: str) -> Optional[Tuple[int, str]]:
    """(rows, node name) of the smallest constant table that input ``name`` indexes through a Gather, following
    value-keeping ops (Identity, Reshape, Unsqueeze, ..., Cast to an integer type); None when there is none."""
    consts = _constants(model)
    consumers: Dict[str, list] = {}
    for node in model.graph.node:
        for i, x in enumerate(node.input):
            consumers.setdefault(x, []).append((node, i))
    best: Optional[Tuple[int, str]] = None
    seen, todo = set(), [name]
    while todo:
        value = todo.pop()
        if value in seen:
            continue
        seen.add(value)
        for node, slot in consumers.get(value, []):
            if node.op_type == "Gather" and slot == 1 and node.input[0] in consts:
                axis = next((a.i for a in node.attribute if a.name == "axis"), 0)
                table = consts[node.input[0]]
                rows = int(table[axis]) if table else 0
                if rows > 0 and (best is None or rows < best[0]):
                    best = (rows, node.name or node.output[0])
            elif slot == 0 and (node.op_type in _FOLLOW or (node.op_type == "Cast" and any(
                    a.name == "to" and a.i in _INT_TYPES for a in node.attribute))):
                todo.extend(node.output)
    return best


def input_kinds(model: Optional[onnx.ModelProto], dtypes: Mapping[str, str],
                ranges: Optional[Mapping[str, Range]] = None,
                loaded: Optional[Mapping[str, str]] = None) -> Dict[str, InputKind]:
    """What each input is (see the module's docstring); ``model`` None (a prebuilt plan) skips the graph."""
    ranges, loaded = ranges or {}, loaded or {}
    out: Dict[str, InputKind] = {}
    for name, dtype in dtypes.items():
        kind = np.dtype(dtype).kind
        if name in loaded:
            out[name] = InputKind("loaded", source=f"--loadInputs {loaded[name]}")
        elif name in ranges:
            if kind == "b":
                raise UserError(f"--input-range {name}: the input is bool, which has no range: leave it out")
            lo, hi = ranges[name]
            if kind in "iu":
                if lo != int(lo) or hi != int(hi):
                    raise UserError(f"--input-range {name}: the input is {dtype}: give integer ends, e.g. {name}:0,999")
                lo, hi = int(lo), int(hi)
                info = np.iinfo(np.dtype(dtype))
                if lo < info.min or hi > info.max:
                    raise UserError(f"--input-range {name}: {lo}..{hi} does not fit {dtype} ({info.min}..{info.max})")
            out[name] = InputKind("range", lo, hi, "--input-range")
        elif kind in "iu" and model is not None and embedding_rows(model, name) is not None:
            rows, node = embedding_rows(model, name)
            out[name] = InputKind("ids", 0, rows - 1, f"rows of the embedding Gather {node!r}")
        elif "mask" in name.lower() and kind in "iufb":
            out[name] = InputKind("mask", source="an attention mask, by its name")
        elif kind == "f":
            out[name] = InputKind("float")
        elif kind == "b":
            out[name] = InputKind("bool")
        elif kind in "iu":
            out[name] = InputKind("int", 0, 9, f"a guess: no embedding Gather shows the range; give --input-range "
                                               f"{name}:LO,HI")
        else:
            raise UserError(f"input {name} has dtype {dtype}, which trtbench cannot generate data for: give it "
                            f"with --loadInputs {name}:FILE.npy")
    return out


def generate(kinds: Mapping[str, InputKind], dtypes: Mapping[str, str], shapes: Mapping[str, Sequence[int]],
             seed: int = 0, loaded: Optional[Mapping[str, np.ndarray]] = None) -> Dict[str, np.ndarray]:
    """Seeded data of each kind at ``shapes`` (loaded arrays passed through)."""
    rng = np.random.default_rng(seed)
    out: Dict[str, np.ndarray] = {}
    for name in sorted(shapes):
        shape, dtype, k = tuple(shapes[name]), np.dtype(dtypes[name]), kinds[name]
        if k.kind == "loaded":
            out[name] = (loaded or {})[name]
        elif k.kind == "mask":
            out[name] = np.ones(shape, dtype)
        elif k.kind == "float":
            out[name] = rng.standard_normal(shape).astype(dtype)
        elif k.kind == "bool":
            out[name] = rng.integers(0, 2, size=shape).astype(bool)
        elif dtype.kind == "f":  # a range on a float input
            out[name] = rng.uniform(k.low, k.high, size=shape).astype(dtype)
        else:
            out[name] = rng.integers(int(k.low), int(k.high) + 1, size=shape).astype(dtype)
    return out


def make_inputs(dtypes: Dict[str, str], shapes: Dict[str, Sequence[int]], seed: int = 0) -> Dict[str, np.ndarray]:
    """Seeded data by dtype alone: normal floats, small non-negative integers (0..9), random bools."""
    kinds = {n: InputKind({"f": "float", "b": "bool"}.get(np.dtype(d).kind, "int"), 0, 9) for n, d in dtypes.items()}
    bad = [n for n, d in dtypes.items() if np.dtype(d).kind not in "fbiu"]
    if bad:
        raise ValueError(f"input {bad[0]} has dtype {dtypes[bad[0]]}, which trtbench cannot generate data for")
    return generate(kinds, dtypes, shapes, seed)


def read_array(name: str, path: str) -> np.ndarray:
    """The array for input ``name`` from an ``.npy`` file, or from the array of that name in an ``.npz``."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"--loadInputs {name}: file {path} does not exist: check the path")
    try:
        data = np.load(str(p), allow_pickle=False)
    except Exception as exc:
        raise UserError(f"--loadInputs {name}: {path} is not a numpy .npy/.npz file ({type(exc).__name__}): "
                        f"save it with numpy.save or numpy.savez") from None
    if isinstance(data, np.ndarray):
        return data
    with data:
        if name not in data.files:
            raise UserError(f"--loadInputs: {path} has no array named {name!r} (it has {', '.join(data.files)}): "
                            f"name each array after its input")
        return data[name]


def check_array(name: str, arr: np.ndarray, dtype: str, shape: Sequence, origin: str) -> None:
    """A one-line UserError when ``arr`` does not fit input ``name`` (dtype, rank, then shape; ``shape`` may hold
    None or a symbol for a dim any size fits)."""
    if arr.dtype != np.dtype(dtype):
        raise UserError(f"--loadInputs {name}: {origin} holds {arr.dtype}, the input is {dtype}: convert it with "
                        f".astype({dtype!r})")
    if arr.ndim != len(shape):
        raise UserError(f"--loadInputs {name}: {origin} has rank {arr.ndim} (shape {tuple(arr.shape)}), the input has "
                        f"rank {len(shape)}: reshape the array")
    bad = [i for i, (a, d) in enumerate(zip(arr.shape, shape)) if isinstance(d, int) and a != d]
    if bad:
        want = "x".join(str(d) if isinstance(d, int) else "*" for d in shape)
        raise UserError(f"--loadInputs {name}: {origin} has shape {'x'.join(map(str, arr.shape))}, the input runs at "
                        f"{want} (axis {bad[0]} differs): give an array of that shape")


def load_feeds(loaded: Mapping[str, str], dtypes: Mapping[str, str], shapes: Mapping[str, Sequence[int]]
               ) -> Dict[str, np.ndarray]:
    """The loaded arrays, each checked against its input's dtype and run shape."""
    out = {}
    for name, path in loaded.items():
        if name not in dtypes:
            raise UserError(f"--loadInputs names input {name!r}; the model's inputs are {', '.join(dtypes)}")
        arr = read_array(name, path)
        check_array(name, arr, dtypes[name], tuple(shapes[name]), path)
        out[name] = np.ascontiguousarray(arr)
    return out


def model_feeds(model: Optional[onnx.ModelProto], dtypes: Mapping[str, str], shapes: Mapping[str, Sequence[int]],
                seed: int = 0, ranges: Optional[Mapping[str, Range]] = None,
                loaded: Optional[Mapping[str, str]] = None) -> Tuple[Dict[str, np.ndarray], Dict[str, str]]:
    """(feeds, how each input was made) for one run shape of a model (``model`` None: a prebuilt plan)."""
    unknown = sorted(set(ranges or {}) - set(dtypes))
    if unknown:
        raise UserError(f"--input-range names input {unknown[0]!r}; the model's inputs are {', '.join(dtypes)}")
    kinds = input_kinds(model, dtypes, ranges, loaded)
    arrays = load_feeds(loaded or {}, dtypes, shapes)
    feeds = generate(kinds, dtypes, shapes, seed, arrays)
    return feeds, {n: kinds[n].describe(str(np.dtype(dtypes[n]))) for n in sorted(dtypes)}
