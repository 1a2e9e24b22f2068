"""Any dynamic dim is an axis (--dim), inputs without a batch dim are held fixed, independent dims and scalar
inputs work (issue #15, requirements 1 and 4). Real models on onnxruntime's CPU provider."""

import numpy as np
import pytest

from tests.shape_models import bias_scalar_model, independent_dims_model, run_matrix, save, scalar_only_model
from trtbench.backends.prepare import prepare_model
from trtbench.config.configure import configure
from trtbench.config.inputs import parse_dims
from trtbench.errors import NotApplicable, UserError
from trtbench.matrix.expand import expand
from trtbench.matrix.spec import Matrix, ShapeProfile, Variant
from trtbench.models.builtin import builtin_model
from trtbench.models.inspect import inspect_model
from trtbench.models.layout import batch_layout, named_dims
from trtbench.models.loading import ModelSource
from trtbench.models.shapes import make_dynamic
from trtbench.run.plan import plan_matrix

ENC = ModelSource("encoder")


# --- --dim: parsing, expansion, profiles ---------------------------------------------------------------------

def test_dim_option_and_matrix_file_give_the_same_axis(tmp_path):
    assert parse_dims(["seq=128,512", "seq=64"]) == (("seq", (64,)),)  # a repeated name: the last wins
    assert parse_dims(["seq=128, 512,128", "past=1"]) == (("seq", (128, 512)), ("past", (1,)))
    f = tmp_path / "m.toml"
    f.write_text('[matrix]\nmodels = ["encoder"]\ndims = {seq = [128, 512]}\n')
    assert configure({"matrix": str(f)})[0].dims == (("seq", (128, 512)),)
    assert configure({"matrix": str(f), "dims": ["seq=16"]})[0].dims == (("seq", (16,)),)  # the flag overrides


@pytest.mark.parametrize("raw,message", [
    ("seq", "write NAME=V1,V2"), ("seq=", "write NAME=V1,V2"), ("=128", "write NAME=V1,V2"),
    ("seq=0", "positive integers"), ("seq=1.5", "positive integers"), ("seq=a", "positive integers"),
    ("batch=8", "sweep the batch with --batch"), ("se q=8", "write NAME=V1,V2"),
])
def test_bad_dim_values_are_one_line_errors(raw, message):
    with pytest.raises(UserError, match=message):
        parse_dims([raw])


@pytest.mark.parametrize("toml", ['dims = [128]', 'dims = {seq = []}', 'dims = {seq = [0]}', 'dims = {seq = ["8"]}',
                                  'dims = {seq = 8}'])
def test_bad_matrix_file_dims_name_the_file(tmp_path, toml):
    f = tmp_path / "m.toml"
    f.write_text(f"[matrix]\n{toml}\n")
    with pytest.raises(UserError, match="matrix file .*dims"):
        configure({"matrix": str(f)})


def test_explicit_profile_spans_the_swept_values_and_the_value_is_in_the_id():
    m = Matrix((ENC,), ("onnxruntime",), (1, 8), build_modes=("explicit", "implicit"),
               dims=(("seq", (128, 512, 2048)),))
    variants, _ = expand(m)
    explicit = [v for v in variants if v.build_mode == "explicit"]
    assert {v.profile.dims for v in explicit} == {(("seq", (128, 512, 2048)),)}
    assert "encoder-onnxruntime-fp32-explicit-auto-seq512-b8" in {v.id for v in variants}
    assert "encoder-onnxruntime-fp32-implicit-seq2048-b1" in {v.id for v in variants}
    assert len(variants) == 2 * 2 * 3
    named = Matrix((ENC,), ("onnxruntime",), (1,), build_modes=("explicit",), dims=(("seq", (16, 64)),),
                   profiles=(ShapeProfile("dyn", batch=(1, 1, 4)),))
    assert {v.profile.dims for v in expand(named)[0]} == {(("seq", (16, 64, 64)),)}
    assert ShapeProfile.from_dict(expand(named)[0][0].profile.to_dict()) == expand(named)[0][0].profile


def test_prepare_gives_every_input_the_swept_dim():
    model = builtin_model("encoder")
    p = ShapeProfile("auto", batch=(1, 4, 8), dims=(("seq", (128, 512, 2048)),))
    prep = prepare_model(Variant(ENC, "onnxruntime", 2, "fp32", "explicit", p, dims=(("seq", 512),)), model)
    assert prep.min_shapes == {"input_ids": (1, 128), "attention_mask": (1, 128)}
    assert prep.opt_shapes["input_ids"] == (4, 512) and prep.max_shapes["attention_mask"] == (8, 2048)
    assert prep.run_shapes == {"input_ids": (2, 512), "attention_mask": (2, 512)}
    static = prepare_model(Variant(ENC, "onnxruntime", 3, "fp32", "implicit", dims=(("seq", 64),)), model)
    assert [t.shape for t in static.info.inputs] == [(3, 64), (3, 64)] and static.static
    assert static.info.outputs[0].shape == (3, 64, 64)
    with pytest.raises(NotApplicable, match="--dim seq=128,512"):  # no size for seq: said how to give it
        prepare_model(Variant(ENC, "onnxruntime", 1, "fp32", "implicit"), model)


