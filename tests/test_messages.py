"""Messages that say what is true: a 0-sized dim is a size, not a dynamic dim; a too-new opset is one line
that names the opset, what reads it and the fix; a missing onnxruntime kernel is not a batch pin; a folder or a
named pipe given as a model is named as such; a UTF-8 BOM is accepted; options the host timer does not apply
are said on the console and recorded."""

import gzip
import json
import os
from pathlib import Path

import onnx
import onnxruntime
import pytest
from onnx import TensorProto, helper

from tests.helpers import write_run
from trtbench.cli.main import main
from trtbench.errors import UserError
from trtbench.models.inspect import inspect_model
from trtbench.models.loading import load_onnx, resolve_model
from trtbench.models.shapes import make_dynamic
from trtbench.results.store import read_results

RUN = ["run", "--backend", "onnxruntime", "--trials", "1", "--isolation", "inline", "--warmup", "2", "--duration",
       "0.02", "--iterations", "5", "--no-accuracy", "--build-mode", "implicit"]


def _model(op="Relu", elem=TensorProto.FLOAT, shape=("batch", 4), opset=17, ir=8, domain=""):
    x = helper.make_tensor_value_info("x", elem, list(shape))
    y = helper.make_tensor_value_info("y", elem, list(shape))
    imports = [helper.make_opsetid(domain, opset)] + ([helper.make_opsetid("", 17)] if domain else [])
    m = helper.make_model(helper.make_graph([helper.make_node(op, ["x"], ["y"])], "g", [x], [y]),
                          opset_imports=imports)
    m.ir_version = ir
    return m


def _run(capsys, args):
    rc = main(args)
    out, err = capsys.readouterr()
    return rc, out, err


# ---- inspect: a 0-sized dim --------------------------------------------------------------------------
def test_a_zero_sized_dim_is_a_size_not_a_dynamic_dim(tmp_path, capsys):
    m = _model(shape=("batch", 0, 3))
    info = inspect_model(m)
    assert info.inputs[0].shape == ("batch", 0, 3) and info.inputs[0].dynamic_axes == (0,)
    onnx.save(m, tmp_path / "empty.onnx")
    rc, out, _ = _run(capsys, ["inspect", str(tmp_path / "empty.onnx")])
    assert rc == 0 and "batch*x0x3  dynamic axes [0]" in out, out
    rc, out, _ = _run(capsys, ["inspect", str(tmp_path / "empty.onnx"), "--json"])
    assert json.loads(out)["inputs"][0]["shape"] == ["batch", 0, 3]


# ---- onnxruntime: an opset newer than it reads -------------------------------------------------------
def test_an_opset_newer_than_onnxruntime_reads_is_one_line_with_the_fix(tmp_path, capsys):
    onnx.save(_model(opset=99, ir=10), tmp_path / "future.onnx")
    rc, out, err = _run(capsys, RUN + ["-m", str(tmp_path / "future.onnx"), "--batch", "1",
                                       "--results", str(tmp_path / "r")])
    assert rc == 2
    line = next(ln for ln in out.splitlines() if "future-onnxruntime" in ln)
    reason = line.split(": ", 1)[1]
    assert "::" not in reason and "std::" not in reason and len(reason) < 300, reason  # no C++ signature
    assert "opset 99" in reason and f"onnxruntime {onnxruntime.__version__}" in reason, reason
    assert "opset 28" in reason or "up to opset" in reason, reason
    assert "re-export" in reason and "newer onnxruntime" in reason, reason


# ---- a missing kernel is not a batch pin ----------------------------------------------------------------
def test_a_missing_onnxruntime_kernel_is_not_called_a_batch_pin(tmp_path, capsys):
    m = _model(elem=TensorProto.INT16, shape=(2, 4))  # Relu(14) on int16: valid ONNX, no onnxruntime CPU kernel
    dynamic = make_dynamic(m)  # the probe cannot run it at any batch: not a verdict on the batch
    assert inspect_model(dynamic).inputs[0].shape[0] == "batch"
    onnx.save(m, tmp_path / "relu16.onnx")
    rc, out, err = _run(capsys, RUN + ["-m", str(tmp_path / "relu16.onnx"), "--batch", "1,2",
                                       "--results", str(tmp_path / "r")])
    assert rc == 2
    reasons = [ln for ln in out.splitlines() if ln.startswith("  relu16-onnxruntime") and ": skipped: " in ln]
    assert len(reasons) == 2, out
    for ln in reasons:
        assert "pinned" not in ln and "Relu" in ln and "cannot run" in ln, ln


# ---- a folder or a named pipe as a model ---------------------------------------------------------------
def test_a_folder_or_a_named_pipe_given_as_a_model_is_named(tmp_path):
    (tmp_path / "model.onnx").mkdir()
    with pytest.raises(UserError, match="is a folder, not a model file"):
        resolve_model(str(tmp_path / "model.onnx"))
    with pytest.raises(UserError, match="is a folder, not a model file"):
        load_onnx(str(tmp_path / "model.onnx"))
    os.mkfifo(tmp_path / "pipe.onnx")
    for call in (resolve_model, load_onnx):
        with pytest.raises(UserError, match="is a named pipe"):
            call(str(tmp_path / "pipe.onnx"))
    with pytest.raises(UserError, match="does not exist"):
        resolve_model(str(tmp_path / "missing.onnx"))


