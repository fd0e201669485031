"""Checkpoints with a content hash: written atomically, refused with a clear message if corrupted."""

from __future__ import annotations

from pathlib import Path

import torch

from matassets.io import atomic_write, sha256_file, torch_save


class CorruptCheckpointError(RuntimeError):
    pass


def _hash_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def save_checkpoint(path: Path, state: dict) -> None:
    """Replace the checkpoint so that a crash at any instant leaves a pair that loads.

    The ``.sha256`` file lists the digests a valid ``path`` may have: while the new file is put in
    place it lists the new and the old one, afterwards only the new one. A ``kill -9`` between the
    two renames leaves either file with its digest listed (the run resumes from it); a corrupted
    file matches no listed digest and is refused.
    """
    hash_path = _hash_path(path)
    current = sha256_file(path, length=64) if path.exists() else None
    old = [current] if current in _listed(hash_path) else []
    digest = ""

    def write(tmp: Path) -> None:
        nonlocal digest
        torch_save(state, tmp)
        digest = sha256_file(tmp, length=64)
        _write_digests(hash_path, [digest, *old])

    atomic_write(path, write)
    _write_digests(hash_path, [digest])


def _write_digests(hash_path: Path, digests: list[str]) -> None:
    atomic_write(hash_path, lambda tmp: tmp.write_text("\n".join(digests) + "\n"))


def _listed(hash_path: Path) -> list[str]:
    if not hash_path.exists():
        return []
    return [line.strip() for line in hash_path.read_text().splitlines() if line.strip()]


def load_checkpoint(path: Path) -> dict:
    """Load a checkpoint after checking its hash (``weights_only=True``: no code is unpickled), its
    tensors on the CPU: the trainer copies them onto its model's device, so a run interrupted on a GPU
    resumes on a machine without one."""
    hash_path = _hash_path(path)
    if not hash_path.exists():
        raise CorruptCheckpointError(
            f"{path}: no {hash_path.name} beside it; delete the checkpoint to start this run from scratch"
        )
    expected = _listed(hash_path)
    actual = sha256_file(path, length=64)
    if actual not in expected:
        written = " or ".join(f"{e[:12]}…" for e in expected) or "nothing"
        raise CorruptCheckpointError(
            f"{path} is corrupted (sha256 {actual[:12]}… but {written} was written); "
            "delete it to start this run from scratch"
        )
    return torch.load(path, weights_only=True, map_location="cpu")


def remove_checkpoint(path: Path) -> None:
    for p in (path, _hash_path(path)):
        p.unlink(missing_ok=True)
