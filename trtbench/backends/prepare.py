"""From a variant to the exact model a backend runs, and the shapes it runs with.

Which input axes are the batch is ``models.layout``'s call; inputs without a batch (bias vectors, scalars)
keep their own shape at every batch. Named dynamic dims (``seq``) take the variant's value
(``Variant.dims``, from ``--dim seq=128,512``).

- implicit: every input fixed to its run shape (batch = the variant's batch, named dims = the variant's
  values): a static model, one per shape.
- explicit: dynamic dims left symbolic; a batch profile gives the batch's min/opt/max and the swept named
  dims' (``ShapeProfile.dims``: smallest/middle/largest of the swept values), a per-input profile gives every
  dim; the run shape is the variant's batch and dims (else the profile's opt). A static-batch model is made
  dynamic first, which is not applicable when its own constants pin the batch (``--fix-batch`` rewrites
  the Reshape pins it can prove equivalent, and says so in ``notes``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional, Tuple

import onnx

from trtbench.errors import NotApplicable, UserError
from trtbench.matrix.spec import ShapeProfile, Variant
from trtbench.models.fixbatch import fix_batch_pins
from trtbench.models.inspect import ModelInfo, TensorInfo, inspect_model
from trtbench.models.layout import BatchLayout, batch_layout, is_batch_axis, resolve_shape, unsized_dim
from trtbench.models.shapes import make_dynamic, make_static

Shape = Tuple[int, ...]


@dataclass
class PreparedModel:
    model: onnx.ModelProto
    info: ModelInfo  # of the prepared model
    run_shapes: Dict[str, Shape]
    min_shapes: Dict[str, Shape]
    opt_shapes: Dict[str, Shape]
    max_shapes: Dict[str, Shape]  # buffers are sized for these
    notes: Tuple[str, ...] = ()  # rewrites made to the model (--fix-batch), for the results

    @property
    def dtypes(self) -> Dict[str, str]:
        return {t.name: t.dtype for t in self.info.inputs}

    @property
    def static(self) -> bool:
        return all(t.is_static for t in self.info.inputs)


def profile_misfit(info: ModelInfo, profile: ShapeProfile) -> Optional[str]:
    """Why ``profile`` cannot describe this model's inputs (None when it fits). A per-input profile must give
    every input that has a dynamic dim; a fully static input it leaves out keeps its shape."""
    if profile.batch is not None:
        return None
    layout = batch_layout(info)
    names = [t.name for t in info.inputs]
    for r in profile.inputs:
        t = info.input(r.name)
        if t is None:
            return f"profile {profile.name} names input {r.name!r}, the model's inputs are {', '.join(names)}"
        if len(r.min) != len(t.shape):
            return (f"profile {profile.name} gives input {r.name} rank {len(r.min)}, the model's input has rank "
                    f"{len(t.shape)} ({t.shape_text()})")
        for axis, d in enumerate(t.shape):
            if isinstance(d, int) and not is_batch_axis(t, axis, layout) and not (r.min[axis] == r.opt[axis] ==
                                                                                 r.max[axis] == d):
                return (f"profile {profile.name}: input {r.name} axis {axis} is fixed at {d} in the model, "
                        f"the profile gives {r.min[axis]}/{r.opt[axis]}/{r.max[axis]}")
    given = {r.name for r in profile.inputs}
    missing = [t.name for t in info.inputs if t.name not in given and not _fixed(t, layout)]
    if missing:
        return f"profile {profile.name} gives no shapes for input(s) {', '.join(missing)}"
    return None


def variant_misfit(info: ModelInfo, variant: Variant) -> Optional[str]:
    """Why this variant's batch or named dims fall outside its per-input profile (None when inside)."""
    p = variant.profile
    if p is None or p.batch is not None or variant.build_mode != "explicit":
        return None
    layout = batch_layout(info)
    dims = dict(variant.dims)
    for r in p.inputs:
        t = info.input(r.name)
        if t is None or len(r.min) != len(t.shape):
            continue  # profile_misfit's to say
        for axis, d in enumerate(t.shape):
            value = variant.batch if is_batch_axis(t, axis, layout) else dims.get(d) if isinstance(d, str) else None
            if value is not None and not r.min[axis] <= value <= r.max[axis]:
                what = "batch" if is_batch_axis(t, axis, layout) else f"{d}"
                return (f"{what} {value} is outside profile {p.name} for input {r.name} axis {axis} "
                        f"({r.min[axis]}..{r.max[axis]})")
    return None


def _fixed(t: TensorInfo, layout: BatchLayout) -> bool:
    """Held at its own shape: no batch axis and no dynamic dim."""
    return not layout.has_batch(t.name) and t.is_static


