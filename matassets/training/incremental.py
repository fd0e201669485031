"""Incremental training: a model folder whose inputs have not changed is reused, not retrained.

A run's *input key* is a hash of everything that decides its files: what the caller passes (for a
graph model the run spec with its preset after overrides, architecture, tasks and data settings,
the data and split hashes, the graph store's key, a warm start's weights) and the code version.
The key is written into ``run_record.json``. A later run of the same folder that computes the same
key finds it there and returns the folder as it is (no file rewritten) unless it is forced.

The code version is a hash of the package's source that can change a model's files: an explicit
allow-list of the science packages (:data:`SCIENCE`); the Dagster, command-line, report and
automation layers only assemble the run spec (itself part of the key), the UI's metadata and
tables, so editing them retrains nothing. Also hashed: the versions of the libraries the run record
lists, less the orchestration ones. Any science code change, or a library upgrade, retrains.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

from matassets.io import read_json_dict

PACKAGE = Path(__file__).resolve().parents[1]
# what decides a model's files: these sub-packages and root modules of matassets, nothing else
SCIENCE = ("data", "datasets", "graphs", "models", "training", "topo", "io.py")
ORCHESTRATION_LIBRARIES = ("matassets", "dagster", "dvc")  # matassets: its source is hashed instead


def source_hash(package: Path) -> str:
    """sha256 (16 hex) over the path and bytes of every ``.py`` file of :data:`SCIENCE` in ``package``."""
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        relative = path.relative_to(package)
        if relative.parts[0] not in SCIENCE:
            continue
        digest.update(relative.as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


@functools.cache
def code_version() -> str:
    """The running code's version, taken once per process (the code as it was imported): the
    science source and the library versions of ``run_record.LIBRARIES`` (not the orchestration's)."""
    from matassets.training.run_record import library_versions

    libraries = {k: v for k, v in library_versions().items() if k not in ORCHESTRATION_LIBRARIES}
    text = source_hash(PACKAGE) + json.dumps(libraries, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def input_key(inputs: dict) -> str:
    """The hash of ``inputs`` (JSON-able) and the code version."""
    text = json.dumps({"inputs": inputs, "code": code_version()}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def finished_record(model_dir: Path, files: Sequence[str]) -> dict | None:
    """The run record of a complete ``model_dir`` (every name of ``files`` there), else None.
    The caller compares its ``input_key`` with the key of the run it is about to start."""
    model_dir = Path(model_dir)
    if not all((model_dir / f).is_file() for f in ("run_record.json", *files)):
        return None
    return read_json_dict(model_dir / "run_record.json")


def skipped_note(model_dir: Path, record: dict) -> str:
    """What the log and the metadata say when a run is skipped."""
    return (
        f"up to date, training skipped: {model_dir} was trained from the same inputs and code "
        f"(input key {record['input_key']}, finished {record.get('finished_at')}); force to retrain"
    )
