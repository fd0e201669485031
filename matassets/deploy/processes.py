"""A local cluster's processes (``make cluster`` / ``make cluster-stop``): start them with a pid file
each, and stop exactly those.

Each process starts in its own session (its own process group: a worker and the pool process
running its step, the daemon and the code server it spawns), writes its output to
``<state>/logs/<name>.log`` and is recorded in ``<state>/run/<name>.pid`` with its start time. Stopping
signals a recorded group only while its leader is the very process that was started (same pid and
same start time), so a pid the system has since given to another program is never touched.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

DEFAULT_STATE = Path(".cluster")
STOP_TIMEOUT_S = 30.0
GROUP_EXIT_S = 5.0  # how long `stop` waits for the killed members of a group to be gone


def bin_path(name: str) -> str:
    """An executable of this environment (``dagster-daemon`` beside this Python)."""
    return str(Path(sys.executable).parent / name)


def process_start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (``/proc/<pid>/stat``), None if gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] == "Z":  # a zombie has exited; its parent has not collected it yet
        return None
    return int(fields[19])


@dataclass(frozen=True)
class Record:
    name: str
    pid: int
    start_time: int
    argv: list[str]
    log: str

    def alive(self) -> bool:
        return process_start_time(self.pid) == self.start_time


class Processes:
    """The processes recorded under ``state`` (default ``.cluster``)."""

    def __init__(self, state: Path = DEFAULT_STATE):
        self.state = Path(state)
        self.run_dir = self.state / "run"
        self.log_dir = self.state / "logs"

    def pid_file(self, name: str) -> Path:
        return self.run_dir / f"{name}.pid"

    def start(
        self, name: str, argv: Sequence[str], env: Mapping[str, str], cwd: Path | None = None
    ) -> Record:
        existing = self.record(name)
        if existing is not None and existing.alive():
            raise RuntimeError(f"{name} is already running (pid {existing.pid}); stop it first")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_dir / f"{name}.log"
        with open(log, "ab") as out, _sigterm_at_default():
            proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=dict(env),
                cwd=cwd,
                start_new_session=True,
            )
        started = process_start_time(proc.pid)
        record = Record(name, proc.pid, started if started is not None else -1, list(argv), str(log))
        tmp = self.pid_file(name).with_suffix(".tmp")
        tmp.write_text(json.dumps(record.__dict__) + "\n")
        tmp.replace(self.pid_file(name))
        return record

    def record(self, name: str) -> Record | None:
        try:
            return Record(**json.loads(self.pid_file(name).read_text()))
        except (OSError, ValueError, TypeError):
            return None

    def records(self) -> list[Record]:
        if not self.run_dir.is_dir():
            return []
        names = sorted(p.stem for p in self.run_dir.glob("*.pid"))
        return [r for r in (self.record(n) for n in names) if r is not None]

    def stop(self, name: str, timeout: float = STOP_TIMEOUT_S, sig: int = signal.SIGTERM) -> str:
        """Stop one recorded process group: ``sig``, then SIGKILL after ``timeout`` seconds."""
        record = self.record(name)
        if record is None:
            return f"{name}: no pid file"
        outcome = f"{name}: not running"
        if record.alive():
            _signal_group(record.pid, sig)
            deadline = time.monotonic() + timeout
            while record.alive() and time.monotonic() < deadline:
                time.sleep(0.2)
            if record.alive():
                _signal_group(record.pid, signal.SIGKILL)
                while record.alive() and time.monotonic() < deadline + 10:
                    time.sleep(0.1)
                outcome = f"{name}: killed (pid {record.pid}) after {timeout:.0f} s"
            else:
                outcome = f"{name}: stopped (pid {record.pid})"
        _signal_group(record.pid, signal.SIGKILL, only_if_leader_gone=True)
        deadline = time.monotonic() + GROUP_EXIT_S  # a killed member exits when next scheduled
        while _live_group_members(record.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.pid_file(name).unlink(missing_ok=True)
        return outcome

    def stop_all(self, timeout: float = STOP_TIMEOUT_S) -> list[str]:
        """Stop every recorded process, workers first (their runs' steps), the webserver last."""
        order = {"worker": 0, "daemon": 1, "webserver": 2}
        records = sorted(self.records(), key=lambda r: (order.get(r.name.rstrip("0123456789"), 0), r.name))
        return [self.stop(r.name, timeout) for r in records]


@contextmanager
def _sigterm_at_default():
    """Start a process that stops on SIGTERM whatever this one does with it: an ignored SIGTERM
    (SIG_IGN) and a blocked one are inherited through fork and exec, and such a process ignored
    `stop` until SIGKILL came after the timeout (seen twice in the full test suite under load: a test
    run earlier in the same pytest worker had left SIGTERM ignored). Only this thread's mask and, from
    the main thread, the disposition are changed, for the moment of the fork."""
    main = threading.current_thread() is threading.main_thread()
    ignored = main and signal.getsignal(signal.SIGTERM) == signal.SIG_IGN
    if ignored:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    mask = signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        if ignored:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _live_group_members(pgid: int) -> list[int]:
    """The processes of process group ``pgid`` that have not exited (zombies excluded)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text()
        except OSError:
            continue
        state, _ppid, pgrp = fields[fields.rindex(")") + 2 :].split()[:3]
        if int(pgrp) == pgid and state != "Z":
            out.append(int(stat.parent.name))
    return out


def _signal_group(pid: int, sig: int, only_if_leader_gone: bool = False) -> None:
    """Signal the process group ``pid`` leads (each recorded process started its own session).

    With ``only_if_leader_gone``: the leader has exited; members left in its group (a pool process
    or a code server that outlived it) get ``sig``, provided no live process has taken the pid."""
    if only_if_leader_gone and process_start_time(pid) is not None:
        return
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass
