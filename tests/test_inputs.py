"""Inputs by what they are: token ids inside the embedding's range, masks of ones, --input-range, --loadInputs
checked against dtype, rank and shape, and how each input was made recorded (issue #15, requirement 2)."""

import numpy as np
import onnxruntime as ort
import pytest

from tests.shape_models import run_matrix, save, token_model
from trtbench.config.configure import configure
from trtbench.config.inputs import parse_input_ranges, parse_load_inputs
from trtbench.errors import UserError
from trtbench.models.builtin import builtin_model
from trtbench.models.inputs import embedding_rows, input_kinds, make_inputs, model_feeds


def test_token_ids_stay_inside_the_embedding_at_every_length(tmp_path):
    """A Gather over a 50-row table: onnxruntime refuses an id >= 50, so every ok variant proves the range."""
    path = save(token_model(vocab=50), tmp_path / "tok.onnx")
    recs, _ = run_matrix(tmp_path, models=[path], batches=["1,4"], dims=["seq=7,64,300"], seed="3")
    assert len(recs) == 12 and all(r.status == "ok" for r in recs.values()), {k: r.reason for k, r in recs.items()}
    how = recs["tok-onnxruntime-fp32-implicit-seq300-b4"].backend["inputs"]
    assert how == {"ids": "int64 token ids 0..49, uniform (rows of the embedding Gather 'embed')"}
    sess = ort.InferenceSession(token_model(vocab=50).SerializeToString(), providers=["CPUExecutionProvider"])
    with pytest.raises(Exception, match="out of bounds|indices"):  # the model does check: 50 is one too many
        sess.run(None, {"ids": np.full((1, 3), 50, np.int64)})


def test_the_generated_ids_cover_the_table():
    feeds, _ = model_feeds(token_model(vocab=50), {"ids": "int64"}, {"ids": (64, 64)}, seed=0)
    assert feeds["ids"].min() == 0 and feeds["ids"].max() == 49 and feeds["ids"].dtype == np.int64


def test_kinds_from_the_graph_and_the_names():
    enc = builtin_model("encoder")
    kinds = input_kinds(enc, {"input_ids": "int64", "attention_mask": "int64"})
    assert (kinds["input_ids"].kind, kinds["input_ids"].low, kinds["input_ids"].high) == ("ids", 0, 999)
    assert kinds["attention_mask"].kind == "mask"
    assert embedding_rows(enc, "attention_mask") is None  # the mask is cast to float, not gathered
    feeds, how = model_feeds(enc, {"input_ids": "int64", "attention_mask": "int64"},
                             {"input_ids": (2, 5), "attention_mask": (2, 5)})
    assert (feeds["attention_mask"] == 1).all() and feeds["attention_mask"].dtype == np.int64
    assert how["attention_mask"] == "int64 all ones (an attention mask, by its name)"
    other = input_kinds(None, {"x": "float32", "flag": "bool", "n": "int32", "pad_mask": "bool"})
    assert [other[n].kind for n in ("x", "flag", "n", "pad_mask")] == ["float", "bool", "int", "mask"]
    assert "give --input-range n:LO,HI" in other["n"].describe("int32")


def test_float_only_models_get_the_same_data_as_before_kinds():
    """The old generator: one default_rng(seed), inputs in name order, standard normal floats."""
    rng = np.random.default_rng(5)
    want = {"a": rng.standard_normal((2, 3)).astype(np.float32), "b": rng.standard_normal((4,)).astype(np.float32)}
    got = make_inputs({"b": "float32", "a": "float32"}, {"b": (4,), "a": (2, 3)}, seed=5)
    assert all(np.array_equal(got[k], want[k]) for k in want)
    feeds, _ = model_feeds(builtin_model("mlp"), {"features": "float32"}, {"features": (2, 256)}, seed=5)
    assert np.array_equal(feeds["features"], make_inputs({"features": "float32"}, {"features": (2, 256)}, seed=5)["features"])


