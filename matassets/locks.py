"""One run per asset partition at a time: an exclusive lock on a file beside the run's work folder.

``run_lock(path, what)`` takes an ``flock`` on ``path`` without waiting; if another process (or
another thread of this one) holds it, ``RunInProgressError`` names the run and the holder's pid.
The kernel drops the lock when its holder exits, however it exits (``kill -9`` included), so a
crashed run never leaves a stale lock behind; the file itself stays (deleting it would let two
runs lock two different files of the same name).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class RunInProgressError(RuntimeError):
    """Another run holds the lock of the same asset partition."""


def _holder(fd: int) -> str:
    try:
        text = os.pread(fd, 64, 0).decode("ascii", "replace").strip()
    except OSError:
        return "unknown"
    return text or "unknown"


@contextmanager
def run_lock(path: Path, what: str) -> Iterator[Path]:
    """Hold an exclusive lock on ``path`` for the ``with`` block; refuse at once if it is taken."""
    import fcntl

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunInProgressError(
                f"another run of {what} is in progress (pid {_holder(fd)}); wait for it to end "
                f"or stop it (lock: {path})"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield path
    finally:
        os.close(fd)  # closing the descriptor releases the lock
