"""Writing and reading results.

A run writes ``results/<run-id>/results.jsonl`` (schema version 2, JSON Lines): a header line, then one
line per event (a variant's record, each trial as it is measured, telemetry updates, the end). Each
line is appended and fsynced as soon as it exists, so a crash, Ctrl-C or a full disk loses nothing
already written, and writing is linear in the run's size (no file is rewritten). ``read_results``
assembles the records (one call), fail-closed: a line that does not match the schema, or a sample that
no measurement can produce, is a one-line error naming the file and the line. A run without an end line
was interrupted, killed, or is still running: the reader says which it can tell.

Version 1 files (``results.json``, one JSON document, one sample set per variant) still load.
"""

from __future__ import annotations

import gzip
import json
import math
import os
import socket
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Dict, Iterator, List, Mapping, Optional

import jsonschema

from trtbench.atomic_files import write_atomically
from trtbench.errors import UserError
from trtbench.results import SCHEMA_NAME, SCHEMA_VERSION, writerlock
from trtbench.results.quality import assess
from trtbench.results.record import DamagedResults, Trial, VariantRecord

RESULTS_FILE = "results.jsonl"
LEGACY_FILE = "results.json"
RESULT_NAMES = (RESULTS_FILE, RESULTS_FILE + ".gz", LEGACY_FILE, LEGACY_FILE + ".gz")


class ResultsWriteError(UserError):
    """The results cannot be written (a file where a folder should be, read-only, disk full)."""


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def new_run_id() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S") + "-" + os.urandom(3).hex()


@lru_cache(maxsize=2)
def schema(version: int = SCHEMA_VERSION) -> dict:
    return json.loads((Path(__file__).with_name(f"schema-v{version}.json")).read_text(encoding="utf-8"))


def clean(obj):
    """JSON has no NaN/Infinity: write them as null (readers treat a null sample as damage)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [clean(v) for v in obj]
    return obj


def dumps(doc) -> str:
    return json.dumps(clean(doc), allow_nan=False, separators=(",", ":"))


def atomic_write_json(path: Path, doc) -> None:
    write_atomically(path, (json.dumps(clean(doc), indent=1, allow_nan=False) + "\n").encode("utf-8"))


def _not_a_folder(results_dir: Path) -> Optional[Path]:
    """The first of ``results_dir`` and its parents that exists and is not a folder (a file, /dev/null)."""
    for p in (results_dir, *results_dir.parents):
        if os.path.lexists(p):
            return None if p.is_dir() else p
    return None


def _unwritable(path: Path, exc: OSError, results_dir: Optional[Path] = None) -> ResultsWriteError:
    blocker = _not_a_folder(results_dir) if results_dir is not None else None
    if blocker is not None:
        return ResultsWriteError(f"cannot write results under {results_dir}: {blocker} is not a folder; pass "
                                 f"--results with a folder (it is created if missing)")
    why = exc.strerror or type(exc).__name__
    return ResultsWriteError(f"cannot write results to {path} ({why}): pass --results with a writable folder "
                             f"that has free space")


class ResultsWriter:
    """Appends one run's events to ``<results_dir>/<run_id>/results.jsonl``."""

    def __init__(self, results_dir: str, header: Mapping, run_id: Optional[str] = None,
                 file_name: str = RESULTS_FILE) -> None:
        self.run_id = run_id or new_run_id()
        self.path = Path(results_dir) / self.run_id / file_name
        self.finished = False
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # the umask decides the file's mode, as for any file a user's tool writes
            self._f = open(self.path, "x", encoding="utf-8")
        except FileExistsError:
            raise ResultsWriteError(f"{self.path} exists already: results of another run; pick another --results "
                                    f"folder or run id") from None
        except OSError as exc:
            raise _unwritable(self.path, exc, Path(results_dir)) from None
        writer = {"host": socket.gethostname(), "pid": os.getpid()}
        if writerlock.hold(self._f.fileno()):  # held while this writer writes: readers tell running from gave up
            writer["lock"] = "flock"
        head = {"event": "header", "schema": SCHEMA_NAME, "schema_version": SCHEMA_VERSION, "run_id": self.run_id,
                "created": datetime.now(timezone.utc).isoformat(timespec="microseconds"), "writer": writer}
        head.update(header)
        self._line(head)

    @property
    def directory(self) -> Path:
        return self.path.parent

    def _write(self, text: str) -> None:
        self._f.write(text)
        self._f.flush()
        os.fsync(self._f.fileno())

    def _line(self, doc) -> None:
        if self._f.closed:
            raise ResultsWriteError(f"{self.path} was closed after a failed write: nothing more can be added")
        try:
            self._write(dumps(doc) + "\n")
        except OSError as exc:  # disk full, quota, I/O error: the lines before stand; this writer gives up
            self.close()
            raise _unwritable(self.path, exc) from None

    def close(self) -> None:
        """Close the file (and let go of the writer's lock) without an end line."""
        try:
            self._f.close()
        except OSError:  # the buffered rest of a failed line could not be flushed either: it is lost
            pass

    def variant(self, record: VariantRecord) -> None:
        d = record.to_dict()
        d.pop("trials", None)
        d.pop("summary", None)
        d.pop("throughput", None)
        self._line({"event": "variant", "record": d})

    def trial(self, rid: str, trial: Trial) -> None:
        self._line({"event": "trial", "id": rid, "trial": trial.to_dict()})

    def update(self, rid: str, **fields) -> None:
        self._line({"event": "update", "id": rid, "fields": fields})

    def finish(self, status: str = "complete", reason: Optional[str] = None) -> None:
        if self.finished:
            return
        self.finished = True
        if self._f.closed:  # a write failed before: no end line can follow it
            return
        try:
            self._line({"event": "end", "status": status, "finished": utc_now(), "reason": reason})
        finally:
            self.close()


