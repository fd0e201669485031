"""Train a MACE potential with mace-torch's own entry point, in a subprocess, streaming its log.

MACE is not re-implemented here. This module turns a :class:`~matassets.levels.MacePreset` into a
``python -m mace.cli.run_train`` command line, runs it in a child process (``import mace`` sets
``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` for its whole process, so it never runs in ours), hands every
line of its log to a callback as it is printed (the Dagster log in an asset), and reads back the
per-epoch validation errors MACE prints.

Model selection is MACE's: it keeps the checkpoint with the lowest validation loss and writes that
one as ``<name>.model`` (pickled module) and ``<name>_compiled.model`` (TorchScript). The test set is
never given to ``run_train``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from matassets.levels import MacePreset

MODEL_NAME = "mace_potential"
STOP_GRACE_S = 10.0  # s a child has to end on SIGTERM before its process group is killed

# Lines MACE's dependencies print on every start that say nothing about this run.
NOISE = (
    "return visitor(node)",
    "UserWarning",
    "FutureWarning",
    "warnings.warn",
    "_Jd, _W3j_flat, _W3j_indices",
    "cuequivariance or cuequivariance_torch is not available",
    "super().__init__(loader)",
    "torch.load(f=checkpoint_info.path",
)

_EPOCH = re.compile(r"\b(Epoch (\d+)|Initial):")
_VALUE = re.compile(r"(\w+)=\s*([-+]?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)")


class MaceTrainingError(RuntimeError):
    """``run_train`` exited with an error; the message carries the end of its log."""


class MaceStopped(MaceTrainingError):
    """The caller's ``stop`` event ended the MACE process (another job of the same run failed)."""


@dataclass
class MaceRun:
    model: Path  # pickled torch module, as MACE writes it
    compiled: Path | None  # TorchScript version (None if MACE did not write one)
    history: list[dict]  # one row per validation evaluation: epoch, loss, mae_e, mae_f, mae_stress
    command: list[str]
    seconds: float
    log_path: Path
    resumed: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def epochs(self) -> list[dict]:
        """The history's rows of trained epochs (not the initial evaluation)."""
        return [h for h in self.history if h["epoch"] >= 0 and "loss" in h]

    @property
    def epochs_run(self) -> int:
        return max((h["epoch"] for h in self.epochs), default=-1) + 1


def e0s_argument(e0s: dict[str, float]) -> str:
    """``--E0s`` as MACE parses it: a Python dict literal {Z: eV}."""
    from ase.data import atomic_numbers

    return "{" + ", ".join(f"{atomic_numbers[el]}: {e0s[el]!r}" for el in sorted(e0s)) + "}"


def build_command(
    preset: MacePreset,
    train_xyz: Path,
    val_xyz: Path,
    e0s: dict[str, float],
    work_dir: Path,
    name: str = MODEL_NAME,
    restart: bool = False,
    python: str = sys.executable,
) -> list[str]:
    """The ``run_train`` command for one preset (float32, E0s given, stress trained) on the device
    its ``device`` resolves to here."""
    from matassets.training.distributed import device_type

    p = preset
    cmd = [
        python, "-m", "mace.cli.run_train",
        "--name", name,
        "--seed", str(p.seed),
        "--work_dir", str(work_dir),
        "--device", device_type(p.device),
        "--default_dtype", "float32",
        "--train_file", str(train_xyz),
        "--valid_file", str(val_xyz),
        "--energy_key", "REF_energy",
        "--forces_key", "REF_forces",
        "--stress_key", "REF_stress",
        "--E0s", e0s_argument(e0s),
        "--model", "MACE",
        "--r_max", str(p.r_max),
        "--num_channels", str(p.num_channels),
        "--max_L", str(p.max_L),
        "--max_ell", str(p.max_ell),
        "--correlation", str(p.correlation),
        "--num_interactions", str(p.num_interactions),
        "--num_radial_basis", str(p.num_radial_basis),
        "--radial_MLP", json.dumps(list(p.radial_mlp)),
        "--loss", "stress",
        "--compute_stress", "True",
        "--energy_weight", str(p.energy_weight),
        "--forces_weight", str(p.forces_weight),
        "--stress_weight", str(p.stress_weight),
        "--batch_size", str(p.batch_size),
        "--valid_batch_size", str(p.eval_batch_size),
        "--lr", str(p.lr),
        "--max_num_epochs", str(p.epochs),
        "--patience", str(p.patience),
        "--eval_interval", "1",
        "--error_table", "PerAtomMAEstressvirials",
        "--plot", "False",
        "--save_cpu",
    ]  # fmt: skip
    if p.ema_decay is not None:
        cmd += ["--ema", "--ema_decay", str(p.ema_decay)]
    if p.stage_two_from is not None and p.stage_two_from < p.epochs:
        cmd += [
            "--swa",
            "--start_swa", str(p.stage_two_from),
            "--swa_energy_weight", str(p.stage_two_energy_weight),
            "--swa_forces_weight", str(p.stage_two_forces_weight),
            "--swa_stress_weight", str(p.stage_two_stress_weight),
        ]  # fmt: skip
    if restart:
        cmd.append("--restart_latest")
    return cmd


def threads_for_children() -> int:
    """Torch threads of a MACE child process: ``$MATASSETS_THREADS``, else one per core (as the
    shared trainer). On a machine shared with other jobs use 1: a smoke MACE epoch took 10 s with
    two threads on two busy cores against 1 s with one (threads spin-wait on descheduled siblings)."""
    return max(1, int(os.environ.get("MATASSETS_THREADS") or os.cpu_count() or 1))


