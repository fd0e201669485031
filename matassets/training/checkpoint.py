"""Checkpoints with a content hash: written atomically, refused with a clear message if corrupted."""

from __future__ import annotations

from pathlib import Path

import torch

from matassets.io import atomic_write, sha256_file


class CorruptCheckpointError(RuntimeError):
    pass


def _hash_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def save_checkpoint(path: Path, state: dict) -> None:
    atomic_write(path, lambda tmp: torch.save(state, tmp))
    digest = sha256_file(path, length=64)
    atomic_write(_hash_path(path), lambda tmp: tmp.write_text(digest + "\n"))


def load_checkpoint(path: Path) -> dict:
    """Load a checkpoint after checking its hash (``weights_only=True``: no code is unpickled)."""
    hash_path = _hash_path(path)
    if not hash_path.exists():
        raise CorruptCheckpointError(
            f"{path}: no {hash_path.name} beside it; delete the checkpoint "
            "to start this run from scratch"
        )
    expected = hash_path.read_text().strip()
    actual = sha256_file(path, length=64)
    if actual != expected:
        raise CorruptCheckpointError(
            f"{path} is corrupted (sha256 {actual[:12]}… but {expected[:12]}… was written); "
            "delete it to start this run from scratch"
        )
    return torch.load(path, weights_only=True)


def remove_checkpoint(path: Path) -> None:
    for p in (path, _hash_path(path)):
        p.unlink(missing_ok=True)
