"""The TensorRT 10/11 runtime half on a GPU, against the real TensorRT 11.4 lean runtime from PyPI:
runtime creation with engine host code disallowed, a corrupt plan and a plan from another TensorRT
version (e.g. one built by the 8.6 payload: pass its path) must fail with our one-line errors.

    python bench/trt_lean_check.py [PLAN_FROM_ANOTHER_VERSION] > lean-check.json

Run on the H100 (results/h100-2026-11-25/tensorrt-11.4-lean/), with a plan built by the 8.6 payload's
`trtbench build`.
"""

from __future__ import annotations

import json
import sys


def main(other_plan=None) -> int:
    from trtbench.backends.tensorrt.backend import make_logger
    from trtbench.backends.tensorrt.compat import load_trt
    from trtbench.backends.tensorrt.engine_file import describe_plan
    from trtbench.errors import UserError

    api = load_trt()
    out = {"tensorrt": api.version_text, "lean": api.lean}
    logger = make_logger(api)
    runtime = api.trt.Runtime(logger)
    api.disallow_host_code(runtime)
    out["runtime_created"] = runtime is not None
    out["engine_host_code_allowed"] = getattr(runtime, "engine_host_code_allowed", None)
    for name, plan in (("corrupt", b"\x00not a plan" * 64), ("other_version", open(other_plan, "rb").read()
                                                              if other_plan else None)):
        if plan is None:
            continue
        try:
            describe_plan(api, plan, logger, 0)
            out[name] = "deserialized (unexpected)"
        except UserError as exc:
            out[name] = f"UserError: {exc}"
    out["log"] = logger.messages[-5:]
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else None))