def run_streaming(
    cmd: list[str],
    log: Callable[[str], None],
    log_file: Path | None = None,
    cwd: Path | None = None,
    noise: Iterable[str] = NOISE,
    threads: int | None = None,
    stop: threading.Event | None = None,
) -> tuple[int, list[str]]:
    """Run ``cmd`` with ``threads`` torch threads (default ``threads_for_children()``); every line of
    its stdout+stderr goes to ``log`` as it arrives (noise skipped) and, unfiltered, to ``log_file``.
    Returns (exit code, all lines); raises ``MaceStopped`` when ``stop`` was set and ended it.

    The child runs in a process group of its own, and the whole group is ended (``_end_group``) when
    ``stop`` is set and when this function leaves, however it leaves (Ctrl-C, a Dagster run
    terminated): a child that outlived SIGTERM, or a process it started that still holds the output
    pipe, kept the reading below waiting for a training of 100,000 epochs (CI, session 14)."""
    threads = str(threads or threads_for_children())
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "MPLBACKEND": "Agg",
        "PYTHONWARNINGS": "ignore",
        "OMP_NUM_THREADS": threads,
        "MKL_NUM_THREADS": threads,
    }
    lines: list[str] = []
    stopped: threading.Event | None = None
    sink = open(log_file, "a", encoding="utf-8") if log_file else None  # noqa: SIM115
    try:
        with subprocess.Popen(
            cmd,
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            start_new_session=True,
        ) as proc:
            assert proc.stdout is not None
            try:
                stopped = _watch(proc, stop) if stop is not None else None
                for raw in proc.stdout:
                    line = raw.rstrip("\n")
                    lines.append(line)
                    if sink:
                        sink.write(line + "\n")
                        sink.flush()
                    if line.strip() and not any(n in line for n in noise):
                        log(line)
                rc = proc.wait()
            finally:
                _end_group(proc)
    finally:
        if sink:
            sink.close()
    if stopped is not None and stopped.is_set():
        raise MaceStopped(f"the MACE process ended on request (exit {rc})")
    return rc, lines


def _end_group(proc: subprocess.Popen) -> None:
    """SIGTERM to ``proc``'s process group, SIGKILL to what is left of it after ``STOP_GRACE_S``
    (at once when ``proc`` itself has ended: what is left is what it started and left behind)."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:  # nothing of the group is left
        return
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(STOP_GRACE_S)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def _watch(proc: subprocess.Popen, stop: threading.Event) -> threading.Event:
    """End ``proc``'s process group once ``stop`` is set (checked every half second while it
    runs); the event returned is set when it did."""
    stopped = threading.Event()

    def watch() -> None:
        while proc.poll() is None:
            if stop.wait(0.5):
                stopped.set()
                _end_group(proc)
                return

    threading.Thread(target=watch, daemon=True).start()
    return stopped


def parse_history(lines: Iterable[str]) -> list[dict]:
    """MACE's per-evaluation validation lines → rows {epoch, loss, mae_e_per_atom_meV, ...}.

    ``Initial:`` is epoch -1. The keys keep MACE's names, lower-cased (MAE_E_per_atom → mae_e_per_atom).
    """
    rows = []
    for line in lines:
        match = _EPOCH.search(line)
        if not match or "loss=" not in line:
            continue
        row: dict = {"epoch": int(match.group(2)) if match.group(2) else -1}
        for key, value in _VALUE.findall(line[match.end() :]):
            row[key.lower()] = float(value)
        rows.append(row)
    return rows


def train_mace(
    preset: MacePreset,
    train_xyz: Path,
    val_xyz: Path,
    e0s: dict[str, float],
    work_dir: Path,
    log: Callable[[str], None] = print,
    name: str = MODEL_NAME,
    threads: int | None = None,
    stop: threading.Event | None = None,
) -> MaceRun:
    """Run ``mace.cli.run_train`` in ``work_dir`` (``threads``, ``stop``: as ``run_streaming``);
    resume from its checkpoints when they exist.

    ``work_dir`` should be specific to (preset, data): the caller keys it by their hash, so an
    interrupted run of the same inputs resumes (``--restart_latest``) and anything else starts fresh.
    """
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    checkpoints = work_dir / "checkpoints"
    restart = checkpoints.is_dir() and any(checkpoints.glob(f"{name}_run-*_epoch-*.pt"))
    cmd = build_command(preset, train_xyz, val_xyz, e0s, work_dir, name, restart)
    log_path = work_dir / "mace_run_train.log"
    log(("resuming" if restart else "starting") + " MACE: " + " ".join(cmd[1:]))
    start = time.perf_counter()
    rc, lines = run_streaming(cmd, log, log_path, threads=threads, stop=stop)
    seconds = time.perf_counter() - start
    if rc != 0:
        tail = "\n".join(lines[-25:])
        raise MaceTrainingError(f"mace run_train exited with {rc}; last lines:\n{tail}")
    model = work_dir / f"{name}.model"
    compiled = work_dir / f"{name}_compiled.model"
    if preset.stage_two_from is not None and (work_dir / f"{name}_stagetwo.model").exists():
        model = work_dir / f"{name}_stagetwo.model"
        compiled = work_dir / f"{name}_stagetwo_compiled.model"
    if not model.exists():
        raise MaceTrainingError(f"mace run_train finished but wrote no {model.name} in {work_dir}")
    history = parse_history(lines)
    notes = []
    if history and history[-1]["epoch"] < preset.epochs - 1:
        notes.append(
            f"MACE stopped after epoch {history[-1]['epoch']} of {preset.epochs} "
            f"(patience {preset.patience} on the validation loss)"
        )
    return MaceRun(
        model=model,
        compiled=compiled if compiled.exists() else None,
        history=history,
        command=cmd,
        seconds=seconds,
        log_path=log_path,
        resumed=restart,
        notes=notes,
    )