# ---- a UTF-8 byte order mark -----------------------------------------------------------------------------
BOM = b"\xef\xbb\xbf"


def test_a_byte_order_mark_is_accepted_in_results_benchmark_json_and_matrix_files(tmp_path, capsys):
    path = Path(write_run(tmp_path / "run", {"mlp": [[1.0 + 0.01 * k] * 30 for k in range(3)]}))
    plain = tmp_path / "bom" / "results.jsonl"
    plain.parent.mkdir()
    plain.write_bytes(BOM + path.read_bytes())
    packed = tmp_path / "bomgz" / "results.jsonl.gz"
    packed.parent.mkdir()
    with gzip.open(packed, "wb") as f:
        f.write(BOM + path.read_bytes())
    for p in (plain, packed):
        assert read_results(str(p)).records[0].trial_values("compute") == pytest.approx([1.0, 1.01, 1.02])
    pb = {"machine_info": {"node": "h"}, "commit_info": {}, "benchmarks": [
        {"name": "test_x", "param": "x", "extra_info": {}, "stats": {"median": 0.002, "rounds": 5}}]}
    pb_gz = tmp_path / "pb.json.gz"
    with gzip.open(pb_gz, "wb") as f:
        f.write(BOM + json.dumps(pb).encode())
    for p in (plain, packed, pb_gz):
        rc, _, err = _run(capsys, ["report", str(p), "-o", str(tmp_path / f"report-{p.name}")])
        assert rc == 0, err
    toml = tmp_path / "matrix.toml"
    toml.write_bytes(BOM + b'[matrix]\nmodels = ["mlp"]\nbackends = ["onnxruntime"]\nbatches = [1]\n')
    rc, out, err = _run(capsys, RUN + ["--matrix", str(toml), "--results", str(tmp_path / "r")])
    assert rc == 0, err


# ---- options the host timer does not apply -----------------------------------------------------------------
@pytest.mark.parametrize("flags,said", [(["--mode", "throughput"], "--mode throughput"),
                                        (["--cuda-graph"], "--cuda-graph")])
def test_gpu_timing_options_on_the_host_timer_are_noted_and_recorded(tmp_path, capsys, flags, said):
    rc, out, err = _run(capsys, RUN + ["-m", "mlp", "--batch", "1", "--results", str(tmp_path)] + flags)
    assert rc == 0, err
    notes = [ln for ln in err.splitlines() if ln.startswith("trtbench: note:")]
    assert len(notes) == 1 and said in notes[0] and "host timer" in notes[0], err
    (path,) = tmp_path.glob("*/results.jsonl")
    (rec,) = read_results(str(path)).records
    assert rec.timing["mode"] == "latency" and rec.timing["cuda_graph"] is False
    if said == "--mode throughput":
        assert rec.timing["ignored"] == {"mode": "throughput"}


def test_a_plain_cpu_run_has_no_note(tmp_path, capsys):
    rc, out, err = _run(capsys, RUN + ["-m", "mlp", "--batch", "1", "--results", str(tmp_path)])
    assert rc == 0 and "note:" not in err, err


def test_an_ir_version_newer_than_onnxruntime_reads_is_one_line():
    """The onnxruntime installed here reads every IR version onnx's checker passes, so this is onnxruntime's
    message as 1.14-1.16 print it for an IR 10 model, through the same translation."""
    from trtbench.backends.onnxruntime_backend import _load_failure

    text = ("[ONNXRuntimeError] : 1 : FAIL : Load model from m.onnx failed:/onnxruntime_src/onnxruntime/core/graph/"
            "model.cc:146 onnxruntime::Model::Model(onnx::ModelProto&&, const PathString&, const "
            "IOnnxRuntimeOpSchemaRegistryList*, const onnxruntime::logging::Logger&, const onnxruntime::ModelOptions&) "
            "Unsupported model IR version: 10, max supported IR version: 9")
    reason = str(_load_failure(RuntimeError(text), "CPU", "fp32"))
    assert "IR version 10" in reason and "up to IR version 9" in reason and "::" not in reason, reason


# ---- throughput mode without data transfers ------------------------------------------------------------------
def test_a_throughput_run_without_transfers_has_no_h2d_or_d2h_figures(tmp_path, capsys):
    """On the host timer (CPU): no copies ran, so the results, the summary table and the report have no H2D/D2H
    figures (not ~0 ms ones); the CUDA timers clear them the same way (tests/test_gpu.py, both modes)."""
    rc, out, err = _run(capsys, RUN + ["-m", "mlp", "--batch", "1", "--mode", "throughput", "--no-data-transfers",
                                       "--results", str(tmp_path)])
    assert rc == 0, err
    (path,) = tmp_path.glob("*/results.jsonl")
    (rec,) = read_results(str(path)).records
    (t,) = rec.trials
    assert t.samples.h2d == [] and t.samples.d2h == [] and t.samples.queries >= 5
    assert "h2d" not in t.stats and "d2h" not in t.stats and rec.headline("h2d") is None
    assert rec.timing["data_transfers"] is False and rec.timing["ignored"] == {"mode": "throughput"}
    row = next(ln for ln in out.splitlines() if ln.startswith("mlp-onnxruntime-fp32-implicit-b1"))
    header = next(ln for ln in out.splitlines() if "h2d" in ln and "compute" in ln)
    cells, names = row.split(), header.split()
    assert cells[names.index("h2d")] == "-" and cells[names.index("d2h")] == "-", (header, row)