def test_input_range_overrides_what_the_graph_says(tmp_path):
    path = save(token_model(vocab=50), tmp_path / "tok.onnx")
    recs, _ = run_matrix(tmp_path, models=[path], batches=["2"], dims=["seq=16"], input_ranges=["ids:10,12"],
                         build_modes=["implicit"])
    (r,) = recs.values()
    assert r.status == "ok" and r.backend["inputs"]["ids"] == "int64 uniform 10..12 (--input-range)"
    bad, _ = run_matrix(tmp_path, models=[path], batches=["2"], dims=["seq=16"], input_ranges=["ids:50,60"],
                        build_modes=["implicit"])
    (r,) = bad.values()  # ids 50..60 are outside the table: onnxruntime fails, and the variant says so
    assert r.status == "failed"
    feeds, how = model_feeds(None, {"x": "float32"}, {"x": (1000,)}, ranges={"x": (-2.0, -1.0)})
    assert -2 <= feeds["x"].min() and feeds["x"].max() <= -1 and how["x"] == "float32 uniform -2..-1 (--input-range)"


@pytest.mark.parametrize("raw,message", [
    ("ids", "write NAME:LO,HI"), ("ids:1", "write NAME:LO,HI"), (":1,2", "write NAME:LO,HI"),
    ("ids:a,2", "bad --input-range ids LO"), ("ids:5,1", "LO 5 is above HI 1"), ("ids:0,inf", "HI"),
])
def test_bad_input_ranges_are_one_line_errors(raw, message):
    with pytest.raises(UserError, match=message):
        parse_input_ranges([raw])


def test_input_range_parsing_and_dtype_checks():
    assert parse_input_ranges(["a:0,9,b:-1.5,1"]) == {"a": (0.0, 9.0), "b": (-1.5, 1.0)}
    with pytest.raises(UserError, match="give integer ends"):
        input_kinds(None, {"n": "int64"}, {"n": (0.5, 3)})
    with pytest.raises(UserError, match="does not fit int8"):
        input_kinds(None, {"n": "int8"}, {"n": (0, 300)})
    with pytest.raises(UserError, match="bool, which has no range"):
        input_kinds(None, {"f": "bool"}, {"f": (0, 1)})
    with pytest.raises(UserError, match="--input-range names input 'nope'"):
        model_feeds(None, {"x": "float32"}, {"x": (1,)}, ranges={"nope": (0, 1)})


# --- --loadInputs -------------------------------------------------------------------------------------------

def _ids(shape, vocab=50, seed=0):
    return np.random.default_rng(seed).integers(0, vocab, size=shape).astype(np.int64)


def test_load_inputs_from_npy_and_npz_are_fed_as_given(tmp_path):
    path = save(token_model(vocab=50), tmp_path / "tok.onnx")
    ids = _ids((3, 10))
    np.save(tmp_path / "ids.npy", ids)
    np.savez(tmp_path / "all.npz", ids=ids)
    ref = ort.InferenceSession(token_model(vocab=50).SerializeToString(),
                               providers=["CPUExecutionProvider"]).run(None, {"ids": ids})[0]
    for spec in (f"ids:{tmp_path / 'ids.npy'}", str(tmp_path / "all.npz")):
        recs, excluded = run_matrix(tmp_path, models=[path], batches=["1,3"], dims=["seq=10,20"],
                                    load_inputs=[spec], build_modes=["implicit"])
        assert list(recs) == ["tok-onnxruntime-fp32-implicit-seq10-b3"]  # the others do not match the array
        r = recs["tok-onnxruntime-fp32-implicit-seq10-b3"]
        assert r.status == "ok" and r.backend["inputs"]["ids"].startswith("int64 loaded (--loadInputs ")
        assert len(excluded) == 3 and all("--loadInputs ids" in e.reason for e in excluded)
        assert any("has batch 3 on axis 0, this variant runs batch 1" in e.reason for e in excluded)
        assert any("has seq 10 on axis 1, this variant runs seq 20" in e.reason for e in excluded)
    feeds, _ = model_feeds(token_model(vocab=50), {"ids": "int64"}, {"ids": (3, 10)}, loaded={"ids": str(tmp_path / "ids.npy")})
    assert np.array_equal(feeds["ids"], ids)
    got = ort.InferenceSession(token_model(vocab=50).SerializeToString(),
                               providers=["CPUExecutionProvider"]).run(None, feeds)[0]
    assert np.array_equal(got, ref)


