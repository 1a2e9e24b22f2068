"""Small ONNX models made in tests (real models, not doubles)."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def pinned_model(batch: int = 4) -> onnx.ModelProto:
    """A static-batch model whose Reshape constant pins the batch (as exporters bake in)."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 2, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 6])
    shape = numpy_helper.from_array(np.array([batch, 6], np.int64), "target")
    g = helper.make_graph([helper.make_node("Reshape", ["x", "target"], ["y"], name="flatten")], "pinned", [x], [y],
                          initializer=[shape])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    return m


def static_model(batch: int = 2) -> onnx.ModelProto:
    """A static-batch model that can be made dynamic (Reshape target uses 0 for the batch)."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 2, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 6])
    shape = numpy_helper.from_array(np.array([0, 6], np.int64), "target")
    w = numpy_helper.from_array(np.full((6, 6), 0.5, np.float32), "w")
    nodes = [helper.make_node("Reshape", ["x", "target"], ["r"]), helper.make_node("MatMul", ["r", "w"], ["y"])]
    g = helper.make_graph(nodes, "static", [x], [y], initializer=[shape, w])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    return m


def old_model() -> onnx.ModelProto:
    """IR 3 / opset 9 style: initializers are also listed as graph inputs; fully static shapes."""
    x = helper.make_tensor_value_info("data", TensorProto.FLOAT, [1, 4])
    wv = helper.make_tensor_value_info("W", TensorProto.FLOAT, [4, 3])
    y = helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 3])
    w = numpy_helper.from_array(np.arange(12, dtype=np.float32).reshape(4, 3), "W")
    g = helper.make_graph([helper.make_node("MatMul", ["data", "W"], ["out"])], "old", [x, wv], [y], initializer=[w])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 9)])
    m.ir_version = 3
    return m


def two_input_model() -> onnx.ModelProto:
    """Dynamic batch and a dynamic sequence axis, two inputs."""
    a = helper.make_tensor_value_info("a", TensorProto.FLOAT, ["batch", "seq", 8])
    b = helper.make_tensor_value_info("b", TensorProto.FLOAT, ["batch", "seq", 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", "seq", 8])
    g = helper.make_graph([helper.make_node("Add", ["a", "b"], ["y"])], "two", [a, b], [y])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    return m


# ---- running sessions and writing results, for the tests ------------------------------------------------
def run_variants(variants, settings, results_dir, *, make_backend=None, progress=None, matrix=None, excluded=(),
                 command="pytest (trtbench tests)"):
    """Run ``variants`` through a ``RunSession`` (the one path every front end takes) into ``results_dir``;
    returns (the session's outcome, the ``RunDocument`` read back from its results file)."""
    from trtbench.results.store import read_results
    from trtbench.run.session import RunSession, plain_arm

    session = RunSession([plain_arm(list(variants), settings)], str(results_dir), command=command,
                         matrices=[matrix.to_dict() if matrix is not None else {}],
                         excluded=[[e.to_dict() for e in excluded]], make_backend=make_backend, progress=progress)
    outcome = session.run()
    return outcome, read_results(outcome.arms[0].path)


def run_matrix(matrix, settings, results_dir, **kw):
    """Plan ``matrix`` as ``trtbench run`` does and run it; the ``RunDocument`` read back from the file."""
    from trtbench.run.plan import plan_matrix

    variants, excluded = plan_matrix(matrix)
    return run_variants(variants, settings, results_dir, matrix=matrix, excluded=excluded, **kw)[1]


def measure_variant(variant, settings, results_dir, **kw):
    """One variant through a session: its ``VariantRecord`` as read back from the results file."""
    _, doc = run_variants([variant], settings, results_dir, **kw)
    (rec,) = doc.records
    return rec


MACHINE = {"host": "test-host", "os": "test-os", "cpu": "test-cpu", "python": "3", "packages": {}, "gpu": None}


def trial_of(compute_ms, index=0, *, round=None, h2d_ms=None, d2h_ms=None, enqueue_ms=None, queries_per_s=None,
             process="inline", compute_timing="host", **kw):
    """A ``Trial`` whose per-query samples are given (compute), with h2d/d2h samples (default 10% of compute),
    latency = h2d + compute + d2h, e2e = latency, enqueue (default = compute, as a host timer has it).
    ``kw``: further Trial fields (eager, telemetry, flags)."""
    from trtbench.results.record import Trial
    from trtbench.timing.samples import RawSamples

    c = [float(x) for x in compute_ms]
    h = [float(x) for x in (h2d_ms if h2d_ms is not None else [x * 0.1 for x in c])]
    d = [float(x) for x in (d2h_ms if d2h_ms is not None else [x * 0.1 for x in c])]
    lat = [a + b + e for a, b, e in zip(h, c, d)]
    wall = len(c) / queries_per_s if queries_per_s else sum(lat) / 1e3
    enq = [float(x) for x in (enqueue_ms if enqueue_ms is not None else c)]
    raw = RawSamples(h2d=h, compute=c, d2h=d, enqueue=enq, latency=lat, e2e=list(lat), walltime_s=wall,
                     warmup_queries=1, timer="host:test")
    return Trial.measured(raw, index=index, round=index if round is None else round, position=0, process=process,
                          reloaded=index == 0, started=float(index), ended=float(index) + 0.5,
                          compute_timing=compute_timing, **kw)


def variant_of(name="mlp", backend="onnxruntime", batch=1, precision="fp32", build_mode="implicit", path=None):
    from trtbench.matrix.spec import Variant
    from trtbench.models.loading import ModelSource

    return Variant(ModelSource(name, path), backend, batch, precision, build_mode)


def write_run(results_dir, trials_by_variant, *, machine=None, settings=None, protocol=None, accuracy=None,
              records=(), finish="complete", run_id=None, timing=None):
    """Write a schema-2 results file with ``ResultsWriter``: ``trials_by_variant`` maps a Variant (or a model
    name, for ``variant_of(name)``) to its trials (``Trial`` objects, or lists of compute samples in ms).
    ``accuracy``: {variant id: accuracy dict}; ``records``: extra non-ok ``VariantRecord``s; ``finish``: the end
    status, or None for a run without an end line; ``timing``: every record's timing facts (default: the host
    timer). Returns the results file's path."""
    from trtbench.results.record import VariantRecord
    from trtbench.results.store import ResultsWriter

    header = {"command": "synthetic (tests)", "machine": dict(machine or MACHINE),
              "settings": dict(settings or {"min_samples": 5, "cv_threshold": 0.025}), "matrix": {}, "excluded": [],
              "protocol": dict(protocol or {})}
    w = ResultsWriter(str(results_dir), header, run_id=run_id)
    for key, trials in trials_by_variant.items():
        v = key if not isinstance(key, str) else variant_of(key)
        trials = [t if not isinstance(t, (list, tuple)) else trial_of(t, i) for i, t in enumerate(trials)]
        rec = VariantRecord(v, v.id, "ok", timing=dict(timing or {"timer": "host"}), planned_trials=len(trials),
                            accuracy=(accuracy or {}).get(v.id))
        w.variant(rec)
        for t in trials:
            w.trial(v.id, t)
    for rec in records:
        w.variant(rec)
    if finish:
        w.finish(finish)
    return str(w.path)


def matmul_model(width: int = 1024, layers: int = 1, seed: int = 0) -> onnx.ModelProto:
    """x [batch, width] -> ``layers`` x (MatMul by a width x width weight, Relu): compute grows with ``layers``,
    the inputs and outputs (and so H2D/D2H) do not."""
    rng = np.random.default_rng(seed)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", width])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", width])
    nodes, inits, prev = [], [], "x"
    for i in range(layers):
        w = (rng.standard_normal((width, width)) / np.sqrt(width)).astype(np.float32)
        inits.append(numpy_helper.from_array(w, f"w{i}"))
        out = "y" if i == layers - 1 else f"h{i}"
        nodes += [helper.make_node("MatMul", [prev, f"w{i}"], [f"m{i}"]), helper.make_node("Relu", [f"m{i}"], [out])]
        prev = out
    g = helper.make_graph(nodes, "matmuls", [x], [y], initializer=inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    return m


def sqrt_model(nan: bool = False) -> onnx.ModelProto:
    """y = sqrt(|x| + 1); with ``nan``: y = sqrt(-|x| - 1), NaN everywhere (a broken candidate)."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 16])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 16])
    one = numpy_helper.from_array(np.array(1.0, np.float32), "one")
    nodes = [helper.make_node("Abs", ["x"], ["a"])]
    if nan:
        nodes += [helper.make_node("Neg", ["a"], ["n"]), helper.make_node("Sub", ["n", "one"], ["s"])]
    else:
        nodes += [helper.make_node("Add", ["a", "one"], ["s"])]
    nodes.append(helper.make_node("Sqrt", ["s"], ["y"]))
    g = helper.make_graph(nodes, "sqrt", [x], [y], initializer=[one])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    return m


def one_line_exit_2(capsys, args, *words):
    """``trtbench ARGS`` in this process: exit 2 and exactly one ``trtbench: error:`` line holding ``words``."""
    from trtbench.cli.main import main

    rc = main(args)
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert rc == 2 and len(lines) == 1 and lines[0].startswith("trtbench: error:"), (rc, err)
    for w in words:
        assert w in lines[0], lines[0]
