"""One run per asset partition at a time: an exclusive lock on a file beside the run's work folder.

``run_lock(path, what)`` takes an ``flock`` on ``path`` without waiting; if another process (or
another thread of this one) holds it, ``RunInProgressError`` names the run and the holder's pid.
The kernel drops the lock when its holder exits, however it exits (``kill -9`` included), so a
crashed run never leaves a stale lock behind; the file itself stays (deleting it would let two
runs lock two different files of the same name).

``claim_level(path, level, run_id, run_active)`` does the same for a level's data runs, whose
steps run one after the other (often in separate processes): the run that claimed the level last
owns it until it ends, and a step of any other run is refused meanwhile.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
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


def _pid_alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's live process
    return True


def claim_level(path: Path, level: str, run_id: str, run_active: Callable[[str], bool | None]) -> None:
    """Make ``run_id`` the one data run of ``level``, or refuse: another data run of it is in progress.

    A data run's steps (raw table, validation, splits, graphs) are separate steps, often separate
    processes, so no lock held by one process spans the run. Each step claims the level instead:
    under a short ``flock`` of ``path`` it reads the owner recorded there; a different run that
    ``run_active`` says is still in progress makes this step fail at once with
    ``RunInProgressError``; otherwise this run becomes the owner (run id and pid). ``run_active``
    returns None for a run it does not know (another Dagster instance): then that run counts as in
    progress while the process that claimed is alive and is not this one.
    """
    import fcntl
    import json

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # held for a read and a write only
        try:
            owner = json.loads(os.pread(fd, 4096, 0).decode("utf-8") or "{}")
        except ValueError:
            owner = {}
        other = owner.get("run_id") if isinstance(owner, dict) else None
        if other and other != run_id:
            active = run_active(other)
            pid = owner.get("pid")
            if active is None:
                active = pid != os.getpid() and _pid_alive(pid)
            if active:
                raise RunInProgressError(
                    f"another data run of level {level} is in progress (run {other}, pid {pid}); "
                    f"wait for it to end or stop it; if it is dead, mark it failed in the UI "
                    f"(lock: {path})"
                )
        record = json.dumps({"run_id": run_id, "pid": os.getpid(), "level": level}).encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, record + b"\n", 0)
    finally:
        os.close(fd)
