"""Is a results file still being written? The writer holds an exclusive ``flock`` on its file while it
writes and lets go when it closes it (at the end, or when a write fails, or when its process dies), so a
reader can tell a live run from one whose writer gave up, even in the writer's own process, and a
recycled process id does not make a dead run look alive. Where ``flock`` is missing (Windows) or refused
(some network file systems) the reader falls back to the writer's process id."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Mapping, Optional, Tuple

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None


def hold(fileno: int) -> bool:
    """Take the writer's lock on an open file; False where it cannot be had (then readers go by the pid)."""
    if fcntl is None:
        return False
    try:
        fcntl.flock(fileno, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def held(path: Path) -> Optional[bool]:
    """True while a writer holds the lock on ``path``, False once none does, None where it cannot be told."""
    if fcntl is None:
        return None
    try:
        fd = os.open(str(path), os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return None
    finally:
        os.close(fd)  # closing the descriptor also drops a shared lock taken above
    return False


def _pid_alive(writer: Mapping) -> Optional[bool]:
    if writer.get("host") != socket.gethostname() or not isinstance(writer.get("pid"), int):
        return None
    try:
        os.kill(writer["pid"], 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def without_end(writer: Mapping, path: Path) -> Tuple[str, str]:
    """A run without an end line: (status, why) from its header's ``writer`` block and its file's lock."""
    alive = _pid_alive(writer)
    if alive and writer.get("lock") == "flock" and held(path) is False:
        return "aborted", f"its writer (process {writer['pid']}) stopped writing it: a write failed or it crashed"
    if alive:
        return "running", "still running"
    return ("aborted" if alive is False else "incomplete"), "killed or crashed"
