"""The MACE child process: stopping it ends it and what it started."""

import sys
import threading
import time

import psutil

from matassets.training.mace_runner import STOP_GRACE_S, MaceStopped, run_streaming

# Synthetic child: it ignores SIGTERM and starts a process that holds the output pipe, then prints
# that process's pid and sleeps (the two ways a stopped training kept run_streaming reading).
STUBBORN = """
import signal, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
held = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
print(held.pid, flush=True)
time.sleep(600)
"""


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_a_stopped_child_is_ended_with_what_it_started():
    stop, lines, raised = threading.Event(), [], []

    def log(line: str) -> None:
        lines.append(line)
        stop.set()  # as a failed element does, once the child is up

    def run() -> None:
        try:
            run_streaming([sys.executable, "-c", STUBBORN], log, threads=1, stop=stop)
        except MaceStopped as error:
            raised.append(error)

    reader = threading.Thread(target=run, daemon=True)
    reader.start()
    reader.join(STOP_GRACE_S + 15)
    try:
        assert not reader.is_alive(), "run_streaming still reading a stopped child"
        assert raised, "a stopped child raises MaceStopped"
        held = int(lines[0])
        deadline = time.monotonic() + 5
        while not gone(held) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert gone(held), "the process the child started outlived it"
    finally:  # whatever this test started and the code under test left
        for child in psutil.Process().children(recursive=True):
            child.kill()
