"""Where every asset's files live. Plain paths a user can open, the same with or without Dagster."""

from __future__ import annotations

import os
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
