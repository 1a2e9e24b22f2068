"""The machine fingerprint every results file carries (the GPU block comes from trtbench.gpu)."""

from __future__ import annotations

import os
import platform
import socket
import subprocess
import sys
from importlib import metadata
from typing import Dict, Optional

PACKAGES = ("trtbench", "numpy", "onnx", "onnxruntime", "torch", "onnx2torch", "tensorrt", "tensorrt_lean",
            "tensorrt-lean-cu13-bindings", "cuda-python", "cuda-bindings", "nvidia-ml-py", "pytest-benchmark",
            "scipy", "matplotlib")


def package_versions() -> Dict[str, Optional[str]]:
    out: Dict[str, Optional[str]] = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    if out.get("tensorrt") is None:  # wheels unpacked by hand carry no metadata
        try:
            import tensorrt  # noqa: F401

            out["tensorrt"] = getattr(tensorrt, "__version__", None)
        except Exception:
            pass
    return out


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def git_state(cwd: Optional[str] = None) -> Optional[dict]:
    """The commit and dirtiness of the code that ran. A copy of a tree without its .git (a GPU machine that
    gets the working tree only) says so through TRTBENCH_GIT_COMMIT / TRTBENCH_GIT_DIRTY, set by whoever
    made the copy; otherwise git is asked, and None means nobody knows (never a made-up "HEAD")."""
    env = os.environ.get("TRTBENCH_GIT_COMMIT", "").strip()
    if env:
        return {"commit": env, "dirty": os.environ.get("TRTBENCH_GIT_DIRTY", "") not in ("", "0", "false"),
                "source": "TRTBENCH_GIT_COMMIT"}
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True,
                                timeout=5).stdout.strip()
        if len(commit) != 40 or not all(c in "0123456789abcdef" for c in commit):
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return {"commit": commit, "dirty": bool(dirty)}
    except (OSError, subprocess.SubprocessError):
        return None


def machine_fingerprint(gpu: Optional[dict] = None) -> dict:
    return {
        "host": socket.gethostname(),
        "os": platform.platform(),
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "python": sys.version.split()[0],
        "packages": package_versions(),
        "git": git_state(),
        "gpu": gpu,
    }
