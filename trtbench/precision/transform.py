"""Turn an FP32 ONNX model into the model a precision variant runs.

- fp32 / tf32: the model unchanged (TF32 is a backend setting).
- fp16 / fp16-io: onnxruntime's float16 converter (``onnxruntime.transformers.float16``), keeping float32
  inputs/outputs (``fp16``) or converting them too (``fp16-io``).
- int8 / fp8: explicit quantization with Q/DQ nodes by ``onnxruntime.quantization.quantize_static``,
  calibrated on generated data (or a user's ``.npz``), after the steps onnxruntime recommends (opset 13+,
  ``quant_pre_process``; ``precision.quant_prep``), so that old exports (opset 9, IR 3) quantize too.
- bf16 / bf16-io: NVIDIA ModelOpt's AutoCast (``modelopt.onnx.autocast.convert_to_mixed_precision``, the
  ``bf16`` extra), keeping float32 inputs/outputs (``bf16``) or converting them (``bf16-io``). AutoCast
  raises the opset to 22 (the first with bf16 in most operator schemas) and keeps in fp32 the nodes
  whose values, on the calibration data, fall outside its safe range. PyTorch computes bf16 natively
  and does not need the converted model.

Results are cached by (model content hash, precision) in memory for the run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional, Tuple

import numpy as np
import onnx

from trtbench.atomic_files import write_atomically as _atomic_write
from trtbench.errors import NotApplicable, UserError, VariantSkipped
from trtbench.models.inputs import generate, input_kinds
from trtbench.models.inspect import graph_inputs, inspect_model
from trtbench.models.layout import batch_layout
from trtbench.models.loading import model_digest
from trtbench.precision.quant_prep import QuantPrepError, pre_process, quantizable, softmax_names


@dataclass(frozen=True)
class ConvertedModel:
    model: onnx.ModelProto
    method: str  # how the precision was obtained, recorded in results


_CACHE: Dict[Tuple[str, str, Optional[str]], ConvertedModel] = {}


def apply_precision(model: onnx.ModelProto, precision: str, settings=None,
                    calibration: Optional[str] = None) -> ConvertedModel:
    """The model for ``precision``: cached in memory and, with a cache directory, on disk under
    ``<cache>/models/`` keyed by the model's content hash, the precision and the calibration data."""
    calibration = calibration or getattr(settings, "calibration", None)
    key = (model_digest(model), precision, calibration)
    if key in _CACHE:
        return _CACHE[key]
    disk = _disk_path(key, settings) if precision not in ("fp32", "tf32") else None
    cached = _read_cached(disk) if disk is not None else None
    if cached is not None:
        _CACHE[key] = cached
        return cached
    _CACHE[key] = _convert(model, precision, calibration, seed=getattr(settings, "seed", 0))
    if disk is not None:
        _write_cached(disk, _CACHE[key])
    return _CACHE[key]


def _read_cached(disk: Path) -> Optional[ConvertedModel]:
    """A converted model from the disk cache, only when its record (an object with the size and sha256 of the
    model file) matches the file: a truncated or corrupt file, or a damaged record, means convert again."""
    try:
        meta = json.loads(disk.with_suffix(".json").read_text(encoding="utf-8"))
        data = disk.read_bytes()
    except (OSError, ValueError):
        return None
    if not isinstance(meta, dict) or meta.get("size") != len(data) or \
            meta.get("sha256") != hashlib.sha256(data).hexdigest() or not isinstance(meta.get("method"), str):
        return None
    try:
        return ConvertedModel(onnx.load_from_string(data), meta["method"])
    except Exception:  # a file that hashes right but does not parse: convert again
        return None


