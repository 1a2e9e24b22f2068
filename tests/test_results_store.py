"""The results store: JSON Lines appended line by line (schema 2), read back fail-closed; v1 files still load."""

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import MACHINE, trial_of, variant_of, write_run
from trtbench.errors import UserError
from trtbench.results.record import DamagedResults, VariantRecord
from trtbench.results.store import ResultsWriteError, ResultsWriter, read_results

ROOT = Path(__file__).resolve().parents[1]
V1 = ROOT / "results" / "h100-2026-11-25" / "tensorrt-8.6" / "20261125-221027-8900fe" / "results.json.gz"
HEADER = {"command": "test", "machine": MACHINE, "settings": {"min_samples": 5}, "matrix": {}, "excluded": []}


def _lines(path):
    return Path(path).read_text().splitlines(keepends=True)


def test_every_event_is_appended_and_nothing_is_rewritten(tmp_path):
    w = ResultsWriter(str(tmp_path), HEADER, run_id="run-1")
    v = variant_of("mlp")
    before = Path(w.path).read_bytes()
    assert before.endswith(b"\n") and json.loads(before)["event"] == "header"
    w.variant(VariantRecord(v, v.id, "ok", planned_trials=3))
    for i in range(3):
        now = Path(w.path).read_bytes()
        assert now.startswith(before) and now.count(b"\n") == before.count(b"\n") + 1  # one more line, same prefix
        before = now
        w.trial(v.id, trial_of([1.0 + i] * 10, i))
    w.update(v.id, nvml={"summary": {"samples": 4}})
    w.finish()
    w.finish()  # idempotent: one end line
    events = [json.loads(x)["event"] for x in _lines(w.path)]
    assert events == ["header", "variant", "trial", "trial", "trial", "update", "end"]
    doc = read_results(str(tmp_path / "run-1"))
    (rec,) = doc.records
    assert doc.status == "complete" and doc.warnings == [] and doc.run_id == "run-1"
    assert rec.trial_values("compute") == [1.0, 2.0, 3.0] and rec.nvml_summary == {"samples": 4} and rec.complete
    with pytest.raises(ResultsWriteError, match="exists already"):
        ResultsWriter(str(tmp_path), HEADER, run_id="run-1")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ResultsWriteError, match="cannot write results"):
        ResultsWriter(str(tmp_path / "file"), HEADER)


def test_a_run_without_an_end_says_what_happened(tmp_path):
    w = ResultsWriter(str(tmp_path / "mine"), HEADER)  # this process is the writer, and still writes
    v = variant_of("mlp")
    w.variant(VariantRecord(v, v.id, "ok", planned_trials=1))
    w.trial(v.id, trial_of([1.0] * 10))
    mine = str(w.path)
    doc = read_results(mine)
    assert doc.status == "running" and "still running" in doc.warnings[0]
    w.close()  # gone without an end line, its process alive: it stopped writing
    doc = read_results(mine)
    assert doc.status == "aborted" and "stopped writing" in doc.warnings[0]
    lines = _lines(mine)
    head = json.loads(lines[0])
    head["writer"]["host"] = "another-host"
    Path(mine).write_text(json.dumps(head) + "\n" + "".join(lines[1:]))
    doc = read_results(mine)
    assert doc.status == "incomplete" and "killed or crashed" in doc.warnings[0]
    assert doc.records[0].trial_values("compute") == [1.0]  # what was measured before that stands


