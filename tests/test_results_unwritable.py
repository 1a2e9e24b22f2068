"""Results that cannot be written: a path that is a file, /dev/null, a folder under a file (read-only for root
too) fail in one line before anything is measured; a disk that fills mid-run ends the run with exit 2, keeps
the lines written before, and the reader calls the run aborted, not running."""

import errno
import json
import os
from pathlib import Path

import pytest

from trtbench.cli.main import main
from trtbench.results.store import ResultsWriter, read_results

RUN = ["run", "-m", "mlp", "--backend", "onnxruntime", "--batch", "1", "--build-mode", "implicit", "--trials", "2",
       "--isolation", "inline", "--warmup", "2", "--duration", "0.02", "--iterations", "5", "--no-accuracy"]


def _one_line_error(capsys):
    out, err = capsys.readouterr()
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("trtbench: error:"), err
    return out, lines[0]


@pytest.mark.parametrize("where", ["file", "devnull", "under-file"])
def test_results_that_cannot_be_a_folder_fail_in_one_line_before_measuring(tmp_path, capsys, monkeypatch, where):
    (tmp_path / "file.txt").write_text("keep me\n")
    target = {"file": tmp_path / "file.txt", "devnull": Path("/dev/null"),
              "under-file": tmp_path / "file.txt" / "sub"}[where]
    monkeypatch.chdir(tmp_path)
    assert main(RUN + ["--results", str(target)]) == 2
    out, line = _one_line_error(capsys)
    shown = "/dev/null" if where == "devnull" else str(tmp_path / "file.txt")
    assert f"{shown} is not a folder" in line and "--results" in line, line
    assert "round 1" not in out and "compute p50" not in out  # nothing was measured
    assert (tmp_path / "file.txt").read_text() == "keep me\n"


def test_a_disk_that_fills_mid_run_ends_it_with_exit_2_and_keeps_what_was_written(tmp_path, capsys, monkeypatch):
    real = ResultsWriter._write
    written = []

    def fills_up(self, text):  # the 4th line on: no space left on the device
        if len(written) >= 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        written.append(text)
        real(self, text)

    monkeypatch.setattr(ResultsWriter, "_write", fills_up)
    assert main(RUN + ["--results", str(tmp_path)]) == 2
    out, line = _one_line_error(capsys)
    assert "No space left on device" in line and "cannot write results" in line, line
    (path,) = tmp_path.glob("*/results.jsonl")
    lines = path.read_text().splitlines(keepends=True)
    assert lines == written  # header, variant, first trial: kept as written
    assert [json.loads(x)["event"] for x in lines] == ["header", "variant", "trial"]
    doc = read_results(str(path))  # read back by this (still living) process: the writer has given up
    assert doc.status == "aborted" and "killed or crashed" not in doc.warnings[0]
    assert "no end" in doc.warnings[0] and len(doc.records[0].trials) == 1


def test_a_writer_that_still_writes_is_running_and_one_that_closed_is_not(tmp_path):
    header = {"command": "t", "machine": {"host": "h", "os": "o", "cpu": "c", "python": "3", "packages": {}},
              "settings": {}, "matrix": {}, "excluded": []}
    w = ResultsWriter(str(tmp_path), header, run_id="r")
    assert read_results(str(w.path)).status == "running"
    w.close()  # closed without an end line (a crash of the writing code)
    assert read_results(str(w.path)).status == "aborted"


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes into read-only folders "
                    "(the folder-under-a-file case above fails for root too)")
def test_a_read_only_results_folder_fails_in_one_line_before_measuring(tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        assert main(RUN + ["--results", str(ro)]) == 2
    finally:
        ro.chmod(0o700)
    out, line = _one_line_error(capsys)
    assert "cannot write results" in line and "Permission denied" in line and "round 1" not in out, line
