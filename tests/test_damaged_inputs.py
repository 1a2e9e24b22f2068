"""Results files and pytest-benchmark JSON are validated deeply: whatever part a hand edit or a broken tool
damaged (a string or nested sample, a negative time, ``benchmarks: [5]``, a failed entry without an id, a
statistic that is a list...), ``trtbench report`` and ``trtbench gate`` stop with one line and exit 2, never
a traceback."""

import copy
import json
from pathlib import Path

import pytest

from tests.helpers import one_line_exit_2, write_run
from trtbench.cli.main import main
from trtbench.pytest.benchmark import extra_info
from trtbench.results.store import read_results


@pytest.fixture(scope="module")
def native(tmp_path_factory):
    base = write_run(tmp_path_factory.mktemp("native"), {"mlp": [[1.0 + 0.01 * k] * 30 for k in range(3)]})
    return base, [json.loads(x) for x in Path(base).read_text().splitlines()]


def _pytest_benchmark(record):
    return {"machine_info": {"node": "h"}, "commit_info": {}, "datetime": "2026-11-26T00:00:00",
            "benchmarks": [{"name": f"test_variant[{record.id}]", "fullname": f"b.py::test_variant[{record.id}]",
                            "param": record.id, "extra_info": extra_info(record),
                            "stats": {"min": 0.001, "max": 0.003, "mean": 0.002, "stddev": 0.0001, "median": 0.002,
                                      "iqr": 0.0001, "rounds": 2, "data": [0.001, 0.003]}}],
            "trtbench": {"failed": [], "skipped": [], "excluded": []}}


def _both_commands(capsys, tmp_path, base, damaged, *words):
    one_line_exit_2(capsys, ["report", str(damaged), "-o", str(tmp_path / "report")], *words)
    one_line_exit_2(capsys, ["gate", "--baseline", base, "--candidate", str(damaged)], *words)


def _trial(d):
    return d["benchmarks"][0]["extra_info"]["trials"][0]


PB_DAMAGE = {
    "benchmarks is [5]": (lambda d: d.__setitem__("benchmarks", [5]), "benchmarks/0"),
    "a failed entry without an id": (lambda d: d["trtbench"]["failed"].append({"reason": "boom"}), "trtbench/failed/0"),
    "failed is not a list": (lambda d: d["trtbench"].__setitem__("failed", 5), "trtbench/failed"),
    "trtbench block is a string": (lambda d: d.__setitem__("trtbench", "x"), "at trtbench"),
    "extra_info is a string": (lambda d: d["benchmarks"][0].__setitem__("extra_info", "x"), "extra_info"),
    "machine_info is a string": (lambda d: d.__setitem__("machine_info", "x"), "machine_info"),
    "a string sample": (lambda d: _trial(d)["samples"].__setitem__("compute", ["1.0"]), "compute sample 0"),
    "a nested sample": (lambda d: _trial(d)["samples"].__setitem__("compute", [[1.0]]), "compute sample 0"),
    "a negative sample": (lambda d: _trial(d)["samples"].__setitem__("compute", [-1.0]), "compute sample 0"),
    "a string statistic": (lambda d: _trial(d)["stats"]["compute"].__setitem__("median", "fast"), "stats/compute"),
    "a nested statistic": (lambda d: _trial(d)["stats"]["compute"].__setitem__("median", [1.0]), "stats/compute"),
    "a negative statistic": (lambda d: _trial(d)["stats"]["compute"].__setitem__("median", -1.0), "stats/compute"),
    "statistics that are a list": (lambda d: _trial(d)["stats"].__setitem__("compute", [1, 2]), "stats/compute"),
    "a trial index that is text": (lambda d: _trial(d).__setitem__("index", "a"), "trials/0/index"),
    "telemetry that is text": (lambda d: _trial(d).__setitem__("telemetry", "x"), "telemetry"),
    "flags that are a number": (lambda d: _trial(d).__setitem__("flags", 5), "flags"),
    "a variant without a backend": (lambda d: d["benchmarks"][0]["extra_info"]["trtbench_variant"].pop("backend"),
                                    "trtbench_variant"),
    "a batch that is text": (lambda d: d["benchmarks"][0]["extra_info"]["trtbench_variant"].__setitem__("batch", "x"),
                             "batch"),
    "accuracy that is text": (lambda d: d["benchmarks"][0]["extra_info"].__setitem__("accuracy", "x"), "accuracy"),
    "a negative plain median": (lambda d: d["benchmarks"][0]["stats"].__setitem__("median", -0.1), "stats/median"),
    "a string in stats.data": (lambda d: d["benchmarks"][0]["stats"].__setitem__("data", ["a"]), "stats/data/0"),
    "excluded that is text": (lambda d: d["trtbench"].__setitem__("excluded", "x"), "excluded"),
}


