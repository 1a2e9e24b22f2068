"""Built-in models, generated in code with deterministic weights (no downloads).

Each is small enough to benchmark on a 2-core CPU in seconds, but built from the operators real
models use, so every runtime exercises real kernels:

- ``resnet``: a ResNet-style CNN (conv stem, two residual stages with BatchNorm, global pooling, FC).
- ``mlp``: a three-layer perceptron (MatMul + bias + ReLU).
- ``transformer``: one pre-norm encoder block (LayerNorm, multi-head self-attention, GELU feed-forward).
- ``encoder``: a small BERT-style encoder over int64 ``input_ids`` and ``attention_mask`` [batch, seq]
  (embedding Gather, sliced positions, masked attention as an additive bias); ``seq`` is a second dynamic
  dim, 32 unless ``--dim seq=...`` sweeps it (``BuiltinModel.dims``).

All have a dynamic batch dimension named ``batch``, opset 17 and IR version 8, which onnxruntime,
TensorRT 8.6's parser and onnx2torch all read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 8
BATCH_DIM = "batch"
SEQ_DIM = "seq"


@dataclass(frozen=True)
class BuiltinModel:
    name: str
    description: str
    build: Callable[[], onnx.ModelProto]
    dims: Tuple[Tuple[str, int], ...] = ()  # sizes of its named dynamic dims when no --dim sweeps them


class _Graph:
    """A tiny builder that names nodes and initializers and keeps weights deterministic."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.nodes: List[onnx.NodeProto] = []
        self.inits: List[onnx.TensorProto] = []
        self._n = 0

    def _name(self, prefix: str) -> str:
        self._n += 1
        return f"{prefix}_{self._n}"

    def const(self, prefix: str, value: np.ndarray) -> str:
        name = self._name(prefix)
        self.inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def weight(self, prefix: str, shape: Tuple[int, ...], fan_in: int) -> str:
        w = self.rng.standard_normal(shape).astype(np.float32) * np.float32(np.sqrt(2.0 / fan_in))
        return self.const(prefix, w)

    def op(self, op_type: str, inputs: List[str], **attrs) -> str:
        out = self._name(op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=out, **attrs))
        return out

    def model(self, name: str, inputs, outputs) -> onnx.ModelProto:
        graph = helper.make_graph(self.nodes, name, inputs, outputs, initializer=self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                  producer_name="trtbench")
        model.ir_version = IR_VERSION
        onnx.checker.check_model(model)
        return model


def _io(name: str, shape) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def _conv_bn(g: _Graph, x: str, cin: int, cout: int, stride: int, relu: bool) -> str:
    w = g.weight("conv_w", (cout, cin, 3, 3), cin * 9)
    y = g.op("Conv", [x, w], kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[stride, stride])
    scale = g.const("bn_scale", (1.0 + 0.1 * g.rng.standard_normal(cout)).astype(np.float32))
    bias = g.const("bn_bias", (0.1 * g.rng.standard_normal(cout)).astype(np.float32))
    mean = g.const("bn_mean", (0.1 * g.rng.standard_normal(cout)).astype(np.float32))
    var = g.const("bn_var", (1.0 + 0.1 * np.abs(g.rng.standard_normal(cout))).astype(np.float32))
    y = g.op("BatchNormalization", [y, scale, bias, mean, var], epsilon=1e-5)
    return g.op("Relu", [y]) if relu else y


def _residual(g: _Graph, x: str, cin: int, cout: int, stride: int) -> str:
    y = _conv_bn(g, x, cin, cout, stride, relu=True)
    y = _conv_bn(g, y, cout, cout, 1, relu=False)
    if stride != 1 or cin != cout:
        w = g.weight("proj_w", (cout, cin, 1, 1), cin)
        x = g.op("Conv", [x, w], kernel_shape=[1, 1], strides=[stride, stride])
    return g.op("Relu", [g.op("Add", [x, y])])


def make_resnet(image: int = 32, classes: int = 10) -> onnx.ModelProto:
    g = _Graph(seed=1)
    x = _conv_bn(g, "input", 3, 16, 1, relu=True)
    x = _residual(g, x, 16, 16, 1)
    x = _residual(g, x, 16, 32, 2)
    x = _residual(g, x, 32, 64, 2)
    x = g.op("GlobalAveragePool", [x])
    x = g.op("Flatten", [x], axis=1)
    w = g.weight("fc_w", (classes, 64), 64)
    b = g.const("fc_b", np.zeros(classes, np.float32))
    g.nodes.append(helper.make_node("Gemm", [x, w, b], ["logits"], name="fc", transB=1))
    return g.model("resnet", [_io("input", [BATCH_DIM, 3, image, image])], [_io("logits", [BATCH_DIM, classes])])


