"""``trtbench inspect``, ``trtbench models``, ``trtbench backends``: what is there, before measuring."""

from __future__ import annotations

import json

from trtbench.backends.registry import all_availability
from trtbench.matrix.axes import BACKENDS
from trtbench.models.builtin import BUILTIN_MODELS, builtin_names
from trtbench.models.inspect import format_model_info, inspect_model
from trtbench.models.loading import resolve_model


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


def cmd_inspect(args) -> int:
    source = resolve_model(args.model)
    info = inspect_model(source.load())
    if args.json:
        print(json.dumps({"model": source.name, "path": source.path, **info.to_dict()}, indent=2))
    else:
        print(format_model_info(source.path or source.name, info))
    return 0


def cmd_models(args) -> int:
    rows = []
    for name in builtin_names():
        info = inspect_model(BUILTIN_MODELS[name].build())
        rows.append({"name": name, "description": BUILTIN_MODELS[name].description,
                     "inputs": {t.name: t.shape_text() for t in info.inputs},
                     "parameters": info.parameter_count})
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for r in rows:
            ins = ", ".join(f"{k} {v}" for k, v in r["inputs"].items())
            print(f"{r['name']:<12} {r['description']}\n{'':<12} input {ins}; {r['parameters']:,} parameters")
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
