"""From the matrix's axes to the variants a session runs, with every excluded combination's reason.

Model names become variant ids, so two model files with the same name (``a/model.onnx`` and
``b/model.onnx``) get a short content hash each: a gate must never pair the wrong models.

Named dims are per model: a swept dim (``--dim seq=...``) applies to the models that have it (the others run
once without it, each dropped duplicate excluded with the reason); a dim no model has is a user error; a
built-in model's own named dims take its default size (the encoder's ``seq``, 32) unless swept, and the value
shows in the variant id. Loaded inputs (``--loadInputs``) are checked against each model before anything
runs: a wrong name, dtype, rank or fixed dim is a user error, a variant whose batch or dims the array does
not have is excluded.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Dict, List, Optional, Tuple

from trtbench.backends.prepare import profile_misfit, variant_misfit
from trtbench.config.settings import RunSettings
from trtbench.errors import UserError
from trtbench.matrix.expand import Exclusion, expand
from trtbench.matrix.spec import Matrix, Variant
from trtbench.models.builtin import BUILTIN_MODELS
from trtbench.models.inputs import check_array, read_array
from trtbench.models.inspect import ModelInfo, inspect_model
from trtbench.models.layout import batch_layout, is_batch_axis, named_dims
from trtbench.models.loading import ModelSource, unique_names


def _exclusion(v: Variant, why: str) -> Exclusion:
    return Exclusion(v.model.name, v.backend, v.batch, v.precision, v.build_mode,
                     v.profile.name if v.profile else None, why)


def _check_swept_dims(matrix: Matrix, infos: Dict[ModelSource, ModelInfo]) -> None:
    for name, _ in matrix.dims:
        for m, info in infos.items():
            if batch_layout(info).symbol == name:
                raise UserError(f"--dim {name}: {name!r} is the batch of model {m.name}: sweep it with --batch")
        if not any(name in named_dims(info) for info in infos.values()):
            have = "; ".join(f"{m.name}: {', '.join(named_dims(i)) or 'none'}" for m, i in infos.items())
            raise UserError(f"--dim {name}: no model of the matrix has a dynamic dim named {name!r} (named dims: "
                            f"{have}); use the symbolic name `trtbench inspect MODEL` shows")


def _model_dims(variants: List[Variant], infos: Dict[ModelSource, ModelInfo]) -> Tuple[List[Variant], List[Exclusion]]:
    """Each variant with the named dims its model has: swept ones it lacks dropped, a built-in's defaults added."""
    kept: Dict[Variant, None] = {}
    dropped = []
    for v in variants:
        have = named_dims(infos[v.model])
        dims = [(n, x) for n, x in v.dims if n in have]
        defaults = BUILTIN_MODELS[v.model.name].dims if v.model.builtin and v.model.name in BUILTIN_MODELS else ()
        dims += [(n, x) for n, x in defaults if n in have and n not in dict(dims)]
        w = replace(v, dims=tuple(dims))
        if w in kept:
            lost = [(n, x) for n, x in v.dims if n not in have]
            dropped.append(_exclusion(v, f"model {v.model.name} has no dynamic dim named "
                                         f"{' or '.join(repr(n) for n, _ in lost)}: it runs once without it "
                                         f"({', '.join(f'{n}={x}' for n, x in lost)} dropped)"))
        kept.setdefault(w)
    return list(kept), dropped


def _loaded_misfit(info: ModelInfo, v: Variant, arrays: Dict[str, object], load: Dict[str, str]) -> Optional[str]:
    """Why this variant cannot run on the loaded arrays (its batch or a dim differs); wrong dtype, rank or fixed
    dims raise a UserError."""
    layout = batch_layout(info)
    dims = dict(v.dims)
    for t in info.inputs:
        if t.name not in arrays:
            continue
        arr = arrays[t.name]
        check_array(t.name, arr, t.dtype, tuple(None if is_batch_axis(t, i, layout) else d
                                                for i, d in enumerate(t.shape)), load[t.name])
        for axis, d in enumerate(t.shape):
            want = v.batch if is_batch_axis(t, axis, layout) else dims.get(d) if isinstance(d, str) else None
            if want is not None and arr.shape[axis] != want:
                what = "batch" if is_batch_axis(t, axis, layout) else d
                return (f"--loadInputs {t.name}: {load[t.name]} has {what} {arr.shape[axis]} on axis {axis}, this "
                        f"variant runs {what} {want}")
    return None


def _arrays(info: ModelInfo, model: ModelSource, load: Dict[str, str]) -> Dict[str, object]:
    names = [t.name for t in info.inputs]
    unknown = [n for n in load if n not in names]
    if unknown:
        raise UserError(f"--loadInputs names input {unknown[0]!r}; model {model.name}'s inputs are {', '.join(names)}")
    return {n: read_array(n, path) for n, path in load.items()}


def plan_matrix(matrix: Matrix, settings: Optional[RunSettings] = None) -> Tuple[List[Variant], List[Exclusion]]:
    """Expand, give each model its named dims, then drop (with reasons) the profiles that do not describe a
    model's inputs and the variants outside them or their loaded inputs. A per-input profile that fits none of
    the models, or a swept dim no model has, is a user error, raised before anything runs."""
    matrix = replace(matrix, models=unique_names(matrix.models))
    variants, excluded = expand(matrix)
    infos = {m: inspect_model(m.load()) for m in matrix.models}
    _check_swept_dims(matrix, infos)
    variants, dropped = _model_dims(variants, infos)
    excluded += dropped
    for p in matrix.profiles:
        if p.inputs and all(profile_misfit(infos[m], p) for m in matrix.models):
            raise UserError(profile_misfit(infos[matrix.models[0]], p) + "; fix the profile's input names/shapes")
    load = dict(getattr(settings, "load_inputs", None) or {})
    arrays = {m: _arrays(infos[m], m, load) for m in matrix.models} if load else {}
    kept = []
    for v in variants:
        info = infos[v.model]
        why = profile_misfit(info, v.profile) if v.profile is not None else None
        why = why or variant_misfit(info, v) or (_loaded_misfit(info, v, arrays[v.model], load) if load else None)
        if why:
            excluded.append(_exclusion(v, why))
        else:
            kept.append(v)
    return kept, excluded