def make_mlp(features: int = 256, hidden: int = 512, classes: int = 10) -> onnx.ModelProto:
    g = _Graph(seed=2)
    x = "features"
    for i, (cin, cout) in enumerate([(features, hidden), (hidden, hidden), (hidden, classes)]):
        w = g.weight("w", (cin, cout), cin)
        b = g.const("b", (0.01 * g.rng.standard_normal(cout)).astype(np.float32))
        x = g.op("Add", [g.op("MatMul", [x, w]), b])
        if i < 2:
            x = g.op("Relu", [x])
    g.nodes.append(helper.make_node("Identity", [x], ["logits"], name="out"))
    return g.model("mlp", [_io("features", [BATCH_DIM, features])], [_io("logits", [BATCH_DIM, classes])])


def _layer_norm(g: _Graph, x: str, dim: int) -> str:
    # Written out (ReduceMean/Sub/Pow/Sqrt/Div), as PyTorch exports LayerNorm below opset 17: onnx2torch
    # 1.5.8 has no converter for the fused LayerNormalization operator, and TensorRT fuses this pattern.
    scale = g.const("ln_scale", np.ones(dim, np.float32))
    bias = g.const("ln_bias", np.zeros(dim, np.float32))
    eps = g.const("ln_eps", np.array(1e-5, np.float32))
    two = g.const("two", np.array(2.0, np.float32))
    mean = g.op("ReduceMean", [x], axes=[-1], keepdims=1)
    centered = g.op("Sub", [x, mean])
    var = g.op("ReduceMean", [g.op("Pow", [centered, two])], axes=[-1], keepdims=1)
    normed = g.op("Div", [centered, g.op("Sqrt", [g.op("Add", [var, eps])])])
    return g.op("Add", [g.op("Mul", [normed, scale]), bias])


def _linear(g: _Graph, x: str, cin: int, cout: int) -> str:
    w = g.weight("w", (cin, cout), cin)
    b = g.const("b", (0.01 * g.rng.standard_normal(cout)).astype(np.float32))
    return g.op("Add", [g.op("MatMul", [x, w]), b])


def _gelu(g: _Graph, x: str) -> str:
    # GELU(x) = 0.5 x (1 + erf(x / sqrt 2)); the Gelu operator only exists from opset 20.
    inv_sqrt2 = g.const("inv_sqrt2", np.array(1.0 / np.sqrt(2.0), np.float32))
    one = g.const("one", np.array(1.0, np.float32))
    half = g.const("half", np.array(0.5, np.float32))
    e = g.op("Erf", [g.op("Mul", [x, inv_sqrt2])])
    return g.op("Mul", [g.op("Mul", [x, half]), g.op("Add", [e, one])])


def _attention(g: _Graph, h: str, dim: int, heads: int, bias: Optional[str] = None) -> str:
    """Multi-head self-attention over [B, S, D]; ``bias`` ([B, 1, 1, S]) is added to the scores (a mask)."""
    head_dim = dim // heads
    # [B, S, D] -> [B, S, H, Dh] -> [B, H, S, Dh]; 0 in the Reshape target copies the (dynamic) batch/sequence.
    split = g.const("heads_shape", np.array([0, 0, heads, head_dim], np.int64))
    q, k, v = (g.op("Transpose", [g.op("Reshape", [_linear(g, h, dim, dim), split])], perm=[0, 2, 1, 3])
               for _ in range(3))
    kt = g.op("Transpose", [k], perm=[0, 1, 3, 2])
    scale = g.const("attn_scale", np.array(1.0 / np.sqrt(head_dim), np.float32))
    scores = g.op("Mul", [g.op("MatMul", [q, kt]), scale])
    if bias is not None:
        scores = g.op("Add", [scores, bias])
    attn = g.op("Softmax", [scores], axis=-1)
    ctx = g.op("Transpose", [g.op("MatMul", [attn, v])], perm=[0, 2, 1, 3])
    merge = g.const("merge_shape", np.array([0, 0, dim], np.int64))
    return _linear(g, g.op("Reshape", [ctx, merge]), dim, dim)


def make_transformer(seq: int = 32, dim: int = 128, heads: int = 4, ff: int = 512) -> onnx.ModelProto:
    g = _Graph(seed=3)
    x = "tokens"
    h = _layer_norm(g, x, dim)
    x = g.op("Add", [x, _attention(g, h, dim, heads)])
    h = _layer_norm(g, x, dim)
    h = _linear(g, _gelu(g, _linear(g, h, dim, ff)), ff, dim)
    g.nodes.append(helper.make_node("Add", [x, h], ["hidden"], name="residual_out"))
    return g.model("transformer", [_io("tokens", [BATCH_DIM, seq, dim])], [_io("hidden", [BATCH_DIM, seq, dim])])