# ---- reading ---------------------------------------------------------------------------------------
@dataclass
class RunDocument:
    """One run as read back: its header facts and its typed records."""

    source: str
    run_id: str
    status: str  # complete | interrupted | aborted | running | incomplete
    machine: dict
    settings: dict
    matrix: dict
    excluded: List[dict]
    records: List[VariantRecord]
    kind: str = "native"  # native | pytest-benchmark
    command: Optional[str] = None
    protocol: dict = field(default_factory=dict)
    created: str = ""
    schema_version: int = SCHEMA_VERSION
    warnings: List[str] = field(default_factory=list)

    def by_id(self) -> Dict[str, VariantRecord]:
        return {r.id: r for r in self.records}

    @property
    def complete(self) -> bool:
        return self.status == "complete"


def read_text(p: Path) -> str:
    """A results or benchmark file's text; ``.gz`` files (how large evidence is committed) too."""
    if p.suffix == ".gz":  # utf-8-sig: a byte order mark is accepted (and dropped), packed or not
        with gzip.open(p, "rt", encoding="utf-8-sig") as f:
            return f.read()
    return p.read_text(encoding="utf-8-sig")


@lru_cache(maxsize=16)
def _validator(ref: str, version: int):
    full = schema(version)
    root = {"$ref": ref, "$defs": full["$defs"]} if ref else {k: v for k, v in full.items() if k != "$id"}
    return jsonschema.Draft202012Validator(root)


def _schema_error(doc, ref: str, version: int) -> Optional[str]:
    e = jsonschema.exceptions.best_match(_validator(ref, version).iter_errors(doc))
    if e is None:
        return None
    where = "/".join(str(p) for p in e.path) or "(top level)"
    return f"at {where}: {e.message[:200]}"


def _gpu_timed(rec: VariantRecord) -> bool:
    return str(rec.timing.get("timer", "")).startswith("cuda")


def finalize(rec: VariantRecord, settings: Mapping) -> VariantRecord:
    """The record's derived quality, from its trials and the run's settings."""
    if rec.status != "ok":
        return rec
    failed = list(rec.extra.get("failed_trials") or [])
    if not rec.trials and failed:  # described fine, but no trial could be measured: the variant failed
        first = failed[0]
        return replace(rec, status="failed", error=first.get("error") or rec.error,
                       reason=f"{first.get('reason')} ({len(failed)} trial(s) failed, none was measured)")
    flags = assess(rec.trials, planned=rec.planned_trials, gpu=_gpu_timed(rec),
                   min_samples=int(settings.get("min_samples", 30)), cv_threshold=float(settings.get("cv_threshold", 0.025)),
                   accuracy=rec.accuracy)
    return replace(rec, quality=tuple(flags))