@pytest.mark.parametrize("array,message", [
    (np.zeros((3, 10), np.int32), "holds int32, the input is int64: convert it with .astype('int64')"),
    (np.zeros((3, 10, 1), np.int64), "has rank 3 (shape (3, 10, 1)), the input has rank 2"),
])
def test_a_wrong_array_is_a_one_line_error_before_the_run(tmp_path, array, message):
    path = save(token_model(vocab=50), tmp_path / "tok.onnx")
    np.save(tmp_path / "bad.npy", array)
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        run_matrix(tmp_path, models=[path], batches=["3"], dims=["seq=10"], load_inputs=[f"ids:{tmp_path / 'bad.npy'}"])


def test_a_fixed_dim_that_differs_is_a_one_line_error(tmp_path):
    np.save(tmp_path / "f.npy", np.zeros((1, 255), np.float32))
    with pytest.raises(UserError, match="--loadInputs features: .* has shape 1x255, the input runs at \\*x256 "
                                        "\\(axis 1 differs\\)"):
        run_matrix(tmp_path, models=["mlp"], batches=["1"], load_inputs=[f"features:{tmp_path / 'f.npy'}"])


def test_load_inputs_option_errors(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    np.save(tmp_path / "a.npy", np.zeros(3, np.float32))
    np.savez(tmp_path / "z.npz", x=np.zeros(3))
    (tmp_path / "t.txt").write_text("x")
    assert parse_load_inputs(["x:a.npy,'in:0':a.npy"]) == {"x": str(tmp_path / "a.npy"), "in:0": str(tmp_path / "a.npy")}
    assert parse_load_inputs(["z.npz"]) == {"x": str(tmp_path / "z.npz")}
    for raw, message in (("x:missing.npy", "file missing.npy does not exist"), ("x:t.txt", "not a .npy or .npz"),
                         ("a.npy", "write NAME:file.npy"), ("x:a.npy,x:a.npy", "gives input 'x' twice")):
        with pytest.raises(UserError, match=message):
            parse_load_inputs([raw])
    with pytest.raises(UserError, match="--loadInputs names input 'x'; model mlp's inputs are features"):
        run_matrix(tmp_path, models=["mlp"], load_inputs=["x:a.npy"])


def test_inputs_table_in_a_matrix_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    np.save(tmp_path / "ids.npy", _ids((1, 4)))
    f = tmp_path / "m.toml"
    f.write_text('[inputs]\nranges = {ids = [0, 9], x = [-1.5, 2]}\nload = {ids = "ids.npy"}\n')
    s = configure({"matrix": str(f), "models": ["mlp"]})[1]
    assert s.input_ranges == {"ids": (0.0, 9.0), "x": (-1.5, 2.0)} and s.load_inputs == {"ids": str(tmp_path / "ids.npy")}
    s = configure({"matrix": str(f), "models": ["mlp"], "input_ranges": ["x:0,1"]})[1]
    assert s.input_ranges == {"ids": (0.0, 9.0), "x": (0.0, 1.0)}  # the option wins for its input only
    for bad, message in (('ranges = {ids = [0]}', r"ranges.ids must be \[LO, HI\]"), ('ranges = {ids = ["0", 9]}',
                         "without quotes"), ('load = 3', "write load ="), ('colour = 1', "unknown key"),
                         ('load = {ids = "nope.npy"}', "does not exist")):
        f.write_text(f"[inputs]\n{bad}\n")
        with pytest.raises(UserError, match=message):
            configure({"matrix": str(f), "models": ["mlp"]})
    f.write_text('[run]\ninput_ranges = "ids:0,9"\n')
    with pytest.raises(UserError, match=r"write input ranges in an \[inputs\] table"):
        configure({"matrix": str(f), "models": ["mlp"]})
