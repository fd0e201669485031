"""Data-parallel training: the process group the trainer reads, and a launcher for N local processes.

The one ``Trainer`` trains data-parallel whenever ``torch.distributed`` is initialised, whoever
started the processes: ``torchrun`` (its environment: ``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR`` …,
read by ``init_from_env``) or ``spawn`` below, which ``train_graph_model`` uses for
``RunSpec.nproc`` > 1 (``matassets run … --nproc N``). Device: a preset's ``device`` (``device``
below); backend: NCCL on GPUs, gloo on the CPU.

Rank 0 is the only process that writes (checkpoints, the model folder) and logs; every rank reads
the same data and computes the same decisions (validation score, early stop, time budget) from
values gathered or broadcast from rank 0, so that all ranks leave the loop at the same epoch.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
from collections.abc import Callable
from datetime import timedelta
from typing import get_args

import torch
import torch.distributed as dist
from torch import nn

from matassets.levels import Device


def active() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank_world() -> tuple[int, int]:
    """(rank, world size) of this process; (0, 1) outside a process group."""
    return (dist.get_rank(), dist.get_world_size()) if active() else (0, 1)


def is_main() -> bool:
    return rank_world()[0] == 0


def quiet(line: str) -> None:
    """The log of every rank but 0: lines are dropped."""


def backend(choice: str = "auto") -> str:
    """The process group's backend for a preset's ``device``: NCCL where it trains on GPUs."""
    return "nccl" if device_type(choice) == "cuda" else "gloo"


def device_type(choice: str) -> str:
    """``cpu`` or ``cuda`` for a preset's ``device`` on this machine: ``cpu``; ``cuda``, refused
    (ValueError, saying why) where torch sees no GPU; ``auto``, a GPU where there is one."""
    *others, last = choices = get_args(Device)
    if choice not in choices:
        raise ValueError(f"device={choice!r}: choose {', '.join(others)} or {last}")
    if choice == "cpu" or (choice == "auto" and not torch.cuda.is_available()):
        return "cpu"
    if not torch.cuda.is_available():
        build = f"built for CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
        raise ValueError(
            f"device=cuda: torch {torch.__version__} ({build}) sees no GPU on this machine "
            f"(CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', 'unset')}); "
            "choose device=cpu, or device=auto (a GPU where there is one)"
        )
    return "cuda"


def device(choice: str = "auto") -> torch.device:
    """This rank's device for a preset's ``device`` (``device_type``): the CPU, or the rank's own
    GPU (``LOCAL_RANK``)."""
    if device_type(choice) == "cpu":
        if active() and dist.get_backend() == "nccl":
            raise ValueError("device=cpu in an NCCL process group (torchrun on GPUs): use device=cuda")
        return torch.device("cpu")
    local = int(os.environ.get("LOCAL_RANK", rank_world()[0])) % torch.cuda.device_count()
    torch.cuda.set_device(local)
    return torch.device("cuda", local)


def where(on: torch.device) -> str:
    """``on`` for a log line: ``cpu``, or ``cuda:0 (NVIDIA H100 80GB HBM3)``."""
    return f"{on} ({torch.cuda.get_device_name(on)})" if on.type == "cuda" else str(on)


def init_from_env() -> None:
    """Join the process group a launcher such as ``torchrun`` described in the environment, and
    leave it when the process exits: a gloo group still alive while the interpreter shuts down can
    abort the process ("terminate called without an active exception", SIGABRT), which failed a CI
    run of ``test_distributed`` in rank 1 after its training had ended. The backend is ``auto``'s:
    under torchrun on GPUs, a preset's ``device=cpu`` is refused (``device``)."""
    if not active() and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        dist.init_process_group(backend())
        atexit.register(leave)


def leave() -> None:
    """Destroy this process's group, if it is in one, once every rank has come to leave it (gloo: at
    most a minute's wait, for a rank that fails and never comes): a rank that destroyed its group and
    exited while the other still held its connections aborted the other with SIGABRT ("terminate
    called without an active exception") in CI, with torchrun as with ``spawn``."""
    if not active():
        return
    if dist.get_backend() == "gloo":
        with contextlib.suppress(RuntimeError):
            dist.monitored_barrier(timeout=timedelta(seconds=60))
    dist.destroy_process_group()


