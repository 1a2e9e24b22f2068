"""The config boundary: option strings, TOML values and pytest options parsed once, strictly, into typed
settings; every bad value is a one-line UserError that names the option and the accepted form."""

import ast
import dataclasses
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from trtbench.config.configure import configure
from trtbench.config.options import ALL_OPTIONS, RUN_OPTIONS, add_pytest_options
from trtbench.config.parse import (parse_batches, parse_mem_pool, parse_profile, parse_shapes, parse_tolerance,
                                   split_models)
from trtbench.config.runfields import (CHOICES, FIELD_OF_OPTION, FIELD_TYPES, FLAG_FIELDS, NOT_IN_RUN_TABLE,
                                       NUMBER_RULES, SPECIAL_OPTIONS)
from trtbench.config.settings import RunSettings
from trtbench.errors import UserError

ROOT = Path(__file__).resolve().parents[1]
FLAG = {o.dest: o.cli_flag for o in ALL_OPTIONS}


def _error(values) -> str:
    with pytest.raises(UserError) as info:
        configure(values)
    message = str(info.value)
    assert "\n" not in message, message
    return message


def _settings(**values) -> RunSettings:
    return configure(dict(values, models=["mlp"]))[1]


# --- 1. numbers, strictly --------------------------------------------------------------------------------------

BAD_NUMBERS = [
    ("warmup_ms", "inf", "a finite number of milliseconds >= 0"),
    ("warmup_ms", "nan", "a finite number of milliseconds >= 0"),
    ("warmup_ms", "1e999", "a finite number of milliseconds >= 0"),  # float() overflows to inf
    ("warmup_ms", "-1", "a finite number of milliseconds >= 0"),
    ("warmup_ms", "１０", "a finite number of milliseconds >= 0"),  # float() takes full-width digits
    ("duration_s", "nan", "a finite number of seconds >= 0"),
    ("duration_s", "-inf", "a finite number of seconds >= 0"),
    ("duration_s", "Infinity", "a finite number of seconds >= 0"),
    ("duration_s", "0_5", "a finite number of seconds >= 0"),
    ("iterations", "2.0", "an integer >= 1"),
    ("iterations", "1_0", "an integer >= 1"),  # int() takes underscores
    ("iterations", "１０", "an integer >= 1"),  # int() takes full-width digits
    ("iterations", "٣", "an integer >= 1"),  # and Arabic-Indic ones
    ("iterations", "0", "an integer >= 1"),
    ("iterations", "9" * 5000, "an integer >= 1"),  # int() raises ValueError past 4300 digits
    ("iterations", "", "an integer >= 1"),
    ("max_iterations", "0", "an integer >= 1"),
    ("trials", "0", "an integer >= 1"),
    ("trials", "1.5", "an integer >= 1"),
    ("order_seed", "-1", "an integer >= 0"),
    ("order_seed", "１０", "an integer >= 0"),
    ("device", "-1", "an integer >= 0"),
    ("device", "0x1", "an integer >= 0"),
    ("seed", "1_0", "an integer >= 0"),
    ("seed", "1e3", "an integer >= 0"),
    ("nvml_interval_ms", "0.5", "a finite number of milliseconds >= 1"),
    ("nvml_interval_ms", "nan", "a finite number of milliseconds >= 1"),
    ("opt_level", "6", "an integer from 0 to 5"),
    ("opt_level", "-1", "an integer from 0 to 5"),
    ("opt_level", "3.0", "an integer from 0 to 5"),
]


@pytest.mark.parametrize("dest,raw,form", BAD_NUMBERS)
def test_bad_numeric_options_name_the_option_and_the_accepted_form(dest, raw, form):
    message = _error({"models": ["mlp"], dest: raw})
    shown = repr(raw) if len(repr(raw)) <= 60 else repr(raw)[:56] + "...'"
    assert message == f"bad {FLAG[dest]} value {shown}: give {form}"