@pytest.mark.parametrize("case", list(PB_DAMAGE))
def test_damaged_pytest_benchmark_json_isone_line_exit_2(native, tmp_path, capsys, case):
    base, _ = native
    doc = _pytest_benchmark(read_results(base).records[0])
    assert main(["report", _save(tmp_path / "good.json", doc), "-o", str(tmp_path / "r0")]) == 0  # the undamaged one
    damage, where = PB_DAMAGE[case]
    bad = copy.deepcopy(doc)
    damage(bad)
    _both_commands(capsys, tmp_path, base, _save(tmp_path / "bad.json", bad), "bad.json", where)


def _save(path, doc):
    path.write_text(json.dumps(doc))
    return str(path)


NATIVE_DAMAGE = {  # line index -> damage
    "a string statistic": (2, lambda d: d["trial"]["stats"]["compute"].__setitem__("median", "fast"), "line 3"),
    "a negative statistic": (2, lambda d: d["trial"]["stats"]["compute"].__setitem__("median", -1), "line 3"),
    "a nested sample": (2, lambda d: d["trial"]["samples"].__setitem__("compute", [[1.0]] * 30), "compute sample 0"),
    "eager statistics that are text": (2, lambda d: d["trial"].__setitem__("eager", "x"), "trial/eager"),
    "a start time that is text": (2, lambda d: d["trial"].__setitem__("started", "now"), "trial/started"),
    "a batch that is text": (1, lambda d: d["record"]["variant"].__setitem__("batch", "x"), "record/variant/batch"),
    "a profile input without opt": (1, lambda d: d["record"]["variant"].__setitem__(
        "profile", {"name": "p", "inputs": [{"name": "x", "min": [1]}]}), "record/variant/profile"),
    "quality that is a number": (1, lambda d: d["record"].__setitem__("quality", 5), "record/quality"),
    "a settings value that is text": (0, lambda d: d["settings"].__setitem__("min_samples", "x"), "min_samples"),
    "an excluded model that is a number": (0, lambda d: d.__setitem__("excluded", [
        {"model": 5, "backend": "b", "batch": 1, "precision": "p", "build_mode": "b", "reason": "r"}]), "excluded/0"),
}


@pytest.mark.parametrize("case", list(NATIVE_DAMAGE))
def test_damaged_results_files_areone_line_exit_2(native, tmp_path, capsys, case):
    base, lines = native
    index, damage, where = NATIVE_DAMAGE[case]
    bad = copy.deepcopy(lines)
    damage(bad[index])
    path = tmp_path / "bad" / "results.jsonl"
    path.parent.mkdir()
    path.write_text("".join(json.dumps(x) + "\n" for x in bad))
    _both_commands(capsys, tmp_path, base, path, "results.jsonl", where)


def test_an_nvml_summary_that_is_text_isone_line_exit_2(native, tmp_path, capsys):
    base, lines = native
    update = {"event": "update", "id": lines[1]["record"]["id"], "fields": {"nvml": {"summary": "x"}}}
    path = tmp_path / "bad" / "results.jsonl"
    path.parent.mkdir()
    path.write_text("".join(json.dumps(x) + "\n" for x in lines[:3] + [update] + lines[3:]))
    _both_commands(capsys, tmp_path, base, path, "line 4 (update)", "nvml/summary")
