"""Where every asset's files live. Plain paths a user can open, the same with or without Dagster."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def default_root() -> Path:
    """``$MATASSETS_ROOT`` if set, else the project checkout."""
    return Path(os.environ.get("MATASSETS_ROOT", PROJECT_ROOT))


@dataclass(frozen=True)
class Layout:
    root: Path

    def raw(self, partition: str) -> Path:
        return self.root / "data" / "raw" / partition / "raw_structures.parquet"

    def structures(self, partition: str) -> Path:
        return self.root / "data" / "structures" / partition / "structures.parquet"

    def quarantine(self, partition: str) -> Path:
        return self.root / "data" / "structures" / partition / "quarantine.parquet"

    def split_manifest(self, partition: str) -> Path:
        return self.root / "data" / "splits" / partition / "split_manifest.json"

    def graphs(self, partition: str, key: str) -> Path:
        return self.root / "data" / "graphs" / partition / f"graphs-{key}.pt"

    def graphs_pointer(self, partition: str) -> Path:
        return self.root / "data" / "graphs" / partition / "current.json"

    def model_dir(self, asset: str, partition: str) -> Path:
        return self.root / "models" / asset / partition

    def tuning_model_dir(self, asset: str, tag: str) -> Path:
        """A tuning round's candidate model (``tag`` = ``<session>/round_<n>``), never the current one."""
        return self.root / "models" / asset / "tuning" / safe_relative(tag)

    def tuning_session_dir(self, session: str) -> Path:
        """``summary.json``, ``summary.csv`` and ``session.json`` of one adaptive tuning session."""
        return self.root / "artifacts" / "adaptive_tuning" / safe_relative(session)

    def incoming(self) -> Path:
        """Where a user drops a new data version (watched by the ``incoming_data_sensor``)."""
        return self.root / "data" / "incoming"


_SAFE_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def safe_relative(name: str) -> str:
    """A relative folder name made of letters, digits and ``._-`` parts joined by ``/``."""
    parts = name.split("/")
    if not name or not all(_SAFE_PART.match(p) for p in parts):
        raise ValueError(f"{name!r} is not a safe folder name (letters, digits, . _ - and /)")
    return name
