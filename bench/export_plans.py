"""Copy the TensorRT plans of an engine cache to readable names (``<variant id>.plan``), so the
independent clock and ``trtbench run --engine`` time exactly the engines a matrix run built.

    python bench/export_plans.py CACHE_DIR OUT_DIR [--match ID_OR_PREFIX_ ...]   (a prefix ends with "_")
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path


def main() -> None:
    cache, out = Path(sys.argv[1]) / "engines", Path(sys.argv[2])
    match = sys.argv[4:] if len(sys.argv) > 3 and sys.argv[3] == "--match" else []
    out.mkdir(parents=True, exist_ok=True)
    n = 0
    for meta_path in sorted(cache.glob("*.json")):
        meta = json.loads(meta_path.read_text())
        vid = meta.get("variant")
        if not vid or (match and not any(vid == m or (m.endswith("_") and vid.startswith(m)) for m in match)):
            continue
        shutil.copyfile(meta_path.with_suffix(".plan"), out / f"{vid}.plan")
        n += 1
    print(f"{n} plan(s) in {out}")


if __name__ == "__main__":
    main()