def test_good_numeric_options_are_typed():
    s = _settings(warmup_ms="0", duration_s=".25", iterations=" 7 ", max_iterations="+9", trials="5",
                  order_seed="0", device="1", seed="42", nvml_interval_ms="1e1", opt_level="5")
    assert (s.warmup_ms, s.duration_s, s.iterations, s.max_iterations, s.trials) == (0.0, 0.25, 7, 9, 5)
    assert (s.order_seed, s.device, s.seed, s.nvml_interval_ms, s.trt_opt_level) == (0, 1, 42, 10.0, 5)
    assert type(s.warmup_ms) is float and type(s.iterations) is int and type(s.order_seed) is int
    assert _settings(iterations="30000", max_iterations="30000").max_iterations == 30000  # max >= iterations: fine


@pytest.mark.parametrize("values,message", [
    ({"iterations": "50", "max_iterations": "10"}, "--max-iterations 10 is below --iterations 50"),
    ({"iterations": "30000"}, "--max-iterations 20000 is below --iterations 30000"),  # the default max
])
def test_max_iterations_below_iterations_is_an_error(values, message):
    assert _error(values).startswith(message + ": give --max-iterations >= --iterations")


@pytest.mark.parametrize("raw", ["1_0", "１", "2.0", "-1", "0", "", "8,x", "1e1", "True"])
def test_bad_batches(raw):
    message = _error({"batches": [raw]})
    assert "--batch" in message and ("positive integers" in message or "no batch size" in message)


def test_batches_are_split_deduplicated_and_integers():
    assert parse_batches(["1, 8", "32", 8]) == (1, 8, 32)
    with pytest.raises(UserError, match="positive integers"):
        parse_batches([True])  # a bool is not a batch size


@pytest.mark.parametrize("bad", [lambda: parse_shapes("x:1x１"), lambda: parse_shapes("x:1x1_0"),
                                 lambda: parse_shapes("x:1x-2"), lambda: parse_profile("dyn:1,1_0,32"),
                                 lambda: parse_profile("dyn:1,８,32"), lambda: parse_profile("dyn:1,2.0,32")])
def test_shapes_and_profiles_take_ascii_digits_only(bad):
    with pytest.raises(UserError, match="positive integers"):
        bad()


@pytest.mark.parametrize("text,message", [
    ("fp16:rel_l2=nan", "bad --tolerance fp16:rel_l2 value 'nan': give a finite number > 0"),
    ("fp16:rel_l2=inf", "bad --tolerance fp16:rel_l2 value 'inf': give a finite number > 0"),
    ("fp16:rel_l2=0", "bad --tolerance fp16:rel_l2 value '0': give a finite number > 0"),
    ("fp16:rel_l2=1_0", "bad --tolerance fp16:rel_l2 value '1_0': give a finite number > 0"),
    ("fp16:top1=1.5", "bad --tolerance fp16:top1 value '1.5': give a finite number from 0 to 1"),
    ("fp16:top1=-0.1", "bad --tolerance fp16:top1 value '-0.1': give a finite number from 0 to 1"),
])
def test_bad_tolerance_values(text, message):
    assert _error({"tolerances": [text]}) == message


def test_good_tolerances():
    assert parse_tolerance("fp16:rel_l2=1e-9,top1=0.97") == {"fp16": {"rel_l2": 1e-9, "top1": 0.97}}
    assert parse_tolerance("int8:top1=0,rel_l2=2") == {"int8": {"top1": 0.0, "rel_l2": 2.0}}


@pytest.mark.parametrize("text", ["workspace:inf", "workspace:nan", "workspace:1_0", "workspace:0", "workspace:-1",
                                  "workspace:１０", "workspace:2048G", "workspace:1e999", "workspace:0.0000001K",
                                  "workspace:1e300G", "workspace:", "workspace:G"])
