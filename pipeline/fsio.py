"""Atomic file writes: a final path that exists is complete.

Every file the pipeline delivers or checkpoints (clips, report.json, manifests, encoded
audio) is written to `.NAME.PID.part` beside its final path, fsynced, then renamed with
os.replace (atomic within one directory). A failed write removes its part file; a part
left by a killed process is recognised by its dead PID and removed by the next run.
Disk-full errors propagate unchanged: callers turn them into DiskFullError with a message
naming what they were writing.
"""

from __future__ import annotations

import os
from pathlib import Path

PART_SUFFIX = ".part"


def atomic_target(out: Path) -> Path:
    """A temporary name beside `out` (same directory, so os.replace is atomic)."""
    return out.with_name(f".{out.name}.{os.getpid()}{PART_SUFFIX}")


def write_atomic(out: Path, data: bytes) -> None:
    """Write bytes to a temp name beside `out`, fsync, then rename over it."""
    out.parent.mkdir(parents=True, exist_ok=True)
    part = atomic_target(out)
    try:
        with open(part, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(part, out)
    finally:
        part.unlink(missing_ok=True)


def fsync_dir(path: Path) -> None:
    """Make a rename inside `path` durable (the directory entry itself is flushed)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_stale_parts(directory: Path) -> int:
    """Delete `.NAME.PID.part` files whose writer process is gone (killed mid-write)."""
    removed = 0
    if not directory.is_dir():
        return 0
    for part in directory.glob(f".*{PART_SUFFIX}"):
        pid = part.name[:-len(PART_SUFFIX)].rsplit(".", 1)[-1]
        if pid.isdigit() and not _alive(int(pid)):
            part.unlink(missing_ok=True)
            removed += 1
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
