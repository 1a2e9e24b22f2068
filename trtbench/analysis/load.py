"""Load results for reports and gates: native results envelopes and pytest-benchmark JSON files, from
files or directories (searched recursively), each validated; an unreadable file is named."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

from trtbench.errors import UserError
from trtbench.results.store import find_result_files, validate


@dataclass
class Run:
    source: str
    kind: str  # "native" | "pytest-benchmark"
    run_id: str
    machine: dict
    records: List[dict]
    excluded: List[dict] = field(default_factory=list)
    settings: dict = field(default_factory=dict)

    def by_id(self) -> Dict[str, dict]:
        return {r["variant"]["id"]: r for r in self.records}


def _from_pytest_benchmark(doc: dict, source: str) -> Run:
    records = []
    for b in doc.get("benchmarks", []):
        info = b.get("extra_info") or {}
        variant = info.get("trtbench_variant") or {"id": b.get("param") or b.get("name"), "model": b.get("name"),
                                                   "backend": "?", "batch": 1, "precision": "?", "build_mode": "?"}
        st = b.get("stats") or {}
        stages = info.get("stages") or {}
        if not stages and st:  # a plain pytest-benchmark entry: its stats (seconds) as the e2e stage (ms)
            stages = {"e2e": {k: (v * 1e3 if isinstance(v, (int, float)) and k not in ("rounds", "iterations") else v)
                              for k, v in st.items() if k in ("min", "max", "mean", "stddev", "median", "iqr")}}
            stages["e2e"]["n"] = st.get("rounds", 0)
        samples = None
        if st.get("data"):
            samples = {"e2e": [x * 1e3 for x in st["data"]]}
        records.append({"variant": variant, "status": info.get("status", "ok"), "reason": info.get("reason"),
                        "stats": {"stages": stages, "throughput": info.get("throughput") or {}},
                        "quality": info.get("quality") or [], "nvml": {"summary": info["nvml"]} if info.get("nvml") else None,
                        "accuracy": info.get("accuracy"), "backend": info.get("backend") or {},
                        "samples": samples, "source_kind": "pytest-benchmark"})
    tb = doc.get("trtbench") or {}
    for status in ("failed", "skipped"):
        for item in tb.get(status, []):
            records.append({"variant": {"id": item["id"], "model": item["id"].split("-")[0], "backend": "?",
                                        "batch": 0, "precision": "?", "build_mode": "?"},
                            "status": status, "reason": item.get("reason")})
    machine = dict(doc.get("machine_info") or {})
    gpu = ((machine.get("trtbench") or {}).get("gpu"))
    return Run(source, "pytest-benchmark", str(doc.get("datetime", Path(source).stem)),
               {"host": machine.get("node", "?"), "python": machine.get("python_version", "?"), "gpu": gpu,
                "cpu": (machine.get("cpu") or {}).get("brand_raw", "?") if isinstance(machine.get("cpu"), dict) else "?",
                "os": machine.get("system", "?"), "packages": (machine.get("trtbench") or {}).get("packages", {})},
               records, tb.get("excluded", []))


def load_file(path: Path) -> Optional[Run]:
    """A Run, or None for JSON that is neither kind (skipped when scanning directories)."""
    from trtbench.results.store import read_text

    try:
        doc = json.loads(read_text(path))
    except (OSError, UnicodeDecodeError, EOFError) as exc:
        raise UserError(f"cannot read {path} ({exc}): check the file") from None
    except json.JSONDecodeError as exc:
        raise UserError(f"{path} is not valid JSON ({exc.msg} at line {exc.lineno}): the file is truncated or "
                        f"damaged; remove it or re-run the benchmark") from None
    if isinstance(doc, dict) and doc.get("schema") == "trtbench.results":
        doc = validate(doc, str(path))
        return Run(str(path), "native", doc["run_id"], doc["machine"], doc["variants"], doc.get("excluded", []),
                   doc.get("settings", {}))
    if isinstance(doc, dict) and "benchmarks" in doc and "machine_info" in doc:
        return _from_pytest_benchmark(doc, str(path))
    return None


def load_runs(paths: List[str]) -> List[Run]:
    runs: List[Run] = []
    for p in paths:
        explicit = Path(p).is_file()
        found = list(find_result_files(p))
        for f in found:
            if f.parent.name == "layers":
                continue
            run = load_file(f)
            if run is None:
                if explicit:
                    raise UserError(f"{f} is neither a trtbench results file nor pytest-benchmark JSON")
                continue
            runs.append(run)
    if not runs:
        raise UserError(f"no results found in {', '.join(paths)}: pass results.json files, pytest-benchmark "
                        f"JSON files, or directories holding them")
    return runs
