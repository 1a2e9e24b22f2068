"""``trtbench report`` on results made by real runs (CPU here; the committed H100 results too)."""

import json
import math
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from trtbench.errors import UserError
from trtbench.matrix.spec import Matrix, ShapeProfile
from trtbench.models.loading import ModelSource
from trtbench.report.build import comparisons, render
from tests.helpers import run_matrix

ROOT = Path(__file__).resolve().parents[1]
H100 = ROOT / "results" / "h100-2026-11-25"


@pytest.fixture(scope="module")
def cpu_runs(tmp_path_factory):
    from trtbench.config.settings import RunSettings

    d = tmp_path_factory.mktemp("runs")
    s = RunSettings(warmup_ms=2, duration_s=0.02, iterations=5, trials=2, isolation="inline")
    m = Matrix((ModelSource("mlp"), ModelSource("resnet")), ("onnxruntime", "tensorrt"), (1, 4), ("fp32", "fp16"),
               ("implicit", "explicit"), (ShapeProfile("dyn", batch=(1, 2, 4)),))
    a = run_matrix(m, s, str(d / "a"))
    b = run_matrix(m, s, str(d / "b"))
    return d, a, b


def test_report_from_cpu_runs(cpu_runs, tmp_path):
    d, a, b = cpu_runs
    res = render([str(d / "b")], str(tmp_path / "rep"), baseline=[str(d / "a")])
    html = Path(res["html"]).read_text()
    md = Path(res["markdown"]).read_text()
    assert res["variants"] == 32
    for name in ("stage_breakdown", "latency_vs_batch", "throughput_vs_batch", "accuracy_vs_speed",
                 "implicit_vs_explicit"):
        assert (tmp_path / "rep" / f"{name}.png").is_file() and f"{name}.png" in md
    assert html.count("data:image/png;base64,") == len(res["images"])  # embedded: works offline
    assert "http://" not in html and "https://" not in html  # no CDN
    assert "mlp-onnxruntime-fp16-explicit-dyn-b4" in html and "Comparison against the baseline" in html
    assert res["warnings"] == [] and "median over trials of the trial medians" in html
    assert "backend tensorrt is unavailable" in html  # skipped variants with their reasons
    assert "does not apply to an implicit" in html  # excluded combinations too
    rows = re.findall(r"<tr><td>(mlp-onnxruntime-[^<]+)</td>", html)
    assert len(set(rows)) >= 8


def test_report_reads_pytest_benchmark_json_and_names_bad_files(cpu_runs, tmp_path):
    d, a, b = cpu_runs
    pb = tmp_path / "pb.json"
    pb.write_text(json.dumps({"machine_info": {"node": "h"}, "commit_info": {}, "benchmarks": [
        {"name": "test_x", "param": "x", "extra_info": {}, "stats": {"min": 0.001, "max": 0.003, "mean": 0.002,
                                                                     "stddev": 0.0001, "median": 0.002, "iqr": 0.0001,
                                                                     "rounds": 50}}]}))
    res = render([str(pb), str(d / "a")], str(tmp_path / "rep"))
    assert res["variants"] == 33
    bad = tmp_path / "bad" / "results.json"
    bad.parent.mkdir()
    bad.write_text("{ truncated")
    with pytest.raises(UserError, match=str(bad)):
        render([str(tmp_path / "bad")], str(tmp_path / "rep2"))
    with pytest.raises(UserError, match="no results found"):
        render([str(tmp_path / "rep")], str(tmp_path / "rep3"))


def test_names_from_results_cannot_inject_markup(cpu_runs, tmp_path):
    d, a, _ = cpu_runs
    lines = [json.loads(ln) for ln in Path(a.source).read_text().splitlines()]
    evil = "<script>alert(1)</script><img src=x onerror=alert(2)>|`"
    lines[0]["machine"]["host"] = evil
    first = next(ln for ln in lines if ln["event"] == "variant" and ln["record"]["status"] == "ok")
    old_id = first["record"]["id"]
    first["record"]["id"] = first["record"]["variant"]["id"] = first["record"]["variant"]["model"] = evil
    for ln in lines:
        if ln.get("id") == old_id:
            ln["id"] = evil  # its trials follow the new id
    p = tmp_path / "evil" / "results.jsonl"
    p.parent.mkdir()
    p.write_text("".join(json.dumps(ln) + "\n" for ln in lines))
    res = render([str(p)], str(tmp_path / "rep"))
    html = Path(res["html"]).read_text()
    md = Path(res["markdown"]).read_text()
    assert "<script>" not in html and "onerror=alert" not in html.replace("onerror=alert(2)&gt;", "")
    assert "&lt;script&gt;" in html
    assert "<script>" not in md and "<img" not in md
    from trtbench.results.store import read_results

    assert evil in [r.id for r in read_results(str(p)).records]


