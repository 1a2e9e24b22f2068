import pytest

from trtbench.errors import UserError
from trtbench.matrix.expand import expand
from trtbench.config.parse import parse_batches, parse_profile, parse_shapes, shapes_profile
from trtbench.matrix.spec import Matrix, ShapeProfile, Variant
from trtbench.models.loading import ModelSource
from trtbench.config.configure import configure
from trtbench.config.parse import parse_mem_pool


def _m(**kw):
    base = dict(models=(ModelSource("mlp"),), backends=("onnxruntime",), batches=(1, 8), precisions=("fp32",),
                build_modes=("implicit", "explicit"), profiles=())
    base.update(kw)
    return Matrix(**base)


def test_variant_is_frozen_hashable_with_a_stable_readable_id():
    v = Variant(ModelSource("resnet"), "tensorrt", 8, "fp16", "explicit", ShapeProfile("dyn", batch=(1, 8, 32)))
    assert v.id == "resnet-tensorrt-fp16-explicit-dyn-b8"
    assert hash(v) == hash(Variant.from_dict(v.to_dict())) and v == Variant.from_dict(v.to_dict())
    with pytest.raises(Exception):
        v.batch = 4
    assert Variant(ModelSource("mlp"), "onnxruntime", 1, "fp32", "implicit").id == "mlp-onnxruntime-fp32-implicit-b1"


def test_expansion_rules_and_exclusions():
    dyn = ShapeProfile("dyn", batch=(1, 4, 4))
    variants, excluded = expand(_m(batches=(1, 8), profiles=(dyn,), precisions=("fp32", "fp8")))
    ids = sorted(v.id for v in variants)
    assert ids == ["mlp-onnxruntime-fp32-explicit-dyn-b1", "mlp-onnxruntime-fp32-implicit-b1",
                   "mlp-onnxruntime-fp32-implicit-b8"]
    reasons = [e.reason for e in excluded]
    assert any("batch 8 is outside profile dyn" in r for r in reasons)
    assert any("does not apply to an implicit" in r for r in reasons)
    assert sum("cannot run precision fp8" in r for r in reasons) == 4  # 2 modes x 2 batches


def test_a_tensorrt_batch_outside_its_profile_is_excluded_by_the_matrix_on_any_machine():
    """Plain matrix logic (moved from tests/test_tensorrt_real.py, where the gpu/tensorrt marks kept it from CI)."""
    variants, excluded = expand(_m(backends=("tensorrt",), batches=(64,), build_modes=("explicit",),
                                   profiles=(ShapeProfile("p", batch=(1, 8, 32)),)))
    assert not variants and len(excluded) == 1
    assert excluded[0].backend == "tensorrt" and "batch 64 is outside profile p" in excluded[0].reason


def test_default_profile_spans_the_batches():
    variants, _ = expand(_m(batches=(1, 8, 32), build_modes=("explicit",)))
    assert {v.profile.batch for v in variants} == {(1, 8, 32)} and {v.profile.name for v in variants} == {"auto"}


def test_parse_shapes_profiles_and_batches():
    assert parse_shapes("input:1x3x224x224,mask:1x16") == {"input": (1, 3, 224, 224), "mask": (1, 16)}
    assert parse_profile("dyn:1,8,32").batch == (1, 8, 32) == parse_profile("dyn:1/8/32").batch
    assert parse_batches(["1,8", "32", 8]) == (1, 8, 32)
    p = shapes_profile("s", {"x": (1, 4)}, {"x": (8, 4)}, None)
    assert p.inputs[0].max == (8, 4) and p.batch_range() == (1, 8, 8)
    bad = [lambda: parse_shapes("input=1x3"), lambda: parse_shapes("input:1xa"), lambda: parse_shapes("x:0x3"),
           lambda: parse_profile("dyn:8,1,32"), lambda: parse_profile("dyn:1,8"), lambda: parse_batches(["0"]),
           lambda: parse_batches(["x"]), lambda: shapes_profile("s", {"x": (1, 4)}, {"x": (8, 4, 1)}, None),
           lambda: shapes_profile("s", {"x": (8, 4)}, {"x": (1, 4)}, None), lambda: parse_mem_pool("1024"),
           lambda: parse_mem_pool("workspace:abc")]
    for f in bad:
        with pytest.raises(UserError):
            f()
    assert parse_mem_pool("workspace:1024") == 1 << 30 == parse_mem_pool("workspace:1G")
    assert parse_mem_pool("workspace:512MiB") == 512 << 20


