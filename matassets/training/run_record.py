"""The runbook's handoff record, written automatically beside every trained model."""

from __future__ import annotations

import datetime as dt
import os
import platform
import subprocess
from importlib import metadata

from matassets.paths import PROJECT_ROOT

LIBRARIES = (
    "matassets",
    "torch",
    "torch-geometric",
    "e3nn",
    "mace-torch",
    "pymatgen",
    "scikit-learn",
    "polars",
    "dagster",
    "dvc",
)


def git_state() -> dict[str, object]:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=10
        ).stdout.strip()

    try:
        return {
            "git_sha": git("rev-parse", "HEAD") or None,
            "git_dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
        }
    except (OSError, subprocess.SubprocessError):
        return {"git_sha": None, "git_dirty": None}


def library_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def hardware() -> dict[str, object]:
    import torch

    return {
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "python": platform.python_version(),
    }


def build_run_record(
    *,
    phase: str,
    algorithm: str,
    partition: str,
    command: str,
    overrides: dict,
    output_dir: str,
    metrics: dict,
    notes: list[str],
    data_hash: str,
    split_hash: str,
    seed: int,
    seconds: float,
    dagster_run_id: str | None,
    extra: dict | None = None,
) -> dict:
    mode = "competition" if partition == "competition" else "level"
    return {
        "phase": phase,
        "algorithm": algorithm,
        "mode": mode,
        "level": None if mode == "competition" else partition,
        "partition": partition,
        "command": command,
        "overrides": overrides,
        "output_dir": output_dir,
        "val_metrics": metrics.get("val"),
        "test_metrics": metrics.get("test"),
        "notes": notes,
        **git_state(),
        "data_hash": data_hash,
        "split_hash": split_hash,
        "seed": seed,
        "libraries": library_versions(),
        "hardware": hardware(),
        "duration_s": round(seconds, 2),
        "dagster_run_id": dagster_run_id,
        "finished_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        **(extra or {}),
    }