def make_encoder(vocab: int = 1000, positions: int = 2048, dim: int = 64, heads: int = 2, ff: int = 256,
                 layers: int = 2) -> onnx.ModelProto:
    """A BERT-style encoder: int64 ``input_ids`` and ``attention_mask`` of shape [batch, seq], both dynamic.

    Token embedding (Gather over a [vocab, dim] table: ids 0..vocab-1), learned positions (the first ``seq``
    rows of a [positions, dim] table, sliced at run time), LayerNorm, then post-norm blocks of masked
    self-attention and a GELU feed-forward. The mask enters as an additive bias on the scores: 0 where the
    mask is 1, -10000 where it is 0. Written with opset-17 operators TensorRT 8.6 parses and onnx2torch 1.5.8 converts (LayerNorm
    written out, no LayerNormalization operator)."""
    g = _Graph(seed=4)
    word = g.weight("word_embeddings", (vocab, dim), dim)
    pos_table = g.weight("position_embeddings", (positions, dim), dim)
    x = g.op("Gather", [word, "input_ids"], axis=0)  # [B, S, D]
    seq_len = g.op("Gather", [g.op("Shape", ["input_ids"]), g.const("seq_axis", np.array([1], np.int64))], axis=0)
    zero = g.const("slice_start", np.array([0], np.int64))
    pos = g.op("Slice", [pos_table, zero, seq_len, zero])  # rows 0..S-1 of the table, axis 0: [S, D]
    x = _layer_norm(g, g.op("Add", [x, pos]), dim)
    # mask 1 = attend, 0 = padding -> bias 0 / -10000. Where over float constants rather than a Cast of the
    # mask to float: the constants follow the module's dtype when PyTorch runs it in fp16/bf16, a Cast would not.
    padding = g.op("Equal", ["attention_mask", g.const("mask_zero", np.array(0, np.int64))])
    bias = g.op("Where", [padding, g.const("mask_value", np.array(-10000.0, np.float32)),
                          g.const("no_bias", np.array(0.0, np.float32))])
    bias = g.op("Unsqueeze", [bias, g.const("bias_axes", np.array([1, 2], np.int64))])  # [B, 1, 1, S]
    for _ in range(layers):
        x = _layer_norm(g, g.op("Add", [x, _attention(g, x, dim, heads, bias)]), dim)
        x = _layer_norm(g, g.op("Add", [x, _linear(g, _gelu(g, _linear(g, x, dim, ff)), ff, dim)]), dim)
    g.nodes.append(helper.make_node("Identity", [x], ["hidden"], name="hidden_out"))
    ids = helper.make_tensor_value_info("input_ids", TensorProto.INT64, [BATCH_DIM, SEQ_DIM])
    mask = helper.make_tensor_value_info("attention_mask", TensorProto.INT64, [BATCH_DIM, SEQ_DIM])
    return g.model("encoder", [ids, mask], [_io("hidden", [BATCH_DIM, SEQ_DIM, dim])])


BUILTIN_MODELS: Dict[str, BuiltinModel] = {
    m.name: m
    for m in (
        BuiltinModel("resnet", "ResNet-style CNN, 3x32x32 -> 10 classes (conv, BatchNorm, residual adds)", make_resnet),
        BuiltinModel("mlp", "three-layer MLP, 256 -> 512 -> 512 -> 10 (MatMul, bias, ReLU)", make_mlp),
        BuiltinModel("transformer", "pre-norm encoder block, 32 tokens x 128 (LayerNorm, 4-head attention, GELU FFN)",
                     make_transformer),
        BuiltinModel("encoder", "BERT-style encoder, int64 input_ids + attention_mask [batch, seq] (vocab 1000, 2 "
                                "post-norm layers of 64 wide, 2-head masked attention; seq up to 2048, 32 unless "
                                "--dim seq=... sweeps it)", make_encoder, dims=(("seq", 32),)),
    )
}


def builtin_names() -> List[str]:
    return sorted(BUILTIN_MODELS)


_CACHE: Dict[str, bytes] = {}


def builtin_model(name: str) -> onnx.ModelProto:
    """The built-in model ``name`` (a fresh copy each call; generation is cached)."""
    if name not in _CACHE:
        _CACHE[name] = BUILTIN_MODELS[name].build().SerializeToString()
    return onnx.load_from_string(_CACHE[name])