def _batch_profile_shapes(info: ModelInfo, layout: BatchLayout, variant: Variant, profile: ShapeProfile):
    lo, opt, hi = profile.batch
    dims = dict(variant.dims)
    mins, opts, maxs = {}, {}, {}
    for t in info.inputs:
        ranges = []
        for axis, d in enumerate(t.shape):
            if is_batch_axis(t, axis, layout):
                ranges.append((lo, opt, hi))
            elif isinstance(d, int):
                ranges.append((d, d, d))
            elif profile.dim_range(d) is not None:
                ranges.append(profile.dim_range(d))
            elif d is not None and d in dims:
                ranges.append((dims[d],) * 3)
            else:
                raise NotApplicable(unsized_dim(t, axis, f"profile {profile.name}"))
        mins[t.name], opts[t.name], maxs[t.name] = (tuple(r[i] for r in ranges) for i in range(3))
    return mins, opts, maxs


def _run_shapes(info: ModelInfo, layout: BatchLayout, variant: Variant, opts: Dict[str, Shape]) -> Dict[str, Shape]:
    dims = dict(variant.dims)
    run = {}
    for t in info.inputs:
        run[t.name] = tuple(variant.batch if is_batch_axis(t, axis, layout)
                            else dims[d] if isinstance(d, str) and d in dims else opts[t.name][axis]
                            for axis, d in enumerate(t.shape))
    return run


def _dynamic_base(model: onnx.ModelProto, fix_batch: bool) -> Tuple[onnx.ModelProto, Tuple[str, ...]]:
    """The model with a symbolic batch (``--fix-batch``: its provable Reshape pins rewritten first)."""
    notes: Tuple[str, ...] = ()
    if fix_batch:
        model, found = fix_batch_pins(model)
        notes = tuple(found)
    try:
        return make_dynamic(model), notes
    except NotApplicable as exc:
        if notes:
            raise NotApplicable(f"{exc} ({len(notes)} --fix-batch note(s): {notes[0]})") from None
        raise


def prepare_model(variant: Variant, model: onnx.ModelProto, fix_batch: bool = False) -> PreparedModel:
    info = inspect_model(model)
    if not info.inputs:
        raise UserError(f"model {variant.model.name} has no inputs: trtbench needs at least one input to feed")
    layout = batch_layout(info)
    if not layout.inputs and variant.batch != 1:
        raise NotApplicable("no input of this model has a batch dimension (its inputs are held at their own "
                            "shapes): it runs at batch 1 only")
    if variant.build_mode == "implicit":
        base, notes = model, ()
        if layout.exported is not None and layout.exported != variant.batch:
            base, notes = _dynamic_base(model, fix_batch)  # raises NotApplicable when the batch is pinned
        shapes = {t.name: resolve_shape(t, layout, variant.batch, dict(variant.dims), "an implicit (static) build")
                  for t in info.inputs}
        static = make_static(base, shapes)
        return PreparedModel(static, inspect_model(static), shapes, shapes, shapes, shapes, notes)

    profile = variant.profile
    if profile is None:
        raise UserError(f"variant {variant.id}: an explicit build needs a shape profile")
    misfit = profile_misfit(info, profile) or variant_misfit(info, variant)
    if misfit:
        raise NotApplicable(misfit)
    dynamic, notes = _dynamic_base(model, fix_batch) if layout.exported is not None else (model, ())
    dinfo = inspect_model(dynamic)
    dlayout = batch_layout(dinfo)
    if profile.batch is not None:
        mins, opts, maxs = _batch_profile_shapes(dinfo, dlayout, variant, profile)
    else:
        given = {r.name: r for r in profile.inputs}
        fixed = {t.name: tuple(int(d) for d in t.shape) for t in dinfo.inputs if t.name not in given}
        mins = dict(fixed, **{n: r.min for n, r in given.items()})
        opts = dict(fixed, **{n: r.opt for n, r in given.items()})
        maxs = dict(fixed, **{n: r.max for n, r in given.items()})
    run = _run_shapes(dinfo, dlayout, variant, opts)
    for n, s in run.items():
        if not all(a <= b <= c for a, b, c in zip(mins[n], s, maxs[n])):
            raise UserError(f"variant {variant.id}: input {n} would run at {_x(s)}, outside profile {profile.name} "
                            f"({_x(mins[n])}..{_x(maxs[n])}); pick a batch inside it or widen the profile")
    return PreparedModel(dynamic, dinfo, run, mins, opts, maxs, notes)


def _x(shape) -> str:
    return "x".join(map(str, shape)) or "scalar"