def test_the_encoder_runs_at_each_swept_length_in_both_build_modes(tmp_path):
    recs, _ = run_matrix(tmp_path, models=["encoder"], batches=["1,2"], dims=["seq=8,16,32"])
    assert len(recs) == 12 and all(r.status == "ok" for r in recs.values()), {k: r.reason for k, r in recs.items()}
    r = recs["encoder-onnxruntime-fp32-explicit-auto-seq16-b2"]
    assert r.shapes["run"] == {"input_ids": [2, 16], "attention_mask": [2, 16]}
    assert r.shapes["max"]["input_ids"] == [2, 32] and r.variant.dims == (("seq", 16),)
    assert all(not (x.accuracy or {}).get("inaccurate") for x in recs.values())


def test_swept_dims_apply_per_model_and_unknown_names_are_user_errors(tmp_path):
    m = Matrix((ENC, ModelSource("mlp")), ("onnxruntime",), (1,), build_modes=("implicit",), dims=(("seq", (8, 16)),))
    variants, excluded = plan_matrix(m)
    assert sorted(v.id for v in variants) == ["encoder-onnxruntime-fp32-implicit-seq16-b1",
                                              "encoder-onnxruntime-fp32-implicit-seq8-b1", "mlp-onnxruntime-fp32-implicit-b1"]
    assert [e.reason for e in excluded] == ["model mlp has no dynamic dim named 'seq': it runs once without it "
                                            "(seq=16 dropped)"]
    with pytest.raises(UserError, match="no model of the matrix has a dynamic dim named 'sequence'"):
        plan_matrix(Matrix((ENC,), ("onnxruntime",), (1,), dims=(("sequence", (8,)),)))
    default, _ = plan_matrix(Matrix((ENC,), ("onnxruntime",), (1,), build_modes=("implicit",)))
    assert [v.id for v in default] == ["encoder-onnxruntime-fp32-implicit-seq32-b1"]  # the built-in's default


# --- which inputs have the batch ----------------------------------------------------------------------------

def test_bias_and_scalar_inputs_have_no_batch():
    for model in (bias_scalar_model(), bias_scalar_model(static_batch=1)):
        layout = batch_layout(inspect_model(model))
        assert layout.inputs == ("x",)
    assert batch_layout(inspect_model(bias_scalar_model(static_batch=1))).exported == 1
    d = make_dynamic(bias_scalar_model(static_batch=1))  # was "pinned at 8": the bias vector is not a batch
    assert [t.shape for t in inspect_model(d).inputs] == [("batch", 8), (8,), ()]
    assert named_dims(inspect_model(independent_dims_model())) == {"m": [("b", 0)]}


@pytest.mark.parametrize("static", [None, 2])
def test_a_model_with_a_bias_vector_and_a_scalar_runs_at_every_batch(tmp_path, static):
    path = save(bias_scalar_model(static_batch=static), tmp_path / "bias.onnx")
    recs, excluded = run_matrix(tmp_path, models=[path], batches=["1,8"])
    assert len(recs) == 4 and not excluded
    assert all(r.status == "ok" for r in recs.values()), {k: r.reason for k, r in recs.items()}
    r = recs["bias-onnxruntime-fp32-explicit-auto-b8"]
    assert r.shapes["run"] == {"x": [8, 8], "bias": [8], "scale": []}
    assert r.shapes["min"] == {"x": [1, 8], "bias": [8], "scale": []}
    assert r.accuracy["rel_l2"] == 0.0
    assert recs["bias-onnxruntime-fp32-implicit-b1"].shapes["run"]["scale"] == []


def test_scalar_inputs_implicit_and_explicit(tmp_path):
    path = save(scalar_only_model(), tmp_path / "scalar.onnx")
    recs, _ = run_matrix(tmp_path, models=[path], batches=["1,8"])
    ok = {k for k, r in recs.items() if r.status == "ok"}
    assert ok == {"scalar-onnxruntime-fp32-implicit-b1", "scalar-onnxruntime-fp32-explicit-auto-b1"}
    assert all(r.shapes["run"] == {"s": []} for k, r in recs.items() if k in ok)
    skipped = recs["scalar-onnxruntime-fp32-implicit-b8"]
    assert skipped.status == "skipped" and "runs at batch 1 only" in skipped.reason
    assert all(recs[k].accuracy["rel_l2"] == 0.0 for k in ok)


