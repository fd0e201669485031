"""Every preset, per model family and partition, in one typed table.

The partition keys are the runbook's five levels plus its competition profile. Nothing else in the
package carries a size, a cap or a hyperparameter: assets read their row from here and show it in
the Dagster UI, and tuning rounds override fields of a row (``dataclasses.replace``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

PARTITIONS: tuple[str, ...] = ("smoke", "lite", "std", "pro", "max", "competition")
SEED = 42


@dataclass(frozen=True)
class DataPreset:
    """Data sizes and the graph settings shared by every GNN of a partition."""

    max_structures: int | None  # cap after validation; None = all
    min_clean: int  # blocking check: fewer clean structures fail the run
    split_strategy: Literal["random", "chemsys", "spacegroup"] = "random"
    split_fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    seed: int = SEED
    cutoff: float = 8.0  # Å, CGCNN's radius
    max_neighbors: int = 12  # CGCNN's neighbour count
    gaussian_step: float = 0.2  # Å between Gaussian centres on [0, cutoff] (CGCNN: 41 on 0..8 Å)
    min_distance: float = 0.5  # Å; closer atoms are unphysical and quarantined
    max_sites: int = (
        1000  # larger cells are quarantined (graph memory grows with sites x neighbours)
    )


@dataclass(frozen=True)
class TrainPreset:
    """Hyperparameters of one GNN training run (the shared trainer reads these)."""

    epochs: int
    batch_size: int
    lr: float
    hidden: int
    n_layers: int
    patience: int
    loss: Literal["mse", "huber"] = "huber"
    huber_delta: float = 1.0  # on z-scored targets
    weight_decay: float = 1e-4
    scheduler: Literal["cosine", "onecycle", "plateau", "none"] = "cosine"
    warmup_fraction: float = 0.0
    grad_clip: float = 5.0
    ema_decay: float | None = None
    dropout: float = 0.0
    checkpoint_every: int = 1
    time_budget_s: float | None = None  # stop (keeping the best-on-validation weights) after this


DATA: dict[str, DataPreset] = {
    "smoke": DataPreset(max_structures=200, min_clean=100),
    "lite": DataPreset(max_structures=1000, min_clean=500),
    "std": DataPreset(max_structures=None, min_clean=2000),
    "pro": DataPreset(max_structures=None, min_clean=2000),
    "max": DataPreset(max_structures=None, min_clean=2000),
    "competition": DataPreset(max_structures=None, min_clean=2000),
}

# Phase 1 CGCNN. Start: the runbook's table (original-pipeline.md §3). Changes, with reasons:
# - smoke runs 3 epochs (runbook 2) so the learning curve and early-stopping path have something
#   to show; it still finishes in seconds on ~160 training crystals.
# - std keeps the runbook's capacity (128 hidden, 3 conv, batch 64) but runs 150 epochs / patience 30
#   with lr 2e-3 on a cosine schedule instead of 300 / 50: on the embedded 6.3k crystals the
#   validation MAE flattens well before that (docs/benchmarks.md), and 300 epochs would cost about an
#   hour per property on 2 CPU cores for no measured gain.
# - pro / max keep the runbook's capacity and budgets for users with bigger machines and data.
# - competition: a fixed wall-clock budget with one-cycle schedule and EMA (best score per time).
CGCNN: dict[str, TrainPreset] = {
    "smoke": TrainPreset(epochs=3, batch_size=16, lr=5e-3, hidden=64, n_layers=2, patience=5),
    "lite": TrainPreset(epochs=10, batch_size=32, lr=5e-3, hidden=64, n_layers=2, patience=5),
    "std": TrainPreset(epochs=150, batch_size=64, lr=2e-3, hidden=128, n_layers=3, patience=30),
    "pro": TrainPreset(
        epochs=2000, batch_size=64, lr=1e-3, hidden=512, n_layers=5, patience=200, ema_decay=0.999
    ),
    "max": TrainPreset(
        epochs=3000, batch_size=48, lr=7e-4, hidden=768, n_layers=6, patience=300, ema_decay=0.999
    ),
    "competition": TrainPreset(
        epochs=450,
        batch_size=48,
        lr=8e-4,
        hidden=192,
        n_layers=4,
        patience=80,
        scheduler="onecycle",
        warmup_fraction=0.3,
        ema_decay=0.999,
        time_budget_s=3600.0,
    ),
}

# Properties that get a Phase 1 asset of their own (cgcnn_<property>).
CGCNN_PROPERTIES: tuple[str, ...] = ("formation_energy", "band_gap", "K_VRH", "G_VRH")


def preset_metadata(preset: object) -> dict[str, object]:
    """A preset as a flat dict (for Dagster metadata and run records)."""
    return asdict(preset)  # type: ignore[call-overload]
