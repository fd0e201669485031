"""The runbook's handoff record, written automatically beside every trained model.

Provenance is taken when a run *starts* (:func:`start_provenance`: git SHA, a hash of the uncommitted
diff, the code version, library versions, hardware, the time) and checked again when it ends
(:func:`finish_provenance`): a commit or an edit of the tracked files meanwhile makes the record say
``reproducible: false`` and what changed, since the files at the recorded SHA did not train the model.
The git checkout looked at is the package's own (``$MATASSETS_CODE_REPO`` overrides it).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import platform
import shlex
import subprocess
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path

from matassets.paths import PROJECT_ROOT
from matassets.runbook import record_block

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


# tracked files the runs themselves rewrite, not part of the code's state: dvc.lock and every
# model's history (git pathspec globs, from the checkout's root)
NOT_CODE = ("dvc.lock", "models/**/*.history.jsonl")


def code_repo() -> Path:
    """The git checkout whose state a run record names."""
    return Path(os.environ.get("MATASSETS_CODE_REPO") or PROJECT_ROOT)


def git_state() -> dict[str, object]:
    """``git_sha``, ``git_dirty`` (tracked files edited, other than :data:`NOT_CODE`) and
    ``git_diff_sha256`` (a hash of that ``git diff HEAD``: two dirty trees with the same hash hold the
    same edits); None where there is no git checkout."""

    def git(*args: str) -> bytes:
        return subprocess.run(["git", *args], cwd=code_repo(), capture_output=True, timeout=30).stdout

    try:
        sha = git("rev-parse", "--verify", "-q", "HEAD").decode().strip() or None
        if sha is None:
            return {"git_sha": None, "git_dirty": None, "git_diff_sha256": None}
        # dvc.lock and the histories are left out: every promotion rewrites them (the new hashes, the
        # new version), so counting them made every run after the first say git_dirty: true
        diff = git("diff", "HEAD", "--binary", "--", ".", *(f":(top,exclude,glob){p}" for p in NOT_CODE))
        return {
            "git_sha": sha,
            "git_dirty": bool(diff),
            "git_diff_sha256": hashlib.sha256(diff).hexdigest()[:16] if diff else None,
        }
    except (OSError, subprocess.SubprocessError):
        return {"git_sha": None, "git_dirty": None, "git_diff_sha256": None}


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def start_provenance(code_version: str | None = None) -> dict:
    """What is recorded when a run starts (the code that trains the model is the code now);
    ``code_version``: ``training.incremental.code_version()``, which the caller passes."""
    return {
        "started_at": now(),
        "load_at_start": round(os.getloadavg()[0], 2),  # 1-min load: how busy the machine was
        **git_state(),
        "code_version": code_version,
        "libraries": library_versions(),
        "hardware": hardware(),
    }


def finish_provenance(start: dict) -> dict:
    """The record's reproducibility verdict: the git state at the end against ``start``'s."""
    end = git_state()
    changes = []
    if end["git_sha"] != start.get("git_sha"):
        changes.append(f"git HEAD moved from {start.get('git_sha')} to {end['git_sha']} during the run")
    if end["git_diff_sha256"] != start.get("git_diff_sha256"):
        changes.append(
            f"uncommitted changes differ from the start's ({start.get('git_diff_sha256')} -> "
            f"{end['git_diff_sha256']})"
        )
    return {
        "git_at_end": end,
        "reproducible": not changes and start.get("git_sha") is not None,
        "reproducibility": "; ".join(changes)
        or (
            "not reproducible: no git checkout"
            if start.get("git_sha") is None
            else "the code at git_sha (+ the diff hashed in git_diff_sha256) trained this model"
        ),
    }


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


def exact_command(command: str, overrides: Mapping[str, object]) -> str:
    """``command`` with the run's preset overrides as the ``--set`` flags that give them again
    (a field set to None as ``--set unset=[...]``), so that the command a record, its history line
    and ``matassets lineage`` show retrains with the same settings."""

    def flag(key: str, value: object) -> str:
        text = json.dumps(value, separators=(",", ":"))
        if isinstance(value, str):  # bare, as typed, unless --set would read it as JSON
            try:
                json.loads(value)
            except json.JSONDecodeError:
                text = value
        return f"--set {shlex.quote(f'{key}={text}')}"

    unset = sorted(k for k, v in overrides.items() if v is None)
    flags = [flag(k, v) for k, v in sorted(overrides.items()) if v is not None]
    return " ".join([command, *flags, *([flag("unset", unset)] if unset else [])])


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
    provenance: dict | None = None,
    preset: object | None = None,
    scaled: dict[str, str] | None = None,
) -> dict:
    """The run record; ``provenance`` is :func:`start_provenance` taken when the run began (taken
    now when None, for a caller that has none); ``preset``: the preset row after ``overrides``, whose
    deviations from the runbook's row (``matassets.runbook``) the record's ``runbook`` entry lists,
    a field in ``scaled`` (scaled to a registered data set: field -> why) with its reason."""
    start = provenance or start_provenance()
    mode = "competition" if partition == "competition" else "level"
    return {
        "phase": phase,
        "algorithm": algorithm,
        "mode": mode,
        "level": None if mode == "competition" else partition,
        "partition": partition,
        "command": exact_command(command, overrides),
        "overrides": overrides,
        **(
            {"runbook": record_block(phase, algorithm, partition, preset, overrides, scaled)}
            if preset
            else {}
        ),
        "output_dir": output_dir,
        "val_metrics": metrics.get("val"),
        "test_metrics": metrics.get("test"),
        "notes": notes,
        **start,
        "data_hash": data_hash,
        "split_hash": split_hash,
        "seed": seed,
        "duration_s": round(seconds, 2),
        "dagster_run_id": dagster_run_id,
        "finished_at": now(),
        **(extra or {}),
        **finish_provenance(start),
    }
