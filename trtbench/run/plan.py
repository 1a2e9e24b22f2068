"""From the matrix's axes to the variants a session runs, with every excluded combination's reason.

Model names become variant ids, so two model files with the same name (``a/model.onnx`` and
``b/model.onnx``) get a short content hash each: a gate must never pair the wrong models.
"""

from __future__ import annotations

from dataclasses import replace
from typing import List, Tuple

from trtbench.backends.prepare import profile_misfit
from trtbench.errors import UserError
from trtbench.matrix.expand import Exclusion, expand
from trtbench.matrix.spec import Matrix, Variant
from trtbench.models.inspect import inspect_model
from trtbench.models.loading import unique_names


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