def test_a_killed_writer_leaves_a_readable_aborted_run(tmp_path):
    script = (
        "import os, sys\n"
        "sys.path.insert(0, sys.argv[2])\n"
        "from tests.helpers import write_run\n"
        "p = write_run(sys.argv[1], {'mlp': [[1.0] * 10, [1.1] * 10]}, finish=None)\n"
        "with open(p, 'a') as f:\n"
        "    f.write('{\"event\": \"trial\", \"id\": \"mlp-onnx')\n"  # a line cut off by the crash
        "os._exit(9)\n")
    r = subprocess.run([sys.executable, "-c", script, str(tmp_path), str(ROOT)], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 9, r.stderr
    (path,) = tmp_path.glob("*/results.jsonl")
    doc = read_results(str(path))
    assert doc.status == "aborted" and "killed or crashed" in doc.warnings[0]
    (rec,) = doc.records
    assert rec.trial_values("compute") == pytest.approx([1.0, 1.1])


def test_a_truncated_last_line_is_tolerated_and_damage_elsewhere_is_not(tmp_path):
    path = write_run(tmp_path, {"mlp": [[1.0] * 10, [1.2] * 10]})
    lines = _lines(path)
    cut = "".join(lines[:3]) + lines[3][:25]  # header, variant, trial 0, half of trial 1
    Path(path).write_text(cut)
    doc = read_results(path)
    assert doc.records[0].trial_values("compute") == [1.0] and doc.status == "aborted"  # its writer has closed it
    assert "incomplete" in doc.records[0].quality  # 1 of 2 planned trials
    Path(path).write_text("".join(lines[:2]) + lines[3][:25] + "\n" + lines[2])  # a broken line before others
    with pytest.raises(DamagedResults, match="line 3 is not valid JSON"):
        read_results(path)
    Path(path).write_text("".join(lines[:-1]) + "garbage\n")  # a complete last line that is not JSON
    with pytest.raises(DamagedResults, match="not valid JSON"):
        read_results(path)


@pytest.mark.parametrize("bad", [None, -1.0, "fast", "NaN", "Infinity", True])
def test_a_sample_no_measurement_can_produce_is_damage_in_one_line(tmp_path, bad):
    path = write_run(tmp_path, {"mlp": [[1.0] * 10, [1.2] * 10]})
    lines = _lines(path)
    doc = json.loads(lines[3])
    doc["trial"]["samples"]["compute"][4] = bad
    text = json.dumps(doc)
    if bad in ("NaN", "Infinity"):  # Python's json writes and reads these tokens; they are no JSON numbers
        text = text.replace(f'"{bad}"', bad)
    Path(path).write_text("".join(lines[:3]) + text + "\n" + "".join(lines[4:]))
    with pytest.raises(DamagedResults) as info:
        read_results(path)
    msg = str(info.value)
    assert isinstance(info.value, UserError) and "\n" not in msg
    assert "line 4" in msg and "compute sample 4" in msg and "damaged" in msg


def test_structural_damage_is_named(tmp_path):
    path = write_run(tmp_path, {"mlp": [[1.0] * 10]})
    lines = _lines(path)
    cases = [
        (lines[1:], "not valid JSON"),  # no header line: read as (broken) version 1 JSON, and named
        (lines[:2] + [lines[0]] + lines[2:], "a second header"),
        (lines[:1] + lines[2:], "which has no record line"),
        (lines[:2] + ['{"event": "gossip"}\n'] + lines[2:], "unknown event 'gossip'"),
        (lines[:2] + ['{"event": "trial", "id": "x"}\n'] + lines[2:], "does not match the results schema"),
        ([], "not a trtbench results file"),
    ]
    for content, match in cases:
        Path(path).write_text("".join(content))
        with pytest.raises(UserError, match=match):
            read_results(path)


def test_version_1_files_still_load_one_trial_per_variant(tmp_path):
    if not V1.exists():
        pytest.skip("the committed H100 results are not in this checkout")
    with gzip.open(V1, "rt") as f:
        raw = json.load(f)
    doc = read_results(str(V1))
    assert doc.schema_version == 1 and doc.status == "complete" and len(doc.records) == len(raw["variants"])
    rec = doc.by_id()["mlp-tensorrt-fp32-implicit-b1"]
    (t,) = rec.trials
    assert rec.ok and rec.planned_trials == 1 and t.process == "v1" and t.samples.queries == 8582
    assert t.value("compute") == pytest.approx(raw["variants"][0]["stats"]["stages"]["compute"]["median"], rel=1e-6)
    assert rec.headline("compute").value == t.value("compute") and rec.headline("compute").trials == 1
    running = dict(raw, status="running")
    p = tmp_path / "r" / "results.json"
    p.parent.mkdir()
    p.write_text(json.dumps(running))
    assert read_results(str(p)).status == "aborted"
    raw["variants"][0]["samples"]["compute"][0] = None
    p.write_text(json.dumps(raw))
    with pytest.raises(DamagedResults, match="compute sample 0 is None"):
        read_results(str(p))


def test_gate_reads_what_the_writer_wrote_for_failed_variants(tmp_path):
    failed = VariantRecord(variant_of("mlp", batch=2), variant_of("mlp", batch=2).id, "failed", "CUDA error 700",
                           {"type": "CudaError", "message": "700", "traceback": "Traceback ..."})
    path = write_run(tmp_path, {"mlp": [[1.0] * 10]}, records=[failed])
    by = read_results(path).by_id()
    assert by[failed.id].status == "failed" and by[failed.id].reason == "CUDA error 700" and not by[failed.id].ok
    assert by[failed.id].error["type"] == "CudaError" and os.path.basename(path) == "results.jsonl"