# --- independent dims ---------------------------------------------------------------------------------------

def test_per_input_profile_with_different_first_dims_runs(tmp_path):
    """Was: exit 3, ShapeProfile.batch_range ValueError. The batch is a's first dim (the first input); b's first
    dim m is a named dim, from the profile or --dim."""
    path = save(independent_dims_model(), tmp_path / "indep.onnx")
    prof = {"min_shapes": "a:1x4,b:2x4", "opt_shapes": "a:4x4,b:6x4", "max_shapes": "a:8x4,b:16x4"}
    assert ShapeProfile("p", inputs=()).batch_range() is None
    recs, excluded = run_matrix(tmp_path, models=[path], batches=["1,4,32"], build_modes=["explicit"], **prof)
    assert sorted(recs) == ["indep-onnxruntime-fp32-explicit-shapes-b1", "indep-onnxruntime-fp32-explicit-shapes-b4"]
    assert all(r.status == "ok" for r in recs.values())
    assert recs["indep-onnxruntime-fp32-explicit-shapes-b4"].shapes["run"] == {"a": [4, 4], "b": [6, 4]}
    assert [e.reason for e in excluded] == ["batch 32 is outside profile shapes for input a axis 0 (1..8)"]
    swept, _ = run_matrix(tmp_path, models=[path], batches=["2"], dims=["m=3,5"], **prof, build_modes=["explicit"])
    assert {k: r.shapes["run"]["b"] for k, r in swept.items()} == {
        "indep-onnxruntime-fp32-explicit-shapes-m3-b2": [3, 4], "indep-onnxruntime-fp32-explicit-shapes-m5-b2": [5, 4]}


def test_independent_dims_with_a_batch_profile_take_the_swept_value(tmp_path):
    path = save(independent_dims_model(), tmp_path / "indep.onnx")
    recs, _ = run_matrix(tmp_path, models=[path], batches=["1,4"], dims=["m=2,7"])
    assert len(recs) == 8 and all(r.status == "ok" for r in recs.values())
    r = recs["indep-onnxruntime-fp32-explicit-auto-m7-b1"]
    assert r.shapes["run"] == {"a": [1, 4], "b": [7, 4]} and r.shapes["max"] == {"a": [4, 4], "b": [7, 4]}
    y = r.accuracy["outputs"]["y"]
    assert y["rel_l2"] == 0.0 and np.isfinite(y["max_abs"])


def test_without_a_size_the_variant_is_skipped_with_the_way_to_give_it(tmp_path):
    path = save(independent_dims_model(), tmp_path / "indep.onnx")
    recs, _ = run_matrix(tmp_path, models=[path], batches=["1"], build_modes=["implicit"])
    (r,) = recs.values()
    assert r.status == "skipped" and "input b axis 0 is the dynamic dim 'm'" in r.reason and "--dim m=" in r.reason


def test_the_pytest_plugin_takes_the_same_options(tmp_path):
    """One option table: --trtbench-dim, --trtbench-input-range, --trtbench-load-inputs, --trtbench-fix-batch."""
    from _pytest.config.argparsing import Parser

    from trtbench.config.options import ALL_OPTIONS, add_pytest_options

    np.save(tmp_path / "ids.npy", np.zeros((1, 8), np.int64))
    parser = Parser(_ispytest=True)
    add_pytest_options(parser.getgroup("trtbench"))
    ns = parser.parse(["--trtbench-model", "encoder", "--trtbench-dim", "seq=8,16", "--trtbench-input-range",
                       "input_ids:0,9", "--trtbench-load-inputs", f"attention_mask:{tmp_path / 'ids.npy'}",
                       "--trtbench-fix-batch"])
    matrix, settings, _ = configure({o.dest: getattr(ns, "trtbench_" + o.dest) for o in ALL_OPTIONS})
    assert matrix.dims == (("seq", (8, 16)),) and settings.fix_batch
    assert settings.input_ranges == {"input_ids": (0.0, 9.0)}
    assert settings.load_inputs == {"attention_mask": str(tmp_path / "ids.npy")}


def test_dim_with_a_prebuilt_plan_is_a_user_error(capsys):
    from trtbench.cli.main import main

    assert main(["run", "--engine", "x.plan", "--dim", "seq=8"]) == 2
    assert "--dim sweeps a model's named dims; a prebuilt plan runs at --shapes" in capsys.readouterr().err