def wrap(model: nn.Module, on: torch.device) -> nn.Module:
    """``model`` in ``DistributedDataParallel`` inside a process group, else ``model`` itself.

    DDP averages the gradients over the ranks at every step and broadcasts rank 0's buffers before
    every forward. Batch normalisation normalises over each rank's share of the batch (SyncBatchNorm
    exists for CUDA only), the one place where N processes differ from one with the same batch.
    """
    if not active():
        return model
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(model, device_ids=[on.index] if on.type == "cuda" else None)


def average_gradients(module: nn.Module) -> None:
    """Average the gradients of parameters that DDP does not manage (e.g. an objective's own)."""
    _, world = rank_world()
    if world == 1:
        return
    for p in module.parameters():
        if p.grad is not None:
            dist.all_reduce(p.grad)
            p.grad /= world


def mean(value: float) -> float:
    """The mean of ``value`` over the ranks."""
    _, world = rank_world()
    if world == 1:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=_collective_device())
    dist.all_reduce(t)
    return float(t.item()) / world


def from_main(value: object) -> object:
    """Rank 0's ``value`` on every rank (a decision all ranks must take alike)."""
    if not active():
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0, device=_collective_device())
    return box[0]


def gather(value: object) -> list:
    """Every rank's ``value``, in rank order, on every rank."""
    if not active():
        return [value]
    out = [None] * dist.get_world_size()
    dist.all_gather_object(out, value)
    return out


def sync_buffers(module: nn.Module) -> None:
    """Give every rank rank 0's buffers (batch-norm running statistics)."""
    if active():
        for b in module.buffers():
            dist.broadcast(b, src=0)


def _collective_device() -> torch.device:
    on_gpus = dist.get_backend() == "nccl"
    return torch.device("cuda", torch.cuda.current_device()) if on_gpus else torch.device("cpu")


def spawn(fn: Callable, nproc: int, args: tuple, log: Callable[[str], None], choice: str = "auto"):
    """Run ``fn(*args, log=…)`` in ``nproc`` new local processes forming one process group on the
    backend of device ``choice``; return rank 0's result. Rank 0's log lines come back through a
    queue to ``log``; a failing rank stops the others and its traceback is raised here."""
    import shutil
    import tempfile

    import torch.multiprocessing as mp

    context = mp.get_context("spawn")
    messages = context.SimpleQueue()
    result = []

    def drain() -> None:
        while not messages.empty():
            kind, payload = messages.get()
            if kind == "log":
                log(payload)
            else:
                result.append(payload)

    rendezvous = tempfile.mkdtemp(prefix="matassets-ddp-")
    try:
        procs = mp.start_processes(
            _worker,
            args=(nproc, f"file://{rendezvous}/store", messages, fn, args, backend(choice)),
            nprocs=nproc,
            join=False,
            start_method="spawn",
        )
        while not procs.join(timeout=0.5):
            drain()
        drain()
        return result[0]
    finally:
        shutil.rmtree(rendezvous, ignore_errors=True)


def _worker(
    rank: int, world: int, init_method: str, messages, fn: Callable, args: tuple, group_backend: str
) -> None:
    os.environ.update(
        RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world), LOCAL_WORLD_SIZE=str(world)
    )
    dist.init_process_group(group_backend, init_method=init_method, rank=rank, world_size=world)
    try:
        result = fn(*args, log=lambda line: messages.put(("log", line)))
        if rank == 0:
            messages.put(("result", result))  # written to the pipe before put returns
    finally:
        leave()
    # A finished rank ends without the interpreter's teardown: there a gloo thread that outlived
    # the group (held by an object freed late) aborted rank 1 with SIGABRT in CI ("terminate
    # called without an active exception") after training had ended. A failing rank does not get
    # here: torch's spawn records its traceback for ``spawn`` above to raise.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
