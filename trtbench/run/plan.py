"""From the matrix's axes to the variants a session runs, with every excluded combination's reason.

Model names become variant ids, so two model files with the same name (``a/model.onnx`` and
``b/model.onnx``) get a short content hash each: a gate must never pair the wrong models.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import replace
from typing import List, Tuple

from trtbench.backends.prepare import profile_misfit
from trtbench.errors import UserError
from trtbench.matrix.expand import Exclusion, expand
from trtbench.matrix.spec import Matrix, Variant
from trtbench.models.inspect import inspect_model
from trtbench.models.loading import ModelSource


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


def plan_matrix(matrix: Matrix) -> Tuple[List[Variant], List[Exclusion]]:
    """Expand, then drop (with reasons) the profiles that do not describe a model's inputs. A per-input
    profile that fits none of the models is a user error, raised before anything runs."""
    matrix = replace(matrix, models=unique_names(matrix.models))
    variants, excluded = expand(matrix)
    infos = {m: inspect_model(m.load()) for m in matrix.models}
    for p in matrix.profiles:
        if p.inputs and all(profile_misfit(infos[m], p) for m in matrix.models):
            raise UserError(profile_misfit(infos[matrix.models[0]], p) + "; fix the profile's input names/shapes")
    kept = []
    for v in variants:
        why = profile_misfit(infos[v.model], v.profile) if v.profile is not None else None
        if why:
            excluded.append(Exclusion(v.model.name, v.backend, v.batch, v.precision, v.build_mode, v.profile.name, why))
        else:
            kept.append(v)
    return kept, excluded

