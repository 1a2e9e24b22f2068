"""``trtbench inspect``, ``trtbench models``, ``trtbench backends``: what is there, before measuring."""

from __future__ import annotations

import json

from trtbench.backends.registry import all_availability
from trtbench.matrix.axes import BACKENDS
from trtbench.models.builtin import BUILTIN_MODELS, builtin_names
from trtbench.models.inputs import input_kinds
from trtbench.models.inspect import format_model_info, inspect_model
from trtbench.models.layout import batch_layout, named_dims
from trtbench.models.loading import resolve_model
from trtbench.models.shapes import find_batch_pins


def register(sub) -> None:
    p = sub.add_parser("inspect", help="show a model's inputs/outputs (dynamic dims marked), opset, IR, size",
                       description="Show every input and output of an ONNX model with dtype and shape (dynamic "
                                   "dimensions marked with *), its opset, IR version, node and parameter counts.")
    p.add_argument("model", help="path of an .onnx file, or a built-in model name")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(func=cmd_inspect)

    p = sub.add_parser("models", help="list the built-in models", description="List the built-in models.")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("backends", help="list every backend, available or not, with its version or the reason",
                       description="List every backend with its version and device, or why it is unavailable.")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(func=cmd_backends)


def _shape_facts(model, info) -> dict:
    """What trtbench makes of the shapes and inputs: the batch, the named dims, pins, how inputs get data."""
    layout = batch_layout(info)
    dims = named_dims(info, layout)
    pins = find_batch_pins(model, layout.exported) if layout.exported else []
    kinds = input_kinds(model, {t.name: t.dtype for t in info.inputs})
    return {"batch": layout.describe(), "named_dims": {n: [f"{i}[{a}]" for i, a in places] for n, places in dims.items()},
            "batch_pins": pins, "data": {t.name: kinds[t.name].describe(t.dtype) for t in info.inputs}}


def cmd_inspect(args) -> int:
    source = resolve_model(args.model)
    model = source.load()
    info = inspect_model(model)
    facts = _shape_facts(model, info)
    if args.json:
        print(json.dumps({"model": source.name, "path": source.path, **info.to_dict(), **facts}, indent=2))
        return 0
    print(format_model_info(source.path or source.name, info))
    fixed = [t.name for t in info.inputs if not batch_layout(info).has_batch(t.name)]
    print(f"  batch: {facts['batch']}" + (f"; held at their own shapes: {', '.join(fixed)}" if fixed else ""))
    for name, places in facts["named_dims"].items():
        print(f"  named dim {name}: {', '.join(places)} (sweep it with --dim {name}=V1,V2,...)")
    for pin in facts["batch_pins"]:
        hint = " (--fix-batch rewrites it where provably equivalent)" if pin.startswith("Reshape") else ""
        print(f"  batch pin: {pin}{hint}")
    for name, how in facts["data"].items():
        print(f"  data for {name}: {how}")
    return 0


def cmd_models(args) -> int:
    rows = []
    for name in builtin_names():
        info = inspect_model(BUILTIN_MODELS[name].build())
        rows.append({"name": name, "description": BUILTIN_MODELS[name].description,
                     "inputs": {t.name: f"{t.dtype} {t.shape_text()}" for t in info.inputs},
                     "dims": dict(BUILTIN_MODELS[name].dims), "parameters": info.parameter_count})
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for r in rows:
            ins = ", ".join(f"{k} {v}" for k, v in r["inputs"].items())
            dims = "".join(f"; {n} = {v} unless --dim {n}=... sweeps it" for n, v in r["dims"].items())
            print(f"{r['name']:<12} {r['description']}\n{'':<12} input {ins}; {r['parameters']:,} parameters{dims}")
        print("(every built-in runs in the default `trtbench run`)")
    return 0


def cmd_backends(args) -> int:
    rows = all_availability()
    if args.json:
        print(json.dumps([r.__dict__ for r in rows], indent=2))
        return 0
    for r in rows:
        if r.available:
            print(f"{r.name:<12} available    {r.version}  on {r.device}  - {BACKENDS[r.name].description}")
        else:
            print(f"{r.name:<12} unavailable  {r.reason}")
    return 0
