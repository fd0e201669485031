"""A real training run in a child process, for the kill -9 and lock tests (not a test module).

``python train_child.py ROOT [--partition P] [--epochs N] [--batch-sleep S] [--die-in-save E]``
trains a small CGCNN on the partition's real data under ROOT with ``train_graph_model``. It
prints every log line, ``saved epoch N`` after each checkpoint is on disk, and a final JSON line.
``--batch-sleep`` slows every batch so that a test can kill it mid-epoch; ``--die-in-save E``
sends itself SIGKILL in the worst instant of epoch E's checkpoint: after the new checkpoint file
was renamed into place and before its digest file is updated.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import sys
import time
from pathlib import Path

ASSET = "reliability_cgcnn"
DATA_DIRS = ("raw", "structures", "splits", "graphs")


def copy_data(src_root: Path, dst_root: Path, partitions: tuple[str, ...]) -> Path:
    """A private project root holding the smoke data of ``src_root`` under each of ``partitions``
    (the data files name no partition inside, so a copy is a complete partition)."""
    import shutil

    for part in partitions:
        for kind in DATA_DIRS:
            shutil.copytree(src_root / "data" / kind / "smoke", dst_root / "data" / kind / part)
    return dst_root


class Child:
    """``train_child.py`` in a subprocess of its own session, its output read line by line."""

    def __init__(self, root: Path, *args: str) -> None:
        import queue
        import subprocess
        import threading

        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self.proc = subprocess.Popen(
            [sys.executable, "-u", __file__, str(root), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
            env={**os.environ, "OMP_NUM_THREADS": "1"},
        )

        def pump() -> None:
            for line in self.proc.stdout:
                self._queue.put(line.rstrip("\n"))
            self._queue.put(None)

        threading.Thread(target=pump, daemon=True).start()

    def wait_for(self, text: str, timeout: float = 120.0) -> str:
        """The first new line containing ``text``; AssertionError if the child ends first."""
        import queue

        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._queue.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no {text!r} within {timeout}s:\n" + self.output) from None
            if line is None:
                raise AssertionError(f"child ended before {text!r}:\n" + self.output)
            self.lines.append(line)
            if text in line:
                return line

    def finish(self, timeout: float = 180.0) -> int:
        code = self.proc.wait(timeout=timeout)
        while True:
            import queue

            try:
                line = self._queue.get(timeout=5)
            except queue.Empty:
                break
            if line is None:
                break
            self.lines.append(line)
        return code

    def result(self) -> dict:
        found = [json.loads(line[7:]) for line in self.lines if line.startswith("RESULT ")]
        assert found, self.output
        return found[-1]

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)

    @property
    def output(self) -> str:
        return "\n".join(self.lines)


def spec(partition: str, epochs: int):
    from matassets.levels import CGCNN, DATA
    from matassets.training.graph_model import RunSpec

    data = DATA["smoke"]
    # a small network, so that three short processes cost little; the smoke data as it is
    preset = dataclasses.replace(
        CGCNN["smoke"], epochs=epochs, patience=100, hidden=16, n_layers=1, batch_size=32
    )
    return RunSpec(
        asset=ASSET,
        phase="phase1",
        algorithm="cgcnn",
        tasks=["formation_energy"],
        partition=partition,
        preset=preset,
        data=data,
        command="reliability test",
        architecture={
            "family": "cgcnn",
            "hidden": 16,
            "n_layers": 1,
            "cutoff": data.cutoff,
            "gaussian_step": data.gaussian_step,
        },
    )


def _slow_batches(seconds: float) -> None:
    from matassets.graphs.store import GraphStore

    collate = GraphStore.collate

    def slow(self, index):
        time.sleep(seconds)
        return collate(self, index)

    GraphStore.collate = slow


def _announce_saves(die_in_save: int) -> None:
    from matassets.training import checkpoint, trainer

    save, write = trainer.save_checkpoint, checkpoint.atomic_write
    state = {"epoch": 0, "replaced": False}

    def atomic_write(path, fn):
        if state["epoch"] == die_in_save and state["replaced"] and path.name.endswith(".sha256"):
            os.kill(os.getpid(), signal.SIGKILL)
        result = write(path, fn)
        state["replaced"] = state["replaced"] or path.suffix == ".pt"
        return result

    def announce(path, saved):
        state.update(epoch=saved["epoch"], replaced=False)
        save(path, saved)
        print(f"saved epoch {saved['epoch']}", flush=True)

    checkpoint.atomic_write = atomic_write
    trainer.save_checkpoint = announce


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("root", type=Path)
    parser.add_argument("--partition", default="smoke")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--batch-sleep", type=float, default=0.0)
    parser.add_argument("--die-in-save", type=int, default=0)
    args = parser.parse_args(argv)
    if args.batch_sleep:
        _slow_batches(args.batch_sleep)
    _announce_saves(args.die_in_save)

    from matassets.paths import Layout
    from matassets.training.graph_model import train_graph_model

    started: list[float] = []

    def log(message: str) -> None:
        if not started:  # the first line is written with the run's lock held
            started.append(time.time())
            print(f"locked at {started[0]:.3f} by pid {os.getpid()}", flush=True)
        print(message, flush=True)

    out = train_graph_model(Layout(args.root), spec(args.partition, args.epochs), log=log)
    result = {
        "started": started[0],
        "finished": time.time(),
        "epochs_run": out.fit.epochs_run,
        "resumed_from": out.fit.resumed_from_epoch,
        "model_dir": str(out.model_dir),
    }
    print("RESULT " + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
