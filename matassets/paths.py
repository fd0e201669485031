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


EMBEDDED = "embedded"


@dataclass(frozen=True)
class Layout:
    """``dataset``: the data set whose files these are. The embedded set keeps the original paths
    (``data/<stage>/<level>/``, ``models/<asset>/<level>/``); a registered data set D has its own
    under ``data/datasets/D/<stage>/<level>/`` (beside its manifest and table) and
    ``models/datasets/D/<asset>/<level>/``, so no data set's files can overwrite another's."""

    root: Path
    dataset: str = EMBEDDED

    def for_dataset(self, dataset: str) -> Layout:
        return Layout(self.root, dataset)

    def data_dir(self) -> Path:
        """The data set's derived data: ``data/`` (embedded) or ``data/datasets/<name>/``."""
        if self.dataset == EMBEDDED:
            return self.root / "data"
        return self.root / "data" / "datasets" / safe_relative(self.dataset)

    def raw(self, partition: str) -> Path:
        return self.data_dir() / "raw" / partition / "raw_structures.parquet"

    def data_run_lock(self, partition: str) -> Path:
        """Which run owns the level's data steps now (``locks.claim_level``); not a version."""
        return self.data_dir() / "raw" / partition / ".data-run.lock"

    def structures(self, partition: str) -> Path:
        return self.data_dir() / "structures" / partition / "structures.parquet"

    def quarantine(self, partition: str) -> Path:
        return self.data_dir() / "structures" / partition / "quarantine.parquet"

    def split_manifest(self, partition: str) -> Path:
        return self.data_dir() / "splits" / partition / "split_manifest.json"

    def graphs(self, partition: str, key: str) -> Path:
        return self.data_dir() / "graphs" / partition / f"graphs-{key}.pt"

    def graphs_pointer(self, partition: str) -> Path:
        return self.data_dir() / "graphs" / partition / "current.json"

    def models(self) -> Path:
        """Every model's folders: ``models/<asset>/<level>/`` (and candidates, tuning rounds); a
        registered data set's under ``models/datasets/<name>/``."""
        if self.dataset == EMBEDDED:
            return self.root / "models"
        return self.datasets_models() / safe_relative(self.dataset)

    def datasets_models(self) -> Path:
        """``models/datasets/``, where the registered data sets' models are: inside the embedded
        set's ``models()``, so a reader of the embedded set's models leaves it out."""
        return self.root / "models" / "datasets"

    def model_dir(self, asset: str, partition: str) -> Path:
        return self.models() / asset / partition

    def model_work_dir(self, asset: str, name: str) -> Path:
        """A model's working state (checkpoint, staging, run lock): never a version of the model."""
        return self.models() / asset / ".work" / safe_relative(name)

    def candidate_dir(self, asset: str, partition: str, run: str) -> Path:
        """A trained candidate awaiting (or refused by) its checks; promotion moves it to ``model_dir``."""
        return self.candidates_root(asset) / safe_relative(f"{partition}-{run}")

    def candidates_root(self, asset: str) -> Path:
        return self.models() / asset / "candidates"

    def model_history(self, asset: str, partition: str) -> Path:
        """One JSON line per version that became ``model_dir`` (beside it, outside its DVC output)."""
        return self.models() / asset / f"{partition}.history.jsonl"

    def tuning_model_dir(self, asset: str, tag: str) -> Path:
        """A tuning round's candidate model (``tag`` = ``<session>/round_<n>``), never the current one."""
        return self.models() / asset / "tuning" / safe_relative(tag)

    def tuning_session_dir(self, session: str) -> Path:
        """``summary.json``, ``summary.csv`` and ``session.json`` of one adaptive tuning session."""
        return self.root / "artifacts" / "adaptive_tuning" / safe_relative(session)

    def leaderboard_dir(self) -> Path:
        """The model_leaderboard asset's table and plot (a view of ``models()``, not a model)."""
        return self.models() / "leaderboard"

    def topo_db(self, partition: str) -> Path:
        return self.data_dir() / "topo" / partition / "topo.db"

    def mace_data(self, partition: str) -> Path:
        """mace_training_data's extended-XYZ files and manifest."""
        return self.data_dir() / "mace" / partition

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