def test_report_and_gate_give_the_same_comparison(cpu_runs, tmp_path):
    """``report --baseline`` shows the gate's own verdicts: ``trtbench gate`` with its default flags gives the
    same ratio, interval and verdict for the same pair."""
    from trtbench.cli.main import main
    from trtbench.compare.load import load_runs

    d, a, b = cpu_runs
    shown = comparisons(load_runs([str(d / "a")]), load_runs([str(d / "b")]))
    code = main(["gate", "--baseline", str(d / "a"), "--candidate", str(d / "b"), "--json", str(tmp_path / "v.json")])
    gate = json.loads((tmp_path / "v.json").read_text())["findings"]
    assert code == (1 if any(f["verdict"] in ("regression", "failed", "missing") for f in gate) else 0)
    by = {(f["variant"], f["metric"]): f for f in gate}
    assert sorted(by) == sorted((f.variant, f.metric) for f in shown) and len(shown) == 4 * 16
    for f in shown:
        g = by[(f.variant, f.metric)]
        assert (f.verdict, f.baseline, f.candidate, f.ratio, f.p_value) == \
            (g["verdict"], g["baseline"], g["candidate"], g["ratio"], g["p_value"])
        assert [x if math.isfinite(x) else None for x in f.ci] == g["ci"] and f.method == g["method"]
    html = Path(render([str(d / "b")], str(tmp_path / "rep"), baseline=[str(d / "a")])["html"]).read_text()
    f = shown[0]
    assert f"<td>{f.variant}</td><td>{f.metric}</td><td>{f.verdict}</td>" in html and f"{f.ratio:.3f}" in html


@pytest.mark.skipif(not H100.exists(), reason="the committed H100 results are not in this checkout")
def test_report_of_the_committed_h100_results(tmp_path):
    res = render([str(H100)], str(tmp_path / "h100"))
    html = Path(res["html"]).read_text()
    assert "NVIDIA H100 80GB HBM3" in html and "resnet-tensorrt-int8-explicit-dyn-b8" in html
    assert {"memory_utilization.png", "nvml_timeseries.png", "energy_per_inference.png"} <= set(res["images"])


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


@pytest.mark.skipif(_chromium() is None, reason="headless Chromium is not installed (.ci/run installs it)")
def test_index_html_renders_in_headless_chromium_with_every_image_loaded(cpu_runs, tmp_path):
    d, _, b = cpu_runs
    res = render([str(d / "b")], str(tmp_path / "rep"))
    html_path = Path(res["html"])
    # a probe page: loads the report in an iframe-free way by appending a script that reports image state
    probe = html_path.with_name("probe.html")
    probe.write_text(html_path.read_text().replace(
        "</body>", "<script>window.onload=function(){var i=document.images,ok=0;for(var k=0;k<i.length;k++)"
                   "{if(i[k].complete&&i[k].naturalWidth>0)ok++;}document.title='IMAGES '+ok+'/'+i.length;}"
                   "</script></body>"))
    cmd = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=5000", "--dump-dom", probe.as_uri()]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120).stdout
    m = re.search(r"<title>IMAGES (\d+)/(\d+)</title>", out)
    assert m, out[:500]
    loaded, total = int(m.group(1)), int(m.group(2))
    assert total == len(res["images"]) and loaded == total
    shot = tmp_path / "shot.png"
    subprocess.run(cmd[:-2] + ["--window-size=1400,2000", f"--screenshot={shot}", html_path.as_uri()],
                   capture_output=True, timeout=120)
    assert shot.is_file() and shot.stat().st_size > 10_000


def test_the_summary_names_trials_whose_compute_was_not_timed_as_asked():
    """A graph timed with events around its launch (a driver without event nodes or the gate), and a model timed
    eagerly (no capture): the summary table says so under the table, each reason once."""
    from tests.helpers import trial_of, variant_of
    from trtbench.report.summary import summary_table
    from trtbench.results.record import VariantRecord

    around = "graph (in-graph events unavailable: CudaError: cudaEventRecordWithFlags failed)"
    eager = "eager (graph fallback: NotApplicable: cannot be captured)"
    recs = [VariantRecord(variant_of(m), variant_of(m).id, "ok", timing={"timer": "cuda-events"},
                          trials=tuple(trial_of([1.0, 1.1, 1.2], k, compute_timing=why) for k in range(2)))
            for m, why in (("mlp", around), ("resnet", eager))]
    text = summary_table(recs)
    assert text.count(f"compute timed with events around the graph launch where: {around}") == 1
    assert text.count(f"compute timed eagerly where: {eager}") == 1
    assert "events around the graph launch where: eager" not in text