def test_bad_mem_pool_sizes(text):
    assert _error({"mem_pool_size": text}).startswith(f"bad --memPoolSize {text!r}: give workspace:SIZE")


def test_good_mem_pool_sizes():
    assert parse_mem_pool("workspace:1.5G") == 3 << 29 and parse_mem_pool("workspace:64K") == 64 << 10
    assert parse_mem_pool("workspace:1024G") == 1 << 40
    assert _settings(mem_pool_size="workspace:2").trt_workspace_bytes == 2 << 20


@pytest.mark.parametrize("values,message", [
    ({"models": [""]}, "no model given"), ({"backends": [","]}, "no backend given"),
    ({"precisions": [""]}, "no precision given"), ({"build_modes": [" "]}, "no build mode given"),
])
def test_an_axis_given_empty_is_an_error_not_the_default(values, message):
    assert _error(values).startswith(message)


# --- 2. matrix files with wrong types ---------------------------------------------------------------------------


BAD_FILES = [
    ("matrix = 5", "matrix = 5 is not a table: write a [matrix] table"),
    ("profiles = 5", "profiles = 5 is not a table: write one [profiles.NAME] table per profile"),
    ("[profiles]\ndyn = 5", "profiles.dyn = 5 is not a table: write [profiles.dyn] with batch = [1, 8, 32]"),
    ("run = 5", "run = 5 is not a table: write a [run] table"),
    ("tolerances = 5", "tolerances = 5 is not a table: write one [tolerances.PRECISION] table"),
    ("[tolerances]\nfp16 = 5", "tolerances.fp16 = 5 is not a table: write [tolerances.fp16] with rel_l2 = 0.02"),
    ("[extra]\nx = 1", "unknown top-level key(s) extra; the known tables are [matrix], [profiles], [run], "
                       "[tolerances]"),
    ('models = ["mlp"]', "unknown top-level key(s) models;"),
    ('[matrix]\nmodels = "mlp"', "[matrix] models must be a list, e.g. models = ["),
    ("[matrix]\nmodels = [5]", "bad [matrix] models item 5: give non-empty strings"),
    ("[matrix]\nbackends = [true]", "bad [matrix] backends item true: give non-empty strings"),
    ('[matrix]\nprecisions = [""]', "bad [matrix] precisions item '': give non-empty strings"),
    ("[matrix]\nmodels = []", "[matrix] models is empty: list at least one"),
    ("[matrix]\nbatches = []", "[matrix] batches is empty: list at least one, e.g. batches = [1, 8, 32], or leave"),
    ("[matrix]\nbatches = [1.5]", "bad [matrix] batches item 1.5: give positive integers"),
    ("[matrix]\nbatches = [true]", "bad [matrix] batches item true: give positive integers"),
    ('[matrix]\nbatches = ["8"]', "bad [matrix] batches item '8': give positive integers"),
    ("[matrix]\nbatches = [0]", "bad [matrix] batches item 0: give positive integers"),
    ("[matrix]\nbatches = 8", "[matrix] batches must be a list"),
    ("[matrix]\nmodel = ['mlp']", "unknown key(s) model in [matrix]; known keys are models, backends"),
    ("[profiles.p]\nbatch = [1, true, 4]", "[profiles.p] batch must be [min, opt, max], three integers"),
    ("[profiles.p]\nbatch = [1, 2.0, 4]", "[profiles.p] batch must be [min, opt, max], three integers"),
    ('[profiles.p]\nbatch = [1, 2, 4]\nmin = "x:1x2"', "[profiles.p] gives both batch and min/opt/max"),
    ("[profiles.p]\nbtach = [1, 2, 4]", "unknown key(s) btach in [profiles.p]; known keys are batch, min, opt, max"),
    ("[profiles.p]\nmin = 5", '[profiles.p] min must be a string, e.g. min = "input:1x3x224x224"'),
    ('[profiles.p]\nmin = "x:1x１"', "bad [profiles.p] min shape for x '1x１'"),
    ('[profiles.p]\nmax = "x:1x2"', "[profiles.p] needs batch = [min, opt, max] or min/opt/max"),
    ("[tolerances.fp16]\nrel_l2 = nan", "bad [tolerances.fp16] rel_l2 value nan: give a finite number > 0"),
    ("[tolerances.fp16]\nrel_l2 = true", "bad [tolerances.fp16] rel_l2 value true: give a finite number > 0"),
    ('[tolerances.fp16]\nrel_l2 = "0.1"', "bad [tolerances.fp16] rel_l2 value '0.1': give a finite number > 0, "),
    ("[tolerances.fp16]\ntop1 = 1.5", "bad [tolerances.fp16] top1 value 1.5: give a finite number from 0 to 1"),
    ("[tolerances.fp16]\nmax = 1", "unknown key(s) max in [tolerances.fp16]; keys are rel_l2 and top1"),
    ("[tolerances.fp16]\n", "[tolerances.fp16] is empty: give rel_l2 and/or top1"),
    ("[tolerances.fp64]\nrel_l2 = 0.1", "unknown precision 'fp64' in [tolerances]; precisions are fp32, tf32"),
]


