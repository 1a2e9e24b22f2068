"""The engine cache: plans keyed by model content, build settings, TensorRT version and GPU.

Files: ``<cache>/engines/<key>.plan`` and ``<key>.json`` (the key's parts and the plan's sha256 and
size). Both are written atomically. A plan whose size or hash does not match its record, or whose
record is for another key, is treated as absent: rebuilt, never trusted.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Optional

from trtbench.atomic_files import write_atomically as _atomic_write


def cache_key(model_digest: str, spec_key: str, trt_version: str, gpu_name: str, compute_capability: str) -> str:
    parts = json.dumps({"model": model_digest, "build": spec_key, "tensorrt": trt_version, "gpu": gpu_name,
                        "cc": compute_capability}, sort_keys=True)
    return hashlib.sha256(parts.encode()).hexdigest()[:32]


class EngineCache:
    def __init__(self, root: str) -> None:
        self.dir = Path(root) / "engines"

    def paths(self, key: str):
        return self.dir / f"{key}.plan", self.dir / f"{key}.json"

    def get(self, key: str) -> Optional[bytes]:
        """The cached plan, or None when absent or not trustworthy (the reason is in ``last_miss``)."""
        plan_path, meta_path = self.paths(key)
        self.last_miss = None
        if not plan_path.exists() or not meta_path.exists():
            self.last_miss = "not cached"
            return None
        try:
            meta = json.loads(meta_path.read_text())
            data = plan_path.read_bytes()
        except (OSError, ValueError) as exc:
            self.last_miss = f"unreadable cache entry ({exc})"
            return None
        if not isinstance(meta, dict):
            self.last_miss = "cache record is not a JSON object (damaged)"
        elif meta.get("key") != key:
            self.last_miss = "cache record is for another key"
        elif meta.get("size") != len(data):
            self.last_miss = f"plan is {len(data)} bytes, the record says {meta.get('size')} (truncated?)"
        elif meta.get("sha256") != hashlib.sha256(data).hexdigest():
            self.last_miss = "plan's sha256 does not match its record (corrupt)"
        if self.last_miss:
            return None
        return data

    def put(self, key: str, plan: bytes, info: dict) -> Path:
        plan_path, meta_path = self.paths(key)
        _atomic_write(plan_path, plan)
        meta = dict(info, key=key, size=len(plan), sha256=hashlib.sha256(plan).hexdigest())
        _atomic_write(meta_path, json.dumps(meta, indent=1, sort_keys=True).encode())
        return plan_path

    def timing_cache_path(self, trt_version: str, gpu_name: str) -> Path:
        safe = "".join(c if c.isalnum() else "_" for c in f"{trt_version}-{gpu_name}")
        return self.dir.parent / f"timing-{safe}.cache"

    def load_timing_cache(self, path: Path) -> Optional[bytes]:
        try:
            return path.read_bytes()
        except OSError:
            return None

    def save_timing_cache(self, path: Path, data: bytes) -> None:
        _atomic_write(path, data)
