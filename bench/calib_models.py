"""Models with a known amount of extra GPU work, for calibrating the gate on real slowdowns.

``calib_base``: a GPU-bound MLP (batch x 2048 -> 4 x [2048 x 2048 MatMul + ReLU] -> 2048), fp32.
``calib_wNNN``: the same model plus one residual branch ``x + relu(x @ A) @ B`` with A: 2048 x NNN and
B: NNN x 2048 after the last layer: NNN sets how much work is added (about 2 x NNN / (4 x 2048) of the
base's FLOPs). The real GPU-time ratio is measured with the independent clock (bench/bare_trt_clock.py),
never assumed. ``calib_base_c``/``calib_base_c2`` are byte-identical copies under other names, so an
``ab`` job can pair the base with two different models (variants are paired by position).

    python bench/calib_models.py OUTDIR [--widths 32,64,96,128,192,256]
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

DIM = 2048
LAYERS = 4


def make(extra_width: int = 0) -> onnx.ModelProto:
    rng = np.random.default_rng(7)  # the same base weights in every model
    inits, nodes = [], []
    x = "x"
    for i in range(LAYERS):
        w = (rng.standard_normal((DIM, DIM)) * np.sqrt(2.0 / DIM)).astype(np.float32)
        inits.append(numpy_helper.from_array(w, f"w{i}"))
        nodes += [helper.make_node("MatMul", [x, f"w{i}"], [f"m{i}"]), helper.make_node("Relu", [f"m{i}"], [f"h{i}"])]
        x = f"h{i}"
    if extra_width:
        r = np.random.default_rng(1000 + extra_width)
        a = (r.standard_normal((DIM, extra_width)) * np.sqrt(2.0 / DIM)).astype(np.float32)
        b = (r.standard_normal((extra_width, DIM)) * np.sqrt(1.0 / extra_width) * 0.1).astype(np.float32)
        inits += [numpy_helper.from_array(a, "xa"), numpy_helper.from_array(b, "xb")]
        nodes += [helper.make_node("MatMul", [x, "xa"], ["e1"]), helper.make_node("Relu", ["e1"], ["e2"]),
                  helper.make_node("MatMul", ["e2", "xb"], ["e3"]), helper.make_node("Add", [x, "e3"], ["hx"])]
        x = "hx"
    nodes.append(helper.make_node("Identity", [x], ["y"]))
    g = helper.make_graph(nodes, "calib", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", DIM])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", DIM])], initializer=inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], producer_name="trtbench-calib")
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--widths", default="32,64,96,128,192,256")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    onnx.save(make(0), out / "calib_base.onnx")
    for copy in ("calib_base_c", "calib_base_c2"):
        shutil.copyfile(out / "calib_base.onnx", out / f"{copy}.onnx")
    for w in (int(x) for x in args.widths.split(",")):
        onnx.save(make(w), out / f"calib_w{w}.onnx")
    print(" ".join(sorted(p.name for p in out.glob("calib_*.onnx"))))


if __name__ == "__main__":
    main()