@pytest.mark.parametrize("text,message", BAD_FILES)
def test_matrix_file_with_wrong_types_is_a_one_line_error(tmp_path, monkeypatch, text, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m.toml").write_text(text + "\n", encoding="utf-8")
    assert _error({"matrix": "m.toml", "models": ["mlp"]}).startswith("matrix file m.toml: " + message)


BAD_RUN_TABLES = [
    ('[run]\ncheck_accuracy = "no"', "bad [run] check_accuracy value 'no': give true or false"),
    ('[run]\ncuda_graph = "no"', "bad [run] cuda_graph value 'no': give true or false"),
    ("[run]\ncold = 1", "bad [run] cold value 1: give true or false"),
    ("[run]\niterations = 2.7", "bad [run] iterations value 2.7: give an integer >= 1"),
    ("[run]\niterations = 2.0", "bad [run] iterations value 2.0: give an integer >= 1"),
    ("[run]\niterations = true", "bad [run] iterations value true: give an integer >= 1"),
    ('[run]\niterations = "10"', "bad [run] iterations value '10': give an integer >= 1, without quotes"),
    ("[run]\niterations = 0", "bad [run] iterations value 0: give an integer >= 1"),
    ("[run]\ntrials = 0", "bad [run] trials value 0: give an integer >= 1"),
    ("[run]\norder_seed = -1", "bad [run] order_seed value -1: give an integer >= 0"),
    ("[run]\nwarmup_ms = inf", "bad [run] warmup_ms value inf: give a finite number of milliseconds >= 0"),
    ("[run]\nduration_s = nan", "bad [run] duration_s value nan: give a finite number of seconds >= 0"),
    ("[run]\nduration_s = true", "bad [run] duration_s value true: give a finite number of seconds >= 0"),
    ('[run]\nduration_s = "1"', "bad [run] duration_s value '1': give a finite number of seconds >= 0, without"),
    ("[run]\nnvml_interval_ms = 0", "bad [run] nvml_interval_ms value 0: give a finite number of milliseconds >= 1"),
    ("[run]\ntrt_opt_level = 7", "bad [run] trt_opt_level value 7: give an integer from 0 to 5"),
    ('[run]\nmode = "fast"', "bad [run] mode value 'fast': give one of latency, throughput"),
    ('[run]\nisolation = "thread"', "bad [run] isolation value 'thread': give one of process, round, inline"),
    ("[run]\nisolation = 5", "bad [run] isolation value 5: give one of process, round, inline"),
    ("[run]\ntrt_typing = 1", "bad [run] trt_typing value 1: give one of auto, weak, strong"),
    ("[run]\ncache_dir = 5", "bad [run] cache_dir value 5: give a string, in quotes"),
    ("[run]\nspeed = 1", "unknown key 'speed' in [run]; known keys are cache_dir, calibration, check_accuracy, "
                         "cold, cuda_graph,"),
    ("[run]\ntolerances = {fp16 = {rel_l2 = 0.1}}", "[run] tolerances: write tolerances as a [tolerances] table"),
]


@pytest.mark.parametrize("text,message", BAD_RUN_TABLES)
def test_run_table_values_are_type_checked_against_run_settings(tmp_path, monkeypatch, text, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m.toml").write_text(text + "\n", encoding="utf-8")
    assert _error({"matrix": "m.toml", "models": ["mlp"]}).startswith("matrix file m.toml: " + message)


@pytest.mark.parametrize("text,message", [
    ("[run]\nmax_iterations = 5", "--max-iterations 5 is below --iterations 10: give --max-iterations >= --iterations "
                                  "(in a matrix file: [run] max_iterations >= iterations)"),
    ('[run]\ncalibration = "nope.npz"', "calibration file nope.npz does not exist: check the path"),
])
def test_run_table_values_are_checked_with_the_options_they_meet(tmp_path, monkeypatch, text, message):
    """Checks across fields run on the merged settings (file, then options), so they name no file."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "m.toml").write_text(text + "\n", encoding="utf-8")
    assert _error({"matrix": "m.toml", "models": ["mlp"]}) == message


def _toml(value) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else json.dumps(value)


def test_every_run_setting_is_settable_from_the_run_table_with_its_own_type(tmp_path):
    """Each RunSettings field (but tolerances, which has its own table) round-trips through [run]: the type
    table comes from the dataclass, so a new field cannot be forgotten."""
    changed = {"warmup_ms": 7, "duration_s": 0.125, "iterations": 3, "max_iterations": 4, "trials": 5,
               "isolation": "inline", "order_seed": 11, "mode": "latency", "cuda_graph": False, "cold": True,
               "launch_gate": False,
               "spin_wait": True, "data_transfers": False, "nvml_interval_ms": 2.5, "nvml": False, "device": 1,
               "seed": 9, "cache_dir": "cache", "min_samples": 8, "cv_threshold": 0.5, "check_accuracy": False,
               "layer_profile": True, "engine": "x.plan", "trt_typing": "strong", "trt_workspace_bytes": 4096,
               "trt_opt_level": 1, "verbose": True, "calibration": str(tmp_path / "cal.npz"), "fix_batch": True}
    (tmp_path / "cal.npz").write_bytes(b"")
    assert set(changed) | set(NOT_IN_RUN_TABLE) == {f.name for f in dataclasses.fields(RunSettings)}
    f = tmp_path / "m.toml"
    f.write_text("[run]\n" + "".join(f"{k} = {_toml(v)}\n" for k, v in changed.items()))
    s = configure({"matrix": str(f), "models": ["mlp"]})[1]
    for key, value in changed.items():
        got = getattr(s, key)
        assert got == value and type(got) is type(FIELD_TYPES[key]()), key
        # mode: --cold needs latency mode (the default); every other value differs from its default
        assert key == "mode" or got != getattr(RunSettings(), key), key
    f.write_text("[run]\nmode = \"throughput\"\n")
    assert configure({"matrix": str(f), "models": ["mlp"]})[1].mode == "throughput"


def test_run_table_accepts_integers_for_float_fields_as_floats(tmp_path):
    f = tmp_path / "m.toml"
    f.write_text("[run]\nwarmup_ms = 200\nduration_s = 1\n")
    s = configure({"matrix": str(f), "models": ["mlp"]})[1]
    assert s.warmup_ms == 200.0 and type(s.warmup_ms) is float and type(s.duration_s) is float


def test_the_type_table_covers_every_field_and_every_default_passes_its_own_check():
    for f in dataclasses.fields(RunSettings):
        kind = FIELD_TYPES[f.name]
        assert kind in (bool, int, float, str) or f.name in NOT_IN_RUN_TABLE, f.name
        if kind in (int, float):
            assert NUMBER_RULES[f.name].kind is kind, f.name
            assert f.default is None or NUMBER_RULES[f.name].admits(f.default), f.name
        if f.name in CHOICES:
            assert f.default in CHOICES[f.name]


def test_every_run_option_maps_to_a_field_of_the_option_kind():
    for o in RUN_OPTIONS:
        if o.kind == "flag":
            field, _ = FLAG_FIELDS[o.dest]
            assert FIELD_TYPES[field] is bool, o.dest
        elif o.dest not in SPECIAL_OPTIONS:
            kind = FIELD_TYPES[FIELD_OF_OPTION.get(o.dest, o.dest)]
            assert {"int": int, "float": float, "str": str}[o.kind] is kind, o.dest
            assert (o.choices is not None) == (FIELD_OF_OPTION.get(o.dest, o.dest) in CHOICES), o.dest


def test_options_override_the_run_table_and_tolerances_merge_per_key(tmp_path):
    f = tmp_path / "m.toml"
    f.write_text("[run]\ncuda_graph = false\ntrials = 2\n[tolerances.fp16]\nrel_l2 = 0.1\ntop1 = 0.9\n")
    s = configure({"matrix": str(f), "models": ["mlp"], "cuda_graph": True, "trials": "4",
                   "tolerances": ["fp16:rel_l2=0.05"]})[1]
    assert s.cuda_graph is True and s.trials == 4 and s.tolerances == {"fp16": {"rel_l2": 0.05, "top1": 0.9}}
    assert configure({"matrix": str(f), "models": ["mlp"]})[1].cuda_graph is False
    assert configure({"models": ["mlp"], "no_cuda_graph": True})[1].cuda_graph is False


# --- 3. model paths with commas ---------------------------------------------------------------------------------

def test_a_model_path_with_a_comma_is_one_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a,b.onnx").write_bytes(b"x")
    assert split_models(["mlp,resnet"]) == ["mlp", "resnet"]
    assert split_models(["d/a,b.onnx"]) == ["d/a,b.onnx"]
    assert split_models(["mlp,d/a,b.onnx,resnet"]) == ["mlp", "d/a,b.onnx", "resnet"]
    assert split_models(["d/x,y.onnx"]) == ["d/x", "y.onnx"]  # no such file: a list, as before
    models = configure({"models": ["mlp,d/a,b.onnx"]})[0].models
    assert [(m.name, m.path) for m in models] == [("mlp", None), ("a_b", "d/a,b.onnx")]
    (tmp_path / "m.toml").write_text('[matrix]\nmodels = ["d/a,b.onnx"]\n')
    assert [m.path for m in configure({"matrix": "m.toml"})[0].models] == [str(tmp_path / "d" / "a,b.onnx")]


def test_relative_model_paths_in_a_matrix_file_are_relative_to_the_file(tmp_path, monkeypatch):
    (tmp_path / "proj" / "models").mkdir(parents=True)
    (tmp_path / "proj" / "models" / "m.onnx").write_bytes(b"x")
    (tmp_path / "proj" / "bench.toml").write_text('[matrix]\nmodels = ["models/m.onnx", "mlp"]\n')
    monkeypatch.chdir(tmp_path)  # elsewhere: the file's folder decides, not the working directory
    models = configure({"matrix": "proj/bench.toml"})[0].models
    assert [m.path for m in models] == [str(tmp_path / "proj" / "models" / "m.onnx"), None]
    assert "commas included" in {o.dest: o for o in ALL_OPTIONS}["models"].help


# --- 4. one parse for both front ends ---------------------------------------------------------------------------

def _cli_values(args):
    from trtbench.cli.main import build_parser

    return vars(build_parser().parse_args(["run", *args]))


def _pytest_values(args):
    """What the plugin hands to configure: its options parsed by pytest's own parser, trtbench_DEST -> DEST."""
    from _pytest.config.argparsing import Parser

    parser = Parser(_ispytest=True)
    add_pytest_options(parser.getgroup("trtbench"))
    pytest_flag = {o.cli_flag: o.pytest_flag for o in ALL_OPTIONS}
    ns = parser.parse([pytest_flag.get(a, a) for a in args])
    return {o.dest: getattr(ns, "trtbench_" + o.dest) for o in ALL_OPTIONS}


@pytest.mark.parametrize("args", [
    ["--warmup", "inf"], ["--duration", "nan"], ["--batch", "1_0"], ["--iterations", "2.0"],
    ["--max-iterations", "1", "--iterations", "2"], ["--tolerance", "fp16:rel_l2=nan"],
    ["--memPoolSize", "workspace:inf"], ["--nvml-interval", "0.5"], ["--order-seed", "１０"], ["--trials", "0"],
    ["--device", "-1"], ["--builderOptimizationLevel", "6"], ["--cuda-graph", "--no-cuda-graph"],
    ["--model", ""], ["--precision", "fp64"], ["--profile", "dyn:1,x,4"],
])
def test_the_same_bad_value_gets_the_same_message_from_both_front_ends(args):
    cli, plugin = _cli_values(args), _pytest_values(args)
    assert {k: plugin[k] for k in FLAG} == {k: cli[k] for k in FLAG}
    assert _error(cli) == _error(plugin)


def test_cli_rejects_an_infinite_warmup_at_once():
    """``--warmup inf`` used to warm up forever; now it is exit 2 with one line, before anything runs."""
    r = subprocess.run([sys.executable, "-m", "trtbench", "run", "--warmup", "inf"], capture_output=True, text=True,
                       cwd=ROOT, timeout=120)
    assert r.returncode == 2 and r.stderr.strip() == ("trtbench: error: bad --warmup value 'inf': give a finite "
                                                      "number of milliseconds >= 0"), r.stderr


# --- 5. the cuda graph switches ---------------------------------------------------------------------------------

def test_cuda_graph_both_ways_is_an_error_and_the_default_is_on():
    assert _error({"cuda_graph": True, "no_cuda_graph": True}).startswith("--cuda-graph and --no-cuda-graph")
    s = _settings()
    assert s.cuda_graph is True and s.trials == 3 and s.isolation == "process" and s.order_seed is None
    assert not s.cold and _settings(cold=True).cold and _settings(isolation="inline").isolation == "inline"
    assert re.fullmatch(r"bad --isolation value 'thread': give one of process, round, inline",
                        _error({"isolation": "thread"}))


# --- 7. config sits below the runner, results, gate, backends and front ends -----------------------------------

def test_config_imports_nothing_above_it_and_only_at_module_level():
    code = ("import sys, trtbench.config.configure, trtbench.config.runfields; "
            "print(' '.join(m for m in sys.modules if m.startswith('trtbench.')))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT).stdout.split()
    above = ("backends", "run", "runner", "cli", "results", "report", "gate", "pytest", "bench_session")
    assert "trtbench.config.configure" in loaded and not [m for m in loaded if m.split(".")[1] in above]
    for path in (ROOT / "trtbench" / "config").glob("*.py"):
        for fn in (n for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.FunctionDef)):
            inner = [n for n in ast.walk(fn) if isinstance(n, (ast.Import, ast.ImportFrom))]
            assert not inner, f"{path.name}: {fn.name} imports inside the function"
    assert max(len(p.read_text().splitlines()) for p in (ROOT / "trtbench" / "config").glob("*.py")) < 400


def test_cold_caches_refuse_throughput_mode():
    with pytest.raises(UserError, match="--cold .* use --mode latency"):
        configure({"models": ["mlp"], "cold": True, "mode": "throughput"})
