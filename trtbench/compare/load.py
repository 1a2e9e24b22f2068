"""Load runs for reports and gates: native results (v2 JSON Lines, v1 JSON) and pytest-benchmark JSON,
from files or directories (searched recursively), each validated; an unreadable file is named.

pytest-benchmark JSON written by trtbench's plugin carries each variant's trials (per-trial statistics)
in ``extra_info``, so a gate judges it like a native file. A plain pytest-benchmark entry has no trials:
it is loaded (reports show it) and a gate that needs trials says it cannot judge it.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import List, Optional

import jsonschema

import trtbench.results
from trtbench.errors import UserError
from trtbench.matrix.spec import Variant
from trtbench.models.loading import ModelSource
from trtbench.results.record import DamagedResults, Stats, Trial, VariantRecord
from trtbench.results.store import RunDocument, finalize, find_result_files, parse_results, read_text, schema
from trtbench.timing.samples import RawSamples


@lru_cache(maxsize=1)
def _pytest_benchmark_validator():
    own = json.loads(Path(trtbench.results.__file__).with_name("schema-pytest-benchmark.json").read_text("utf-8"))
    defs = dict(schema()["$defs"], **own["$defs"])  # trials and specs as the results schema has them
    return jsonschema.Draft202012Validator({"$ref": "#/$defs/pytest_benchmark", "$defs": defs})


def check_pytest_benchmark(doc, source: str) -> None:
    """Fail closed on pytest-benchmark JSON whose parts trtbench reads have the wrong types (deeply)."""
    e = jsonschema.exceptions.best_match(_pytest_benchmark_validator().iter_errors(doc))
    if e is not None:
        where = "/".join(str(p) for p in e.path) or "(top level)"
        raise DamagedResults(f"{source} is pytest-benchmark JSON with a damaged part: at {where}: {e.message[:200]}; "
                             f"the file is damaged or was edited by hand")


def _foreign_variant(name: str) -> Variant:
    return Variant(ModelSource(name), "?", 1, "?", "?", None)


def _trials_from_extra(info: dict, where: str) -> List[Trial]:
    return [Trial.from_dict(t, f"{where} trial {i}") for i, t in enumerate(info.get("trials") or [])]


def _plain_trial(stats: dict, where: str) -> Optional[Trial]:
    """A plain pytest-benchmark entry as one pseudo-trial of its e2e time (seconds -> ms), for reports."""
    keys = ("min", "max", "mean", "stddev", "median", "iqr")
    vals = {k: stats.get(k) for k in keys if k in stats}  # numbers >= 0 (check_pytest_benchmark)
    if "median" not in vals:
        return None
    st = Stats(n=int(stats.get("rounds") or 0), min=vals.get("min", float("nan")) * 1e3,
               max=vals.get("max", float("nan")) * 1e3, mean=vals.get("mean", float("nan")) * 1e3,
               std=vals.get("stddev", float("nan")) * 1e3, median=vals["median"] * 1e3,
               iqr=vals.get("iqr", float("nan")) * 1e3)
    return Trial(0, 0, 0, "pytest-benchmark", True, 0.0, 0.0, RawSamples(), {"e2e": st}, "unknown")


def from_pytest_benchmark(doc: dict, source: str) -> RunDocument:
    check_pytest_benchmark(doc, source)
    records: List[VariantRecord] = []
    for i, b in enumerate(doc["benchmarks"]):
        where = f"{source} benchmark {i}"
        info = b.get("extra_info") or {}
        name = b.get("param") or b["name"]
        spec = info.get("trtbench_variant")
        variant = Variant.from_dict(spec) if isinstance(spec, dict) else _foreign_variant(name)
        vid = info.get("trtbench_id") or (spec or {}).get("id") or name
        trials = _trials_from_extra(info, where)
        plain = not trials
        if plain:
            t = _plain_trial(b.get("stats") or {}, where)
            trials = [t] if t is not None else []
        rec = VariantRecord(variant, str(vid), "ok", shapes={}, backend=info.get("backend") or {},
                            timing=dict(info.get("timing") or {}, pytest_benchmark_plain=plain), trials=tuple(trials),
                            planned_trials=len(trials), nvml={"summary": info["nvml"]} if info.get("nvml") else None,
                            accuracy=info.get("accuracy"))
        records.append(finalize(rec, {}))
    tb = doc.get("trtbench") or {}
    for status in ("failed", "skipped"):
        for item in tb.get(status, []):
            records.append(VariantRecord(_foreign_variant(str(item["id"])), str(item["id"]), status,
                                         str(item.get("reason") or status)))
    machine = dict(doc.get("machine_info") or {})
    extra = machine.get("trtbench") or {}
    gpu = extra.get("gpu")
    return RunDocument(source, str(doc.get("datetime", Path(source).stem)), "complete",
                       {"host": machine.get("node", "?"), "python": machine.get("python_version", "?"), "gpu": gpu,
                        "cpu": (machine.get("cpu") or {}).get("brand_raw", "?") if isinstance(machine.get("cpu"), dict)
                        else "?", "os": machine.get("system", "?"), "packages": extra.get("packages", {})},
                       {}, {}, tb.get("excluded", []), records, kind="pytest-benchmark")


def load_file(path: Path) -> Optional[RunDocument]:
    """A run, or None for JSON that is neither kind (skipped when scanning directories)."""
    try:
        text = read_text(path)
    except (OSError, UnicodeDecodeError, EOFError) as exc:
        raise UserError(f"cannot read {path} ({exc}): check the file") from None
    head = text.lstrip()[:4096]
    if '"trtbench.results"' in head:
        return parse_results(str(path), text)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"{path} is not valid JSON ({exc.msg} at line {exc.lineno}): the file is truncated or "
                        f"damaged; remove it or re-run the benchmark") from None
    if isinstance(doc, dict) and "benchmarks" in doc and "machine_info" in doc:
        return from_pytest_benchmark(doc, str(path))
    return None


def load_runs(paths: List[str], what: str = "results") -> List[RunDocument]:
    runs: List[RunDocument] = []
    for p in paths:
        explicit = Path(p).is_file()
        for f in find_result_files(p):
            if f.parent.name == "layers":
                continue
            run = load_file(f)
            if run is None:
                if explicit:
                    raise UserError(f"{f} is neither a trtbench results file nor pytest-benchmark JSON")
                continue
            runs.append(run)
    if not runs:
        raise UserError(f"no {what} found in {', '.join(paths)}: pass results files, pytest-benchmark JSON files, "
                        f"or directories holding them")
    return runs
