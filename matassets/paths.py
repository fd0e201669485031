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

    def data_run_lock(self, partition: str) -> Path:
        """Which run owns the level's data steps now (``locks.claim_level``); not a version."""
        return self.root / "data" / "raw" / partition / ".data-run.lock"

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

    def models(self) -> Path:
        """Every model's folders: ``models/<asset>/<level>/`` (and candidates, tuning rounds)."""
        return self.root / "models"

    def model_dir(self, asset: str, partition: str) -> Path:
        return self.models() / asset / partition

    def model_work_dir(self, asset: str, name: str) -> Path:
        """A model's working state (checkpoint, staging, run lock): never a version of the model."""
        return self.root / "models" / asset / ".work" / safe_relative(name)

    def candidate_dir(self, asset: str, partition: str, run: str) -> Path:
        """A trained candidate awaiting (or refused by) its checks; promotion moves it to ``model_dir``."""
        return self.candidates_root(asset) / safe_relative(f"{partition}-{run}")

    def candidates_root(self, asset: str) -> Path:
        return self.root / "models" / asset / "candidates"

    def model_history(self, asset: str, partition: str) -> Path:
        """One JSON line per version that became ``model_dir`` (beside it, outside its DVC output)."""
        return self.root / "models" / asset / f"{partition}.history.jsonl"

    def tuning_model_dir(self, asset: str, tag: str) -> Path:
        """A tuning round's candidate model (``tag`` = ``<session>/round_<n>``), never the current one."""
        return self.root / "models" / asset / "tuning" / safe_relative(tag)

    def tuning_session_dir(self, session: str) -> Path:
        """``summary.json``, ``summary.csv`` and ``session.json`` of one adaptive tuning session."""
        return self.root / "artifacts" / "adaptive_tuning" / safe_relative(session)

    def leaderboard_dir(self) -> Path:
        """The model_leaderboard asset's table and plot (a view of ``models()``, not a model)."""
        return self.models() / "leaderboard"

    def topo_db(self, partition: str) -> Path:
        return self.root / "data" / "topo" / partition / "topo.db"

    def mace_data(self, partition: str) -> Path:
        """mace_training_data's extended-XYZ files and manifest."""
        return self.root / "data" / "mace" / partition

    def jarvis_cache(self) -> Path:
        """Where a downloaded JARVIS dft_3d file is kept (``raw_structures`` with ``source: jarvis``)."""
        return self.root / "data" / "jarvis"

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