def assemble(source: str, lines: Iterator[str]) -> RunDocument:
    header = None
    records: Dict[str, VariantRecord] = {}
    trials: Dict[str, List[Trial]] = {}
    end = None
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            doc = json.loads(line)
        except json.JSONDecodeError as exc:
            if end is None and n > 1 and not line.endswith("\n"):
                break  # the last line was cut off by a crash: everything before it stands
            raise DamagedResults(f"{source} line {n} is not valid JSON ({exc.msg}): the file is damaged; "
                                 f"re-run the benchmark") from None
        kind = doc.get("event") if isinstance(doc, dict) else None
        if n == 1 and kind != "header":
            raise DamagedResults(f"{source} does not start with a trtbench results header: pass a results file "
                                 f"written by trtbench run")
        if kind not in ("header", "variant", "trial", "update", "end"):
            raise DamagedResults(f"{source} line {n}: unknown event {kind!r}: the file is damaged")
        err = _schema_error(doc, f"#/$defs/{kind}", SCHEMA_VERSION)
        if err:
            raise DamagedResults(f"{source} line {n} ({kind}) does not match the results schema {err}; the file is "
                                 f"damaged or was edited by hand")
        if kind == "header":
            if header is not None:
                raise DamagedResults(f"{source} line {n}: a second header: two runs were written into one file")
            header = doc
        elif kind == "variant":
            rec = VariantRecord.from_dict(doc["record"], f"{source} line {n}")
            records[rec.id] = rec
            trials.setdefault(rec.id, [])
        elif kind == "trial":
            if doc["id"] not in records:
                raise DamagedResults(f"{source} line {n}: a trial of {doc['id']!r}, which has no record line")
            trials[doc["id"]].append(Trial.from_dict(doc["trial"], f"{source} line {n} trial of {doc['id']}"))
        elif kind == "update":
            if doc["id"] not in records:
                raise DamagedResults(f"{source} line {n}: an update of {doc['id']!r}, which has no record line")
            allowed = {k: v for k, v in doc["fields"].items() if k in ("nvml", "artifacts", "extra")}
            records[doc["id"]] = replace(records[doc["id"]], **allowed)
        else:
            end = doc
    if header is None:
        raise DamagedResults(f"{source} is empty: the run wrote nothing; re-run the benchmark")
    settings = header.get("settings") or {}
    out = [finalize(r.with_trials(trials[rid]), settings) for rid, r in records.items()]
    warnings = []
    if end is not None:
        status = end["status"]
    else:
        status, why = writerlock.without_end(header.get("writer") or {}, Path(source))
        warnings.append(f"{source}: the run has no end ({why}): its records are what was measured before that")
    if end is not None and end["status"] != "complete":
        warnings.append(f"{source}: the run was {end['status']}" + (f" ({end['reason']})" if end.get("reason") else ""))
    return RunDocument(source, header["run_id"], status, header["machine"], settings, header.get("matrix") or {},
                       header.get("excluded") or [], out, command=header.get("command"),
                       protocol=header.get("protocol") or {}, warnings=warnings, created=str(header.get("created", "")))


def _legacy(source: str, doc: dict) -> RunDocument:
    err = _schema_error(doc, "", 1)
    if err:
        raise DamagedResults(f"{source} does not match the results schema {err}; the file is damaged or was edited "
                             f"by hand")
    settings = doc.get("settings") or {}
    recs = [finalize(VariantRecord.from_dict(r, f"{source} variant {i}"), settings)
            for i, r in enumerate(doc["variants"])]
    status = "aborted" if doc["status"] == "running" else doc["status"]
    return RunDocument(source, doc["run_id"], status, doc["machine"], settings, doc.get("matrix") or {},
                       doc.get("excluded") or [], recs, command=doc.get("command"), schema_version=1)


def parse_results(source: str, text: str) -> RunDocument:
    first = text.lstrip()[:1]
    if first != "{":
        raise DamagedResults(f"{source} is not a trtbench results file (it does not start with a JSON object)")
    head = text.split("\n", 1)[0]
    try:
        doc = json.loads(head)
    except json.JSONDecodeError:
        doc = None
    if isinstance(doc, dict) and doc.get("event") == "header":
        version = doc.get("schema_version")
        if version != SCHEMA_VERSION:
            raise UserError(f"{source} has results schema version {version!r}, this trtbench reads versions 1 and "
                            f"{SCHEMA_VERSION}: use the trtbench version that wrote it")
        return assemble(source, iter(text.splitlines(keepends=True)))
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DamagedResults(f"{source} is not valid JSON ({exc.msg} at line {exc.lineno}): the file is truncated or "
                             f"damaged; re-run the benchmark") from None
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA_NAME:
        raise UserError(f"{source} is not a trtbench results file (no \"schema\": \"{SCHEMA_NAME}\"): pass a "
                        f"results file written by trtbench run")
    if doc.get("schema_version") != 1:
        raise UserError(f"{source} has results schema version {doc.get('schema_version')!r}, this trtbench reads "
                        f"versions 1 and {SCHEMA_VERSION}: use the trtbench version that wrote it")
    return _legacy(source, doc)


def results_file_in(directory: Path) -> Optional[Path]:
    for name in RESULT_NAMES:
        if (directory / name).is_file():
            return directory / name
    return None


def read_results(path: str) -> RunDocument:
    p = Path(path)
    if p.is_dir():
        found = results_file_in(p)
        if found is None:
            raise UserError(f"{p} holds no {RESULTS_FILE}: pass a run's folder or its results file")
        p = found
    try:
        text = read_text(p)
    except FileNotFoundError:
        raise UserError(f"results file {p} does not exist: check the path") from None
    except IsADirectoryError:
        raise UserError(f"{p} is a directory: pass a results file") from None
    except (OSError, UnicodeDecodeError, EOFError) as exc:
        raise UserError(f"results file {p} cannot be read ({exc}): check the file") from None
    return parse_results(str(p), text)


def find_result_files(root: str) -> Iterator[Path]:
    p = Path(root)
    if p.is_file():
        yield p
        return
    if not p.exists():
        raise UserError(f"{root} does not exist: pass a results file or a directory of them")
    if not p.is_dir():
        raise UserError(f"{root} is neither a file nor a directory: pass a results file or a directory of them")
    found = []
    for pattern in ("*.jsonl", "*.jsonl.gz", "*.json", "*.json.gz"):
        found += list(p.rglob(pattern))
    for f in sorted(set(found)):
        if not f.name.startswith(".") and f.is_file():
            yield f
