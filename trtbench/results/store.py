"""Writing and reading results envelopes.

``ResultsWriter`` rewrites ``results/<run-id>/results.json`` atomically (temp file + fsync + rename)
after every variant, so a crash, Ctrl-C or an error later in the matrix loses nothing already measured,
and a reader never sees a half-written file.
"""

from __future__ import annotations

import json
import math
import os
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Iterator, List, Optional, Tuple

from trtbench.errors import UserError
from trtbench.results import SCHEMA_NAME, SCHEMA_VERSION

RESULTS_FILE = "results.json"


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def new_run_id() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S") + "-" + os.urandom(3).hex()


@lru_cache(maxsize=1)
def schema() -> dict:
    return json.loads((Path(__file__).with_name("schema.json")).read_text(encoding="utf-8"))


def _clean(obj):
    """JSON has no NaN/Infinity: write them as null."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj


def atomic_write_json(path: Path, doc: dict) -> None:
    from trtbench.atomic_files import write_atomically

    write_atomically(path, (json.dumps(_clean(doc), indent=1, allow_nan=False) + "\n").encode("utf-8"))


class ResultsWriter:
    def __init__(self, results_dir: str, *, machine: dict, settings: dict, matrix: dict, excluded: List[dict],
                 command: Optional[str] = None, run_id: Optional[str] = None) -> None:
        self.run_id = run_id or new_run_id()
        self.path = Path(results_dir) / self.run_id / RESULTS_FILE
        self.doc = {"schema": SCHEMA_NAME, "schema_version": SCHEMA_VERSION, "run_id": self.run_id,
                    "created": utc_now(), "finished": None, "status": "running", "command": command,
                    "machine": machine, "settings": settings, "matrix": matrix, "excluded": excluded,
                    "variants": []}
        self._flush()

    @property
    def directory(self) -> Path:
        return self.path.parent

    def add(self, record: dict) -> None:
        self.doc["variants"].append(record)
        self._flush()

    def set_gpu(self, gpu: Optional[dict]) -> None:
        self.doc["machine"]["gpu"] = gpu
        self._flush()

    def finish(self, status: str = "complete") -> None:
        self.doc["status"] = status
        self.doc["finished"] = utc_now()
        self._flush()

    def _flush(self) -> None:
        atomic_write_json(self.path, self.doc)


def validate(doc: dict, source: str = "results") -> dict:
    import jsonschema

    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA_NAME:
        raise UserError(f"{source} is not a trtbench results file (no \"schema\": \"{SCHEMA_NAME}\"): "
                        f"pass a results.json written by trtbench run")
    version = doc.get("schema_version")
    if version != SCHEMA_VERSION:
        raise UserError(f"{source} has results schema version {version!r}, this trtbench reads version "
                        f"{SCHEMA_VERSION}: re-run the benchmark or use the trtbench version that wrote it")
    e = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema()).iter_errors(doc))
    if e is not None:
        where = "/".join(str(p) for p in e.path) or "(top level)"
        raise UserError(f"{source} does not match the results schema at {where}: {e.message[:200]}; "
                        f"the file is damaged or was edited by hand")
    return doc


def read_text(p: Path) -> str:
    """A results or benchmark JSON file's text; ``.gz`` files (how large evidence is committed) too."""
    if p.suffix == ".gz":
        import gzip

        with gzip.open(p, "rt", encoding="utf-8") as f:
            return f.read()
    return p.read_text(encoding="utf-8")


def read_results(path: str) -> dict:
    p = Path(path)
    if p.is_dir():
        p = p / RESULTS_FILE if (p / RESULTS_FILE).exists() or not (p / (RESULTS_FILE + ".gz")).exists() \
            else p / (RESULTS_FILE + ".gz")
    try:
        text = read_text(p)
    except FileNotFoundError:
        raise UserError(f"results file {p} does not exist: check the path") from None
    except (OSError, UnicodeDecodeError, EOFError) as exc:
        raise UserError(f"results file {p} cannot be read ({exc}): check the file") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"{p} is not valid JSON ({exc.msg} at line {exc.lineno}): the file is truncated or "
                        f"damaged; re-run the benchmark") from None
    return validate(doc, str(p))


def find_result_files(root: str) -> Iterator[Path]:
    p = Path(root)
    if p.is_file():
        yield p
        return
    if not p.exists():
        raise UserError(f"{root} does not exist: pass a results file or a directory of them")
    for f in sorted(list(p.rglob("*.json")) + list(p.rglob("*.json.gz"))):
        if not f.name.startswith("."):
            yield f


def records(doc: dict) -> List[Tuple[dict, dict]]:
    return [(doc, r) for r in doc["variants"]]