def _write_cached(disk: Path, converted: ConvertedModel) -> None:
    """Best effort: a cache folder that cannot be written (read-only, full) costs a conversion next time,
    never the variant."""
    data = converted.model.SerializeToString()
    meta = {"method": converted.method, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    try:
        _atomic_write(disk, data)
        _atomic_write(disk.with_suffix(".json"), json.dumps(meta).encode())
    except OSError:
        pass


def _disk_path(key, settings):
    if settings is None or not hasattr(settings, "resolved_cache_dir"):
        return None

    calib = ""
    if key[2]:
        try:
            calib = "-" + hashlib.sha256(Path(key[2]).read_bytes()).hexdigest()[:12]
        except OSError:
            return None
    recipe = "-q2" if key[1] in ("int8", "fp8") else ""  # q2: opset 13+, pre-processing, Softmax calibrated
    return Path(settings.resolved_cache_dir()) / "models" / f"{key[0][:24]}-{key[1]}{recipe}{calib}.onnx"


def _convert(model: onnx.ModelProto, precision: str, calibration: Optional[str], seed: int) -> ConvertedModel:
    if precision in ("fp32", "tf32"):
        return ConvertedModel(model, "none (fp32 model)")
    if precision in ("fp16", "fp16-io"):
        return _to_fp16(model, keep_io=precision == "fp16")
    if precision in ("int8", "fp8"):
        return _quantize(model, precision, calibration, seed)
    if precision in ("bf16", "bf16-io"):
        return _to_bf16(model, keep_io=precision == "bf16", calibration=calibration, seed=seed)
    raise UserError(f"unknown precision {precision!r}")


def _to_fp16(model: onnx.ModelProto, keep_io: bool) -> ConvertedModel:
    from onnxruntime.transformers.float16 import convert_float_to_float16

    try:
        converted = convert_float_to_float16(model, keep_io_types=keep_io, disable_shape_infer=False)
    except Exception as exc:
        raise NotApplicable(f"onnxruntime's float16 converter failed on this model: {exc}") from None
    converted.ir_version = model.ir_version
    return ConvertedModel(converted, "onnxruntime.transformers.float16 (" +
                          ("float32 I/O kept" if keep_io else "float16 I/O") + ")")


def _to_bf16(model: onnx.ModelProto, keep_io: bool, calibration: Optional[str], seed: int) -> ConvertedModel:
    try:
        from modelopt.onnx.autocast import convert_to_mixed_precision
    except Exception as exc:  # not installed (Python < 3.10, or no extra), or a broken install
        raise VariantSkipped(f"bf16 ONNX conversion needs NVIDIA ModelOpt ({type(exc).__name__}: "
                             f"{str(exc).splitlines()[0] if str(exc) else 'cannot import'}): "
                             f"pip install 'trtbench[bf16]' (Python 3.10+)") from None
    feeds = calibration_batches(model, calibration, seed)
    model = _modern_ir(model)
    with tempfile.TemporaryDirectory(prefix="trtbench-bf16-") as tmp, _quiet_modelopt() as log:
        src, data = os.path.join(tmp, "fp32.onnx"), os.path.join(tmp, "data")
        onnx.save(model, src)
        os.mkdir(data)
        for i, feed in enumerate(feeds):  # AutoCast reads a directory of .npz files as batches
            np.savez(os.path.join(data, f"{i:04d}.npz"), **feed)
        try:
            converted = convert_to_mixed_precision(src, low_precision_type="bf16", keep_io_types=keep_io,
                                                   calibration_data=data, providers=["cpu"])
        except Exception as exc:
            why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            if log.errors:  # AutoCast logs the cause and raises "see log for details"
                why = f"{why.rstrip('. ')} ({log.errors[-1]})"
            raise NotApplicable(f"ModelOpt AutoCast could not convert this model to bf16: {why}") from None
    typed = {vi.name: vi.type.tensor_type.elem_type for vi in
             list(converted.graph.value_info) + list(converted.graph.input) + list(converted.graph.output)}
    typed.update({t.name: t.data_type for t in converted.graph.initializer})
    nodes = [n for n in converted.graph.node if n.op_type != "Cast"]
    low = sum(1 for n in nodes if any(typed.get(o) == onnx.TensorProto.BFLOAT16 for o in n.output))
    high = sum(1 for n in nodes if any(typed.get(o) == onnx.TensorProto.FLOAT for o in n.output))
    opset = next((o.version for o in converted.opset_import if o.domain in ("", "ai.onnx")), None)
    return ConvertedModel(converted, f"ModelOpt AutoCast bf16 ({low} nodes in bf16, {high} kept in fp32; "
                                     f"opset {opset}; " + ("float32 I/O kept" if keep_io else "bfloat16 I/O") +
                                     f"; {'user .npz' if calibration else f'{len(feeds)} generated samples'})")


def _modern_ir(model: onnx.ModelProto) -> onnx.ModelProto:
    """Old exporters (IR < 4) list every initializer as a graph input; AutoCast drops those inputs and then
    fails the checker (IR 3 requires them) or its I/O bookkeeping. Hand it the same graph at IR 8 with
    the real inputs only."""

    if model.ir_version >= 4 and len(graph_inputs(model)) == len(model.graph.input):
        return model
    m = onnx.ModelProto()
    m.CopyFrom(model)
    real = [onnx.ValueInfoProto.FromString(vi.SerializeToString()) for vi in graph_inputs(model)]
    del m.graph.input[:]
    m.graph.input.extend(real)
    m.ir_version = max(m.ir_version, 8)
    return m


class _quiet_modelopt:
    """ModelOpt and onnxscript log every step to the console; while converting, their records go to this
    object instead (trtbench's own output stays readable) and their errors are kept for the reason a
    conversion failed. Levels, handlers and propagation are restored afterwards."""

    names = ("modelopt", "modelopt.onnx", "modelopt.onnx.autocast", "onnxscript", "onnx_ir", "polygraphy")

    def __enter__(self):
        self.errors = []
        owner = self

        class _Keep(logging.Handler):
            def emit(self, record):
                owner.errors.append(record.getMessage().replace("Internal error: ", "").strip())

        self._handler = _Keep(logging.ERROR)
        self._saved = {}
        for n in self.names:
            lg = logging.getLogger(n)
            self._saved[n] = (lg.level, list(lg.handlers), lg.propagate)
            lg.handlers = [self._handler]
            lg.propagate = False
            lg.setLevel(logging.ERROR)
        return self

    def __exit__(self, *exc):
        for n, (level, handlers, propagate) in self._saved.items():
            lg = logging.getLogger(n)
            lg.setLevel(level)
            lg.handlers = handlers
            lg.propagate = propagate


class _Reader:
    def __init__(self, batches):
        self._it = iter(batches)

    def get_next(self):
        return next(self._it, None)

    def rewind(self):  # some onnxruntime versions call it
        pass


def calibration_batches(model: onnx.ModelProto, calibration: Optional[str], seed: int, count: int = 8):
    """Calibration feeds: a user's .npz (one array per input, first axis = samples) or generated data (by input
    kind: token ids inside the embedding's range, attention masks of ones). An input without a batch dim (a
    bias vector, a scalar) takes, from the .npz, either an array of its own shape (the same every batch) or
    one per sample (one axis more)."""
    info = inspect_model(model)
    layout = batch_layout(info)
    if calibration:
        try:
            data = np.load(calibration)
        except Exception as exc:
            raise UserError(f"calibration file {calibration} cannot be read ({exc}): give an .npz with one array "
                            f"per model input") from None
        per_sample = {}
        for t in info.inputs:
            if t.name not in data:
                raise UserError(f"calibration file {calibration} has no array for input {t.name!r} "
                                f"(it has {', '.join(data.files)})")
            arr = data[t.name]
            if np.dtype(t.dtype) != arr.dtype:
                raise UserError(f"calibration array {t.name} is {arr.dtype}, the model input is {t.dtype}: "
                                f"convert it with .astype({t.dtype!r})")
            batched = layout.has_batch(t.name)
            per_sample[t.name] = batched or arr.ndim == len(t.shape) + 1
            rest, given = (t.shape[1:], arr.shape[1:]) if batched or per_sample[t.name] else (t.shape, arr.shape)
            if len(given) != len(rest) or any(isinstance(d, int) and d != g for d, g in zip(rest, given)):
                raise UserError(f"calibration array {t.name} has shape {arr.shape}, the model input is "
                                f"{t.shape_text()}: fix the array's shape")
        step = layout.exported or 1  # a static batch
        n = min(data[t.name].shape[0] // (step if layout.has_batch(t.name) else 1)
                for t in info.inputs if per_sample[t.name])
        if n == 0:
            raise UserError(f"calibration file {calibration} has fewer samples than the model's batch {step}")
        feeds = []
        for i in range(n):
            feeds.append({t.name: data[t.name][i * step:(i + 1) * step] if layout.has_batch(t.name)
                          else data[t.name][i] if per_sample[t.name] else data[t.name] for t in info.inputs})
        return feeds
    shapes = {}
    for t in info.inputs:
        shapes[t.name] = [d if isinstance(d, int) else 1 for d in t.shape]
    dtypes = {t.name: t.dtype for t in info.inputs}
    kinds = input_kinds(model, dtypes)
    return [generate(kinds, dtypes, shapes, seed=seed + i) for i in range(count)]


def _quantize(model: onnx.ModelProto, precision: str, calibration: Optional[str], seed: int) -> ConvertedModel:
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    feeds = calibration_batches(model, calibration, seed)
    qtype = QuantType.QInt8 if precision == "int8" else QuantType.QFLOAT8E4M3FN
    try:
        ready, steps = quantizable(model)
    except QuantPrepError as exc:
        raise NotApplicable(f"{precision} quantization: {exc}") from None
    with tempfile.TemporaryDirectory(prefix="trtbench-q-") as tmp:
        src, pre, dst = (os.path.join(tmp, f) for f in ("fp32.onnx", "pre.onnx", f"{precision}.onnx"))
        onnx.save(ready, src)
        steps.append(pre_process(src, pre))
        softmax = softmax_names(onnx.load(pre))
        try:
            # TensorRT's explicit-quantization recipe: Q/DQ on the inputs of Conv/MatMul/Gemm only,
            # symmetric scales, biases left in float (TensorRT rejects quantized bias/BatchNorm inputs).
            # Softmax is calibrated but never quantized (see quant_prep: onnxruntime 1.18-1.19 need its range).
            quantize_static(pre, dst, _Reader(feeds), quant_format=QuantFormat.QDQ, activation_type=qtype,
                            weight_type=qtype, per_channel=precision == "int8",
                            op_types_to_quantize=["Conv", "MatMul", "Gemm"] + (["Softmax"] if softmax else []),
                            nodes_to_exclude=softmax,
                            # onnxruntime calibrates float8 only with the Distribution method
                            calibrate_method=CalibrationMethod.MinMax if precision == "int8"
                            else CalibrationMethod.Distribution,
                            extra_options={"ActivationSymmetric": True, "WeightSymmetric": True,
                                           "QuantizeBias": False})
        except Exception as exc:
            why = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
            if precision == "fp8" and softmax and "'avg' and/or 'std' missing" in why:
                why = ("onnxruntime 1.18-1.19 give a Softmax output the range 0..1 without the statistics their "
                       "fp8 scale needs (1.16, 1.17 and 1.20+ quantize it): use another onnxruntime")
            raise NotApplicable(f"onnxruntime quantize_static ({precision}) failed on this model: {why}") from None
        quantized = onnx.load(dst)
    return ConvertedModel(quantized, f"onnxruntime.quantization.quantize_static (QDQ, {precision}, "
                                     f"{'MinMax' if precision == 'int8' else 'Distribution'}, "
                                     f"{'user .npz' if calibration else f'{len(feeds)} generated samples'}; "
                                     f"{'; '.join(steps)})")
