"""Tests for hardening that was done before issue #14's last pass and had none: report and gate outputs that
cannot be written are one line and exit 2; files honour the umask; the provenance of the code is the commit
someone knows (TRTBENCH_GIT_COMMIT, or git), never a made-up "HEAD"."""

import os
import stat
from pathlib import Path

import pytest

from tests.helpers import one_line_exit_2, write_run
from trtbench.results.fingerprint import git_state


@pytest.fixture
def run_file(tmp_path):
    return write_run(tmp_path / "run", {"mlp": [[1.0 + 0.01 * k] * 30 for k in range(3)]})


def test_report_and_gate_outputs_that_cannot_be_written_are_one_line(tmp_path, capsys, run_file):
    (tmp_path / "file.txt").write_text("x")
    blocked = str(tmp_path / "file.txt" / "sub")  # a path under a regular file: unwritable for root too
    one_line_exit_2(capsys, ["report", run_file, "-o", blocked], "cannot write the report", "-o")
    for flag in ("--junit", "--markdown", "--json"):
        one_line_exit_2(capsys, ["gate", "--baseline", run_file, "--candidate", run_file, flag,
                                  blocked + "/out"], f"cannot write {flag}")


def test_results_files_honour_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        path = Path(write_run(tmp_path, {"mlp": [[1.0] * 10]}))
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_provenance_is_a_known_commit_never_a_literal_head(tmp_path, monkeypatch):
    monkeypatch.setenv("TRTBENCH_GIT_COMMIT", "0123456789abcdef0123456789abcdef01234567")
    monkeypatch.setenv("TRTBENCH_GIT_DIRTY", "1")
    assert git_state(str(tmp_path)) == {"commit": "0123456789abcdef0123456789abcdef01234567", "dirty": True,
                                        "source": "TRTBENCH_GIT_COMMIT"}
    monkeypatch.delenv("TRTBENCH_GIT_COMMIT")
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))  # tmp_path is in no repository
    assert git_state(str(tmp_path)) is None
    here = git_state(str(Path(__file__).resolve().parent))
    if here is not None:  # a checkout with its .git: the real commit
        assert len(here["commit"]) == 40 and here["commit"] != "HEAD"
