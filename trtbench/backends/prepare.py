"""From a variant to the exact model a backend runs, and the shapes it runs with.

- implicit: every input fixed to its run shape (batch = the variant's batch): a static model.
- explicit: the batch (and any other dynamic dim) left symbolic; the profile gives min/opt/max; the run
  shape is the profile's opt with the variant's batch. A static-batch model is made dynamic first,
  which is not applicable when its own constants pin the batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional, Tuple

import onnx

from trtbench.errors import NotApplicable, UserError
from trtbench.matrix.spec import ShapeProfile, Variant
from trtbench.models.inspect import ModelInfo, inspect_model
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

    @property
    def dtypes(self) -> Dict[str, str]:
        return {t.name: t.dtype for t in self.info.inputs}

    @property
    def static(self) -> bool:
        return all(t.is_static for t in self.info.inputs)


def profile_misfit(info: ModelInfo, profile: ShapeProfile) -> Optional[str]:
    """Why ``profile`` cannot describe this model's inputs (None when it fits)."""
    if profile.batch is not None:
        return None
    names = [t.name for t in info.inputs]
    for r in profile.inputs:
        t = info.input(r.name)
        if t is None:
            return f"profile {profile.name} names input {r.name!r}, the model's inputs are {', '.join(names)}"
        if len(r.min) != len(t.shape):
            return (f"profile {profile.name} gives input {r.name} rank {len(r.min)}, the model's input has rank "
                    f"{len(t.shape)} ({t.shape_text()})")
        for axis, d in enumerate(t.shape):
            if axis and isinstance(d, int) and not (r.min[axis] == r.opt[axis] == r.max[axis] == d):
                return (f"profile {profile.name}: input {r.name} axis {axis} is fixed at {d} in the model, "
                        f"the profile gives {r.min[axis]}/{r.opt[axis]}/{r.max[axis]}")
    missing = [t.name for t in info.inputs if t.name not in {r.name for r in profile.inputs}]
    if missing:
        return f"profile {profile.name} gives no shapes for input(s) {', '.join(missing)}"
    return None


def _fixed_rest(t, batch: int, what: str) -> Shape:
    rest = t.shape[1:]
    bad = [i + 1 for i, d in enumerate(rest) if not isinstance(d, int)]
    if bad:
        raise NotApplicable(f"input {t.name} has dynamic axes {bad} besides the batch; {what} needs their sizes: "
                            f"give per-input shapes with --minShapes/--optShapes/--maxShapes")
    return (batch,) + tuple(int(d) for d in rest)


def prepare_model(variant: Variant, model: onnx.ModelProto) -> PreparedModel:
    info = inspect_model(model)
    if not info.inputs:
        raise UserError(f"model {variant.model.name} has no inputs: trtbench needs at least one input to feed")
    if variant.build_mode == "implicit":
        shapes = {t.name: _fixed_rest(t, variant.batch, "an implicit (static) build") for t in info.inputs}
        base = model
        if any(isinstance(t.shape[0], int) and t.shape[0] != variant.batch for t in info.inputs):
            base = make_dynamic(model)  # raises NotApplicable when the batch is pinned
        static = make_static(base, shapes)
        return PreparedModel(static, inspect_model(static), shapes, shapes, shapes, shapes)

    profile = variant.profile
    if profile is None:
        raise UserError(f"variant {variant.id}: an explicit build needs a shape profile")
    misfit = profile_misfit(info, profile)
    if misfit:
        raise NotApplicable(misfit)
    dynamic = make_dynamic(model)
    dinfo = inspect_model(dynamic)
    if profile.batch is not None:
        lo, opt, hi = profile.batch
        mins = {t.name: _fixed_rest(t, lo, "a batch-only profile") for t in dinfo.inputs}
        opts = {t.name: (opt,) + mins[t.name][1:] for t in dinfo.inputs}
        maxs = {t.name: (hi,) + mins[t.name][1:] for t in dinfo.inputs}
    else:
        mins = {r.name: r.min for r in profile.inputs}
        opts = {r.name: r.opt for r in profile.inputs}
        maxs = {r.name: r.max for r in profile.inputs}
    run = {n: (variant.batch,) + tuple(s[1:]) for n, s in opts.items()}
    for n, s in run.items():
        if not (mins[n][0] <= s[0] <= maxs[n][0]):
            raise UserError(f"variant {variant.id}: batch {variant.batch} is outside profile {profile.name} "
                            f"({mins[n][0]}..{maxs[n][0]}); pick a batch inside it or widen the profile")
    return PreparedModel(dynamic, dinfo, run, mins, opts, maxs)
