"""``trtbench ab``: two configurations interleaved in the same rounds (ABBA), then gated round by round."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import onnx
import pytest

from tests.helpers import sqrt_model
from trtbench.compare.engine import _is_ab_pair, compare_runs
from trtbench.compare.rules import AB_DEFAULT_SPECS, parse_specs
from trtbench.results.store import read_results

ROOT = Path(__file__).resolve().parents[1]
V1 = "mlp-onnxruntime-fp32-implicit-b1"


def _env():
    return dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))


def cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "trtbench", *args], capture_output=True, text=True, env=_env(),
                          cwd=cwd, timeout=600)


def _ab_args(tmp_path, a, b, rounds=3, *extra):
    from trtbench.cli.main import attach_values, build_parser

    argv = ["ab", "--a", a, "--b", b, "-m", "mlp", "-b", "onnxruntime", "--build-mode", "implicit", "--isolation",
            "inline", "--duration", "0.03", "--warmup", "2", "--rounds", str(rounds), "--results", str(tmp_path),
            *extra]
    return build_parser().parse_args(attach_values(argv))


def test_interleaved_ab_is_judged_paired_round_by_round(tmp_path):
    from trtbench.run.ab import interleaved_ab

    args = _ab_args(tmp_path, "--batch 1", "--batch 1 --seed 3", 3)
    a_path, b_path = interleaved_ab(vars(args), args.a, args.b, args.rounds, args.results)
    a, b = read_results(a_path), read_results(b_path)
    assert a.complete and b.complete and a.protocol["arm"] == "A" and b.protocol["arm"] == "B"
    assert a.protocol["ab_job"] == b.protocol["ab_job"] and a.protocol["ab_rounds"] == 3
    assert a.settings["seed"] == 0 and b.settings["seed"] == 3  # each side's own flags
    (ra,), (rb,) = a.records, b.records
    assert ra.id == rb.id == V1 and rb.extra["ab_side"] == "B" and rb.extra["ab_original_id"] == V1
    assert [t.round for t in ra.trials] == [t.round for t in rb.trials] == [0, 1, 2]
    for ta, tb in zip(ra.trials, rb.trials):  # ABBA: A first on even rounds, B first on odd ones
        assert (ta.ended <= tb.started) if ta.round % 2 == 0 else (tb.ended <= ta.started)
    assert _is_ab_pair([a], [b]) and not _is_ab_pair([b], [a]) and not _is_ab_pair([a], [a])
    v = compare_runs([a], [b], parse_specs(None, AB_DEFAULT_SPECS))
    assert v.paired and {f.metric for f in v.findings} == {"compute.p50", "h2d.p50", "d2h.p50", "latency.p99"}
    assert all(f.method == "paired t on per-round log ratios, 3 rounds" and f.trials == (3, 3) for f in v.findings)
    other_b = interleaved_ab(vars(args), args.a, args.b, "2", str(tmp_path / "again"))[1]
    assert not _is_ab_pair([a], [read_results(other_b)])  # another job: separate runs, Welch
    assert not compare_runs([a], [read_results(other_b)], parse_specs(["compute.p50:5%"])).paired


def test_sides_that_do_not_pair_up_are_a_user_error(tmp_path):
    from trtbench.errors import UserError
    from trtbench.run.ab import interleaved_ab

    args = _ab_args(tmp_path, "--batch 1,2", "--batch 1")
    with pytest.raises(UserError, match="pair up"):
        interleaved_ab(vars(args), args.a, args.b, args.rounds, args.results)
    args = _ab_args(tmp_path, "--batch 1 --isolation process", "--batch 1")
    with pytest.raises(UserError, match="apply to both sides"):
        interleaved_ab(vars(args), args.a, args.b, args.rounds, args.results)
    with pytest.raises(UserError, match="bad --a flags"):
        interleaved_ab(vars(args), "--frobnicate", "--batch 1", "2", str(tmp_path))
    assert not list(tmp_path.rglob("*.jsonl"))  # nothing ran


def test_ab_cli_takes_model_flags_in_the_space_form(tmp_path):
    for name in ("x", "y"):
        onnx.save(sqrt_model(), tmp_path / f"{name}.onnx")
    r = cli("ab", "--a", "-m x.onnx", "--b", "-m y.onnx", "-b", "onnxruntime", "--batch", "2", "--build-mode",
            "implicit", "--isolation", "inline", "--duration", "0.03", "--warmup", "2", "--rounds", "3",
            "--results", "res", "--json", "v.json", cwd=tmp_path)
    assert r.returncode in (0, 1), r.stdout[-2000:] + r.stderr  # a verdict, not a usage error
    assert "Traceback" not in r.stderr and ("regression" in r.stderr) == (r.returncode == 1)
    v = json.loads((tmp_path / "v.json").read_text())
    assert v["paired"] and {f["variant"] for f in v["findings"]} == {"x-onnxruntime-fp32-implicit-b2"}
    docs = {read_results(str(p)).protocol["arm"]: read_results(str(p)) for p in (tmp_path / "res").glob("*/*.jsonl")}
    assert set(docs) == {"A", "B"} and docs["B"].records[0].extra["ab_original_id"] == "y-onnxruntime-fp32-implicit-b2"
    r = cli("ab", "--a", "--batch 1,2", "--b", "--batch 1", "-m", "mlp", "-b", "onnxruntime", "--build-mode",
            "implicit", "--results", str(tmp_path / "x"))
    assert r.returncode == 2 and "pair up" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def _trial_lines(path):
    try:
        return sum('"event":"trial"' in ln for ln in Path(path).read_text().splitlines())
    except FileNotFoundError:
        return 0


def test_ctrl_c_keeps_the_completed_rounds(tmp_path):
    """SIGINT (Ctrl-C) once both sides' first round is written: exit 130, both files end 'interrupted' and
    keep every trial written before it (worker processes: the default isolation)."""
    proc = subprocess.Popen([sys.executable, "-m", "trtbench", "ab", "--a", "--batch 1", "--b", "--batch 2", "-m",
                             "mlp", "-b", "onnxruntime", "--build-mode", "implicit", "--duration", "0.2",
                             "--rounds", "40", "--results", str(tmp_path)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=_env())
    deadline = time.monotonic() + 240
    files = []
    while time.monotonic() < deadline and proc.poll() is None:
        files = sorted(tmp_path.glob("*/results.jsonl"))
        if len(files) == 2 and all(_trial_lines(f) >= 1 for f in files):
            break
        time.sleep(0.05)
    assert proc.poll() is None and len(files) == 2, "the first round never finished"
    written = {f: _trial_lines(f) for f in files}
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, out[-2000:] + err
    assert "interrupted" in err and "Traceback" not in err
    for f in files:
        doc = read_results(str(f))
        (rec,) = doc.records
        assert doc.status == "interrupted" and any("interrupted" in w for w in doc.warnings)
        assert written[f] <= len(rec.trials) < 40 and "incomplete" in rec.quality
        assert [t.round for t in rec.trials] == list(range(len(rec.trials)))


def test_ctrl_c_during_a_workers_start_waits_until_the_start_is_done():
    """A SIGINT that arrives while a worker starts is held back: the start completes (the worker gets its tasks,
    so it never reads a closed pipe and prints a traceback), then the interrupt is raised."""
    from trtbench.run.executor import start_uninterrupted

    events = []

    class Proc:
        def start(self):
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C in the middle of the start
            time.sleep(0.05)  # would be interrupted here, without the mask
            events.append("started")

    with pytest.raises(KeyboardInterrupt):
        start_uninterrupted(Proc())
        events.append("after")
    assert events == ["started"]  # the start finished; the interrupt came as it returned
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the handler is restored


def test_sigterm_during_a_workers_start_waits_until_the_start_is_done():
    """SIGTERM is held back the same way and then reaches the handler that was in place (the session's, which
    ends the run as aborted)."""
    from trtbench.run.executor import start_uninterrupted

    events = []

    class Terminated(Exception):
        pass

    def handler(signum, frame):
        raise Terminated(signum)

    class Proc:
        def start(self):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.05)
            events.append("started")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        with pytest.raises(Terminated):
            start_uninterrupted(Proc())
            events.append("after")
        assert events == ["started"] and signal.getsignal(signal.SIGTERM) is handler
    finally:
        signal.signal(signal.SIGTERM, previous)
