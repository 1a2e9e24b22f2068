"""Finding and loading models, with one-line errors for every way a model file can be wrong."""

from __future__ import annotations

import hashlib
import os
import stat
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import List, Optional, Tuple

import onnx
from onnx.external_data_helper import load_external_data_for_model

from trtbench.errors import UserError
from trtbench.models.builtin import BUILTIN_MODELS, builtin_model, builtin_names


@dataclass(frozen=True)
class ModelSource:
    """Where a model comes from: a built-in name or an ONNX file. ``name`` is what variant ids show."""

    name: str
    path: Optional[str] = None  # None for built-in models
    plan: bool = False  # a prebuilt TensorRT plan (``trtbench run --engine``), not an ONNX model

    @property
    def builtin(self) -> bool:
        return self.path is None

    def load(self) -> onnx.ModelProto:
        if self.plan:
            raise UserError(f"{self.path} is a TensorRT plan, not an ONNX model: it runs only on the tensorrt backend")
        return builtin_model(self.name) if self.path is None else load_onnx(self.path)


def resolve_model(ref: str) -> ModelSource:
    """A model reference from the user: a built-in name or a path to an ``.onnx`` file."""
    if ref in BUILTIN_MODELS:
        return ModelSource(ref)
    looks_like_path = os.sep in ref or ref.endswith(".onnx") or os.path.exists(ref)
    if not looks_like_path:
        raise UserError(f"unknown model {ref!r}: use a built-in model ({', '.join(builtin_names())}) "
                        f"or the path of an .onnx file")
    path = Path(ref)
    if not path.is_file():
        raise UserError(not_a_file(ref, "model file", "pass the .onnx file itself"))
    return ModelSource(name=_model_name(path), path=str(path))


def not_a_file(path: str, what: str, fix: str) -> str:
    """Why ``path`` (which is not a regular file) cannot be read as ``what``: missing, a folder, a named pipe..."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        dangling = os.path.islink(path)
        return f"{what} {path} does not exist{' (a link to a missing file)' if dangling else ''}: check the path"
    except OSError as exc:
        return f"{what} {path} cannot be read ({exc.strerror or exc}): check the path and its permissions"
    if stat.S_ISDIR(mode):
        return f"{path} is a folder, not a {what}: {fix}"
    kind = ("a named pipe (FIFO)" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode)
            else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "a special file")
    return f"{path} is {kind}, not a {what}: save it to a regular file first and pass that (trtbench reads it whole, " \
           f"more than once)"


def _model_name(path: Path) -> str:
    stem = path.name[:-5] if path.name.endswith(".onnx") else path.name
    return "".join(c if c.isalnum() or c in "_." else "_" for c in stem) or "model"


def load_onnx(path: str) -> onnx.ModelProto:
    """Load an ONNX file, turning every failure into a one-line ``UserError``. Weights kept in external data
    files are read from the model's own folder (never the working directory) into the returned model."""
    p = Path(path)
    if not p.is_file():
        raise UserError(not_a_file(path, "model file", "pass the .onnx file itself"))
    data = p.read_bytes()
    if not data:
        raise UserError(f"model file {path} is empty: re-export the model")
    try:
        model = onnx.load_from_string(data)
    except Exception as exc:  # protobuf raises DecodeError, sometimes others
        raise UserError(f"{path} is not a readable ONNX model ({type(exc).__name__}): "
                        f"the file is truncated or not ONNX; re-export it") from None
    if not model.HasField("graph") or not (model.graph.node or model.graph.output):
        raise UserError(f"{path} is not an ONNX model (no graph found): re-export it with torch.onnx.export "
                        f"or another ONNX exporter")
    external = _external_locations(model)
    try:
        if external:  # checked where the model lies: its data files resolve against the model's folder
            _check_external_files(path, external)
            onnx.checker.check_model(str(p))
            load_external_data_for_model(model, str(p.resolve().parent))
        else:
            onnx.checker.check_model(model)
    except UserError:
        raise
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"{path} is not a valid ONNX model ({first}): fix or re-export it") from None
    return model


def _external_locations(model: onnx.ModelProto) -> List[str]:
    """The external data files the model's tensors name (relative paths, as stored)."""
    out = []
    for t in _tensors(model.graph):
        if t.HasField("data_location") and t.data_location == onnx.TensorProto.EXTERNAL:
            loc = next((e.value for e in t.external_data if e.key == "location"), "")
            if loc not in out:
                out.append(loc)
    return out


def _tensors(graph: onnx.GraphProto):
    """Every tensor of a graph: initializers and node attributes, subgraphs included."""
    yield from graph.initializer
    for node in graph.node:
        for a in node.attribute:
            if a.HasField("t"):
                yield a.t
            yield from a.tensors
            for g in ([a.g] if a.HasField("g") else []) + list(a.graphs):
                yield from _tensors(g)


def _check_external_files(path: str, locations: List[str]) -> None:
    """Every external data file must lie in the model's folder (or below it): never the working directory."""
    folder = Path(path).resolve().parent
    for loc in locations:
        target = (folder / loc).resolve()
        if not loc or Path(loc).is_absolute() or folder not in target.parents:
            raise UserError(f"{path} names the external data file {loc!r}, which is not a relative path inside the "
                            f"model's folder: re-save the model with its data beside it")
        if not target.is_file():
            raise UserError(f"{path} keeps its weights in {loc!r}, which is not in the model's folder ({target} does "
                            f"not exist): put the data file beside the model")


def model_digest(model: onnx.ModelProto) -> str:
    """A content hash of the model (the key for caches of converted models and engines)."""
    return hashlib.sha256(model.SerializeToString(deterministic=True)).hexdigest()


def _content_tag(source: ModelSource) -> str:
    h = hashlib.sha256()
    with open(source.path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:6]


def unique_names(models: Tuple[ModelSource, ...]) -> Tuple[ModelSource, ...]:
    """Models whose names clash get ``-<content hash>`` appended (same content: same name, one model)."""
    counts = Counter(m.name for m in models)
    out = []
    for m in models:
        if counts[m.name] > 1 and m.path is not None:
            m = replace(m, name=f"{m.name}-{_content_tag(m)}")
        out.append(m)
    seen = {}
    for m in out:  # identical files under two paths are one model
        if m.name in seen and seen[m.name].path != m.path and m.path and _content_tag(m) != _content_tag(seen[m.name]):
            raise UserError(f"two different models are both named {m.name}: rename one of the files")
        seen.setdefault(m.name, m)
    return tuple(dict.fromkeys(seen.values()))
