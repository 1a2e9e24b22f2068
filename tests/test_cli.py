"""The real commands, as a user runs them (subprocesses), and every command in README.md."""

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import onnx
import pytest

ROOT = Path(__file__).resolve().parents[1]


def cli(*args, cwd=None, timeout=300):
    return subprocess.run([sys.executable, "-m", "trtbench", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=timeout, env=_env())


def _env():
    import os

    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def assert_user_error(r, *words):
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    lines = [ln for ln in r.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("trtbench: error:"), r.stderr
    assert "Traceback" not in r.stderr
    for w in words:
        assert w in r.stderr, r.stderr


#: options whose value is a file or folder the command writes (checked to exist after it ran)
OUTPUT_OPTIONS = ("--benchmark-json", "--markdown", "--junit", "--json", "-o", "--saveEngine", "--results",
                  "--trtbench-results")
BACKEND_OPTIONS = ("-b", "--backend", "--trtbench-backend")


def readme_commands():
    """Every command of README.md's ```bash blocks that a user runs here: ``trtbench ...`` and ``pytest bench/...``
    (``pip install`` lines and the test suite's own command are not run from inside the suite)."""
    text = (ROOT / "README.md").read_text()
    cmds = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        for line in block.splitlines():
            line = line.split("  #")[0].strip()
            for part in (x.strip() for x in line.split("&&")):
                if part.startswith(("trtbench ", "pytest bench", "python -m pytest bench")) or part == "trtbench":
                    cmds.append(part)
    return cmds


def _tokens(args):
    """The command's tokens, those inside ``ab --a "..."``/``--b "..."`` included, ``--x=v`` split."""
    out = []
    for i, a in enumerate(args):
        out += a.split("=", 1) if a.startswith("--") and "=" in a else [a]
        if i and args[i - 1] in ("--a", "--b"):
            out += _tokens(shlex.split(a))
    return out


def _values(tokens, options):
    return [v for i, t in enumerate(tokens[:-1]) if t in options for v in [tokens[i + 1]]]


def _cannot_run_here(args):
    """Why this machine cannot run the command (it needs TensorRT, or PyTorch), or None."""
    from tests.conftest import tensorrt_reason

    tokens = _tokens(args)
    backends = {b for v in _values(tokens, BACKEND_OPTIONS) for b in v.split(",")}
    if args[:1] == ["build"] or "--engine" in tokens or "--layer-profile" in tokens or "tensorrt" in backends:
        if tensorrt_reason():
            return f"needs TensorRT (and its GPU): {tensorrt_reason()}"
    if "torch" in backends:
        try:
            import onnx2torch  # noqa: F401
            import torch  # noqa: F401
        except Exception as exc:
            return f"needs torch and onnx2torch: {exc}"
    return None


def _run_readme(command, cwd):
    args = shlex.split(command)[1:]
    if command.startswith(("pytest", "python -m pytest")):
        args = args[2:] if command.startswith("python") else args
        return args, subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
                                    capture_output=True, text=True, cwd=cwd, timeout=600, env=_env())
    return args, cli(*args, cwd=cwd, timeout=600)


def _prepare(command, tmp_path):
    """The files a README command reads, in its working folder: the bench suite, committed results it names,
    ``model.onnx`` (the built-in resnet), and what another README command writes (``--saveEngine X`` read by
    ``run --engine X``, ``--results DIR`` read by ``report DIR``...), by running that command first."""
    shutil.copytree(ROOT / "bench", tmp_path / "bench", ignore=shutil.ignore_patterns("__pycache__"))
    from trtbench.models.builtin import builtin_model

    onnx.save(builtin_model("resnet"), tmp_path / "model.onnx")
    tokens = _tokens(shlex.split(command)[1:])
    for t in tokens:
        src = ROOT / t
        if not t.startswith(("-", "/")) and t.startswith("results/") and src.exists():
            (shutil.copytree if src.is_dir() else shutil.copy)(src, tmp_path / t)
    own = set(_values(tokens, OUTPUT_OPTIONS))
    reads = [t for t in tokens if not t.startswith("-") and t not in own and not (tmp_path / t).exists()]
    for other in readme_commands():
        made = [m.rstrip("/") for m in _values(_tokens(shlex.split(other)[1:]), OUTPUT_OPTIONS)]
        if other == command or not any(r == m or r.startswith(m + "/") for r in reads for m in made):
            continue
        why = _cannot_run_here(shlex.split(other)[1:] if other.startswith("trtbench") else ["pytest"])
        if why:
            pytest.skip(f"reads what `{other}` writes, which cannot run here: {why}")
        _, r = _run_readme(other, tmp_path)
        assert r.returncode == 0, (other, r.stdout[-2000:], r.stderr[-2000:])
        return


@pytest.mark.parametrize("command", readme_commands())
def test_every_readme_command_runs(command, tmp_path):
    """Where the machine can run a README command, it succeeds (exit 0) and writes what it says it writes;
    where it cannot (no TensorRT or GPU, no PyTorch), the test is skipped with the reason: never an accepted
    failure."""
    args = shlex.split(command)[1:]
    why = _cannot_run_here(args if command.startswith("trtbench") else ["pytest"] + args)
    if why:
        pytest.skip(why)
    _prepare(command, tmp_path)
    args, r = _run_readme(command, tmp_path)
    assert r.returncode == 0, (r.stdout[-3000:], r.stderr[-3000:])
    assert "Traceback" not in r.stderr, r.stderr
    for out in _values(_tokens(args), OUTPUT_OPTIONS):
        assert (tmp_path / out).exists(), f"{command} did not write {out}"
    if "--help" in args:
        assert "usage:" in r.stdout
    elif args[:1] == ["run"]:
        path = re.search(r"results: (\S+results\.jsonl)", r.stdout).group(1)
        from trtbench.results.store import read_results

        doc = read_results(str(tmp_path / path) if not Path(path).is_absolute() else path)
        assert doc.status == "complete" and any(rec.ok for rec in doc.records)
        assert all(len(rec.trials) == rec.planned_trials == doc.settings["trials"] for rec in doc.records if rec.ok)
    elif "--benchmark-json" in args:
        out = json.loads((tmp_path / _values(args, ("--benchmark-json",))[0]).read_text())
        assert out["benchmarks"] and out["trtbench"]["results"]
    elif args[:1] in (["gate"], ["ab"]):
        assert "PASS" in r.stdout + r.stderr, r.stdout[-2000:]
    elif args[:1] == ["report"]:
        assert (tmp_path / _values(args, ("-o",))[0] / "index.html").is_file() if "-o" in args else "report" in r.stdout
    elif "--json" in args:
        json.loads(r.stdout)
    else:
        assert r.stdout.strip()


def test_readme_opens_with_the_two_commands():
    text = (ROOT / "README.md").read_text()
    first = re.search(r"```bash\n(.*?)```", text, re.S).group(1).strip().splitlines()
    assert first[0] == "pip install -e . && trtbench run"
    assert first[1] == 'pip install -e ".[test]" && python -m pytest -q'
    ci = (ROOT / ".ci" / "run").read_text()
    assert 'python -m pytest -q' in ci  # CI runs the README's test command


def test_default_run_produces_a_valid_results_file(tmp_path):
    r = cli("run", "--duration", "0.1", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    files = list((tmp_path / "results").glob("*/results.jsonl"))
    assert len(files) == 1
    from trtbench.results.store import read_results

    doc = read_results(str(files[0]))
    assert len(doc.records) == 16 and all(rec.ok and len(rec.trials) == 3 for rec in doc.records)
    assert doc.protocol["isolation"] == "process" and doc.settings["cuda_graph"] is True  # the defaults
    assert all(t.process.startswith("worker pid") for rec in doc.records for t in rec.trials)
    assert "16 ok, 0 skipped, 0 failed" in r.stdout and "compute p50" in r.stdout
    assert f"order seed {doc.protocol['order_seed']}" in r.stdout  # the seed to reproduce the order


def test_inspect_json_and_text(tmp_path):
    r = cli("inspect", "transformer", "--json")
    d = json.loads(r.stdout)
    assert d["inputs"][0]["shape"] == ["batch", 32, 128] and d["inputs"][0]["dynamic_axes"] == [0]
    assert d["opset"] == 17 and d["ir_version"] == 8 and d["parameter_count"] > 0
    from tests.helpers import old_model

    onnx.save(old_model(), tmp_path / "old.onnx")
    r = cli("inspect", str(tmp_path / "old.onnx"))
    assert r.returncode == 0 and "IR version 3" in r.stdout and "opset 9" in r.stdout and "static" in r.stdout


def test_models_and_backends_json():
    models = json.loads(cli("models", "--json").stdout)
    assert {m["name"] for m in models} == {"resnet", "mlp", "transformer", "encoder"}
    backends = json.loads(cli("backends", "--json").stdout)
    assert {b["name"] for b in backends} == {"onnxruntime", "torch", "tensorrt"}
    assert all(b["available"] or b["reason"] for b in backends)


def test_bad_input_gets_one_line_and_exit_2(tmp_path):
    trunc = tmp_path / "trunc.onnx"
    from trtbench.models.builtin import builtin_model

    trunc.write_bytes(builtin_model("mlp").SerializeToString()[:500])
    (tmp_path / "text.onnx").write_text("not onnx at all")
    cases = [
        (("inspect", str(tmp_path / "missing.onnx")), ["does not exist"]),
        (("inspect", str(trunc)), [str(trunc)]),
        (("inspect", str(tmp_path / "text.onnx")), ["text.onnx"]),
        (("run", "-m", "alexnet"), ["unknown model 'alexnet'"]),
        (("run", "-b", "tensorflow"), ["unknown backend"]),
        (("run", "--precision", "fp64"), ["unknown precision"]),
        (("run", "--profile", "dyn:8,1,32"), ["min <= opt <= max"]),
        (("run", "-m", "mlp", "--minShapes", "nope:1x256", "--build-mode", "explicit"), ["nope"]),
        (("run", "-m", "mlp", "--minShapes", "features:1x256x3", "--build-mode", "explicit"), ["rank"]),
        (("build", "--onnx", "resnet", "--minShapes", "nope:1x3x32x32"), ["input 'nope'"]),  # before TensorRT
        (("run", "--duration", "abc"), ["--duration"]),
        (("run", "--mode", "fast"), ["invalid choice"]),
        (("frobnicate",), ["invalid choice"]),
    ]
    for args, words in cases:
        assert_user_error(cli(*args, cwd=tmp_path), *words)
    assert not (tmp_path / "results").exists() or not list((tmp_path / "results").rglob("*.jsonl"))


def test_a_run_that_measures_nothing_is_exit_2_with_the_reason(tmp_path):
    r = cli("run", "-m", "mlp", "-b", "ort", "--batch", "64", "--profile", "dyn:1,8,32", "--build-mode", "explicit",
            "--duration", "0.05", cwd=tmp_path)
    assert_user_error(r, "nothing to run", "batch 64 is outside profile dyn")
    from tests.helpers import pinned_model

    onnx.save(pinned_model(4), tmp_path / "pinned.onnx")  # planned, then skipped: its batch is pinned at 4
    r = cli("run", "-m", "pinned.onnx", "-b", "ort", "--batch", "2", "--build-mode", "explicit", "--duration",
            "0.05", "--trials", "1", "--isolation", "inline", cwd=tmp_path)
    assert_user_error(r, "no variant was measured (1 skipped, 0 failed)")
    assert "pinned at 4" in r.stdout and "0 ok, 1 skipped, 0 failed" in r.stdout
    (path,) = (tmp_path / "results").glob("*/results.jsonl")  # the skip and its reason are recorded
    from trtbench.results.store import read_results

    (rec,) = read_results(str(path)).records
    assert rec.status == "skipped" and "pinned at 4" in rec.reason


def test_no_command_prints_help_and_exits_2():
    r = cli()
    assert r.returncode == 2 and "usage" in r.stdout.lower()


def test_no_launch_gate_is_recorded_in_the_runs_settings(tmp_path):
    """--no-launch-gate reaches the settings every results file records (on a CPU backend the host timer runs, so
    no variant is gated either way: its timing facts say launch_gate false)."""
    got = {}
    for flags in ([], ["--no-launch-gate"]):
        out = tmp_path / ("off" if flags else "on")
        r = cli("run", "-b", "onnxruntime", "-m", "mlp", "--batch", "1", "--trials", "1", "--duration", "0.01",
                "--warmup", "0", "--no-data-transfers", "--no-accuracy", "--results", str(out), "-q", *flags)
        assert r.returncode == 0, r.stderr
        lines = [json.loads(x) for x in next(out.glob("*/results.jsonl")).read_text().splitlines()]
        header = next(x for x in lines if x.get("event") == "header")
        variant = next(x for x in lines if x.get("event") == "variant")
        got[bool(flags)] = (header["settings"]["launch_gate"], json.dumps(variant).count('"launch_gate": false'))
    assert got[False][0] is True and got[True][0] is False
    assert got[False][1] == got[True][1] == 1
