"""Writing files atomically: a temporary file in the same directory, fsync, then rename over the target.
A reader never sees a half-written file, and a crash leaves the old file (or none), never a torn one."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomically(path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=str(path.parent))
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