def test_configure_from_flags_and_matrix_file(tmp_path):
    f = tmp_path / "m.toml"
    f.write_text('[matrix]\nmodels = ["mlp"]\nbackends = ["ort"]\nbatches = [2, 4]\nprecisions = ["fp32"]\n'
                 'build_modes = ["explicit"]\n[profiles.p]\nbatch = [1, 2, 4]\n'
                 '[profiles.s]\nmin = "features:1x256"\nmax = "features:4x256"\n[run]\nduration_s = 0.5\n')
    matrix, settings, results = configure({"matrix": str(f)})
    assert matrix.batches == (2, 4) and matrix.backends == ("onnxruntime",) and settings.duration_s == 0.5
    assert [p.name for p in matrix.profiles] == ["p", "s"] and results == "results"
    matrix, settings, _ = configure({"matrix": str(f), "batches": ["1"], "duration_s": "2", "mode": "throughput",
                                     "cuda_graph": True, "no_nvml": True})
    assert matrix.batches == (1,) and settings.duration_s == 2.0 and settings.mode == "throughput"
    assert settings.cuda_graph and not settings.nvml


@pytest.mark.parametrize("values,match", [
    ({"models": ["nope"]}, "unknown model"),
    ({"backends": ["tensorflow"]}, "unknown backend"),
    ({"precisions": ["fp64"]}, "unknown precision"),
    ({"build_modes": ["static"]}, "unknown build mode"),
    ({"profiles": ["dyn:32,8,1"]}, "min <= opt <= max"),
    ({"duration_s": "soon"}, r"bad --duration value 'soon': give a finite number of seconds >= 0$"),
    ({"iterations": "0"}, r"bad --iterations value '0': give an integer >= 1$"),
    ({"matrix": "/nonexistent.toml"}, "does not exist"),
    ({"opt_shapes": "x:1x2"}, "need --minShapes"),
    ({"opt_level": "9"}, r"bad --builderOptimizationLevel value '9': give an integer from 0 to 5$"),
])
def test_configure_bad_input(values, match):
    with pytest.raises(UserError, match=match):
        configure(values)


def test_bad_matrix_files(tmp_path):
    cases = {"bad.toml": ("[matrix\n", "not valid TOML"), "key.toml": ("[matrix]\nmodel = ['mlp']\n", "unknown key"),
             "run.toml": ("[run]\nspeed = 1\n", "unknown key 'speed'"),
             "prof.toml": ("[profiles.p]\nbatch = [1, 2]\n", "batch must be")}
    for name, (text, match) in cases.items():
        f = tmp_path / name
        f.write_text(text)
        with pytest.raises(UserError, match=match):
            configure({"matrix": str(f)})


def test_profile_that_fits_no_model_is_a_user_error_before_running():
    from trtbench.run.plan import plan_matrix

    m = _m(build_modes=("explicit",), profiles=(shapes_profile("s", {"nope": (1, 256)}, None, {"nope": (8, 256)}),))
    with pytest.raises(UserError, match="names input 'nope'"):
        plan_matrix(m)
    wrong_rank = shapes_profile("r", {"features": (1, 256, 1)}, None, {"features": (8, 256, 1)})
    with pytest.raises(UserError, match="rank"):
        plan_matrix(_m(build_modes=("explicit",), profiles=(wrong_rank,)))


def test_two_models_with_one_file_name_get_two_variant_ids(tmp_path):
    """a/model.onnx and b/model.onnx must never share a variant id (a gate would pair the wrong models): each
    gets a short hash of its content, the same in every run; one file under two paths is one model."""
    import onnx

    from tests.helpers import static_model
    from trtbench.models.loading import resolve_model
    from trtbench.run.plan import plan_matrix

    paths = {}
    for folder, model in (("a", static_model(2)), ("b", static_model(3)), ("c", static_model(2))):
        (tmp_path / folder).mkdir()
        paths[folder] = str(tmp_path / folder / "model.onnx")
        onnx.save(model, paths[folder])

    def ids(*folders):
        m = _m(models=tuple(resolve_model(paths[f]) for f in folders), batches=(2,), build_modes=("implicit",))
        return [v.id for v in plan_matrix(m)[0]]

    assert ids("a") == ["model-onnxruntime-fp32-implicit-b2"]
    ab = ids("a", "b")
    assert len(set(ab)) == 2 and all(i.startswith("model-") and i.endswith("-onnxruntime-fp32-implicit-b2") for i in ab)
    assert ids("a", "b") == ab  # the tag is the content's: the same in the next run
    assert ids("b", "a") == ab[::-1]
    assert ids("a", "c") == [ab[0]]  # the same content under two paths: one model, one variant
