"""Models with a known amount of extra GPU work, for calibrating the gate on real slowdowns.

``calib_base``: a GPU-bound MLP (batch x 1024 -> 4 x [MatMul 1024 x 1024 + ReLU] -> 1024), fp32 (16 MB of
weights, so a worker process loads it quickly); at batch 2048 about 17 GFLOP a query.
``calib_kNNN``: the same network with NNN more input features: the first MatMul's K dimension grows from
1024 to 1024 + NNN, so that one kernel does more work and nothing else changes (no extra kernel, whose
fixed cost would set a floor under the slowdown: an added branch of four small kernels measured +7.4%
at its smallest). Expected about NNN / 4096 more GPU time; the real ratio is measured with the
independent clock (bench/bare_trt_clock.py), never assumed. ``calib_base_c``/``calib_base_c2`` are
byte-identical copies under other names, so an ``ab`` job can pair the base with two different models
(variants are paired by position).
``calib8_*``: the same with 8 layers (twice the base work, so the same wider first MatMul is about half the
relative slowdown: the ~2% step, since K grows in tiles and +64 already costs +4.4% on 4 layers).

    python bench/calib_models.py OUTDIR [--extra 64,96,128,192,256] [--deep-extra 32,64]
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

DIM = 1024
LAYERS = 4


def make(extra_inputs: int = 0, layers: int = LAYERS) -> onnx.ModelProto:
    rng = np.random.default_rng(7)  # the same weights in every model (the extra input rows come after)
    inits, nodes = [], []
    x = "x"
    for i in range(layers):
        w = (rng.standard_normal((DIM, DIM)) * np.sqrt(2.0 / DIM)).astype(np.float32)
        if i == 0 and extra_inputs:
            more = np.random.default_rng(1000 + extra_inputs).standard_normal((extra_inputs, DIM)).astype(np.float32)
            w = np.concatenate([w, more * np.float32(np.sqrt(2.0 / DIM))])
        inits.append(numpy_helper.from_array(w, f"w{i}"))
        nodes += [helper.make_node("MatMul", [x, f"w{i}"], [f"m{i}"]), helper.make_node("Relu", [f"m{i}"], [f"h{i}"])]
        x = f"h{i}"
    nodes.append(helper.make_node("Identity", [x], ["y"]))
    g = helper.make_graph(nodes, "calib", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                        ["batch", DIM + extra_inputs])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", DIM])], initializer=inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], producer_name="trtbench-calib")
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("--extra", default="64,96,128,192,256", help="extra input features of the slower models")
    ap.add_argument("--deep-extra", default="32,64", help="the same for the 8-layer family (calib8_*); '' for none")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    onnx.save(make(0), out / "calib_base.onnx")
    for copy in ("calib_base_c", "calib_base_c2"):
        shutil.copyfile(out / "calib_base.onnx", out / f"{copy}.onnx")
    for k in (int(x) for x in args.extra.split(",")):
        onnx.save(make(k), out / f"calib_k{k}.onnx")
    if args.deep_extra:
        onnx.save(make(0, 2 * LAYERS), out / "calib8_base.onnx")
        shutil.copyfile(out / "calib8_base.onnx", out / "calib8_base_c.onnx")
        for k in (int(x) for x in args.deep_extra.split(",")):
            onnx.save(make(k, 2 * LAYERS), out / f"calib8_k{k}.onnx")
    print(" ".join(sorted(p.name for p in out.glob("calib*.onnx"))))


if __name__ == "__main__":
    main()
