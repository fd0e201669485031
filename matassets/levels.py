"""Every preset, per model family and partition, in one typed table.

The partition keys are the runbook's five levels plus its competition profile. Nothing else in the
package carries a size, a cap or a hyperparameter: assets read their row from here and show it in
the Dagster UI, and tuning rounds override fields of a row (``dataclasses.replace``).

Long: one table on purpose. Each family's rows sit beside the reasons for their numbers, and
docs/levels.md is generated from this one file; split by family it would scatter one fact-table.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Literal

PARTITIONS: tuple[str, ...] = ("smoke", "lite", "std", "pro", "max", "competition")
SEED = 42
# Where a torch model trains (``--set device=cpu|cuda``; training.distributed.device_type). Float32
# either way; the run record names the device used.
Device = Literal["auto", "cpu", "cuda"]

# The longest one run of a level may take before Dagster's run monitoring cancels it: the
# ``dagster/max_runtime`` tag on scheduled, sensor and tuning runs (needs ``run_monitoring`` enabled
# in dagster.yaml; docs/automation.md). Sized for every phase's models of the level on a small CPU
# machine; competition: about ten models under their own one-hour training budgets.
RUN_TIME_LIMIT_S: dict[str, int] = {
    "smoke": 3600,
    "lite": 4 * 3600,
    "std": 24 * 3600,
    "pro": 72 * 3600,
    "max": 168 * 3600,
    "competition": 12 * 3600,
}


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
    max_sites: int = 1000  # larger cells are quarantined (graph memory grows with sites x neighbours)
    # a sharded store is built and read one shard at a time (memory flat in the data size); below
    # the threshold one file is simpler: 50k MP-like crystals are ~210 MB of graphs and need ~450 MB
    # more to build in one piece (docs/benchmarks.md), which any machine holds
    sharded_above: int = 50_000  # more clean structures: a sharded graph store (graphs.sharded); 0 = always
    shard_size: int = 4096  # structures per shard (~17 MB of graphs for MP-like crystals)


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
    element_bias: bool = False  # CGCNN only (other families refuse it): a learned per-element output term
    angle_bins: int = 0  # CGCNN and TopoGNN: > 0 adds each bond's histogram of bond angles (0 = off)
    angle_order: int = 0  # CGCNN and TopoGNN: > 0 adds angular messages up to this power of cos θ
    checkpoint_every: int = 1
    time_budget_s: float | None = None  # s; after epoch 1 the schedule shrinks to fit, then stops
    device: Device = "auto"  # auto: a GPU where torch sees one, else the CPU; cuda: a GPU or refused
    # multitask loss: "fixed" = equal weights; "learned" = homoscedastic-uncertainty weights
    # (Kendall, Gal & Cipolla, CVPR 2018), optimised with the model
    task_weights: Literal["fixed", "learned"] = "fixed"
    # deep ensemble (training.ensemble, docs/uncertainty.md): members with seeds seed, seed + 1, ...
    ensemble_size: int = 1  # members trained one after another; prediction = mean, uncertainty = std

    def __post_init__(self) -> None:
        if self.ensemble_size < 1:
            raise ValueError(f"ensemble_size={self.ensemble_size}: an ensemble has at least one member")


# The embedded set's rows. A registered data set (docs/datasets.md) is often far smaller, so its
# blocking minimum scales to its size (dataset_data_preset): DATASET_MIN_CLEAN_FRACTION of its rows
# must come through validation clean (fewer means wrong units or broken files, not a small data
# set), never fewer than the level's split needs to give each split the crystals a GNN trains and
# is judged on (MIN_LABELLED; 20 at 0.8 / 0.1 / 0.1: a smaller set cannot be split), and never more
# than the level's min_clean (a data set without properties, candidates to screen, has no split to
# fill: its fraction alone). A data set under the level's min_clean trains, with a warning; and
# its splits warn (D/splits' non-blocking check) when validation or test holds fewer than
# JUDGE_MIN_SPLIT crystals, too few to judge a model by.
DATA: dict[str, DataPreset] = {
    "smoke": DataPreset(max_structures=200, min_clean=100),
    "lite": DataPreset(max_structures=1000, min_clean=500),
    "std": DataPreset(max_structures=None, min_clean=2000),
    "pro": DataPreset(max_structures=None, min_clean=2000),
    "max": DataPreset(max_structures=None, min_clean=2000),
    "competition": DataPreset(max_structures=None, min_clean=2000),
}
DATASET_MIN_CLEAN_FRACTION = 0.5
# The fewest labelled crystals a GNN trains on and is judged on; the trainer refuses fewer.
MIN_LABELLED: dict[str, int] = {"train": 8, "val": 2, "test": 2}
# A validation or test split of fewer crystals gives metrics too noisy to judge a model by: a
# registered data set's splits say so as a warning (the non-blocking check of D/splits), the run
# going on (assets/datasets.py).
JUDGE_MIN_SPLIT = 30


def smallest_split(preset: DataPreset) -> int:
    """The fewest structures whose train, validation and test shares hold ``MIN_LABELLED`` each."""
    shares = zip(("train", "val", "test"), preset.split_fractions, strict=True)
    return max(math.ceil(round(MIN_LABELLED[name] / fraction, 6)) for name, fraction in shares)


def dataset_data_preset(partition: str, rows: int, labelled: bool = True) -> tuple[DataPreset, str]:
    """``DATA[partition]`` for a registered data set of ``rows`` rows, its ``min_clean`` scaled to
    its size (the rule above ``DATA``), and that rule in words for the check and its refusal.
    ``labelled``: the data set has properties (models train on it; without, only the fraction)."""
    preset = DATA[partition]
    floor = smallest_split(preset) if labelled else 1
    share = math.ceil(DATASET_MIN_CLEAN_FRACTION * rows)
    needed = min(preset.min_clean, max(floor, share))
    split = (
        f"at least {floor} (fewer cannot give train, validation and test "
        f"{'/'.join(str(n) for n in MIN_LABELLED.values())} structures)"
        if labelled
        else "at least 1 (no properties: candidates to screen, no split to fill)"
    )
    why = (
        f"for a data set of {rows} rows: {DATASET_MIN_CLEAN_FRACTION:.0%} of its rows ({share}), "
        f"{split}, at most the {partition} level's {preset.min_clean}"
    )
    return replace(preset, min_clean=needed), why


# A registered data set's graph models (CGCNN, the e3nn specialist: every family the shared trainer
# trains per data set) take the level's row but for its batch size, capped so that one epoch holds
# at least MIN_STEPS_PER_EPOCH optimizer steps, never below MIN_BATCH_SIZE (dataset_train_preset):
# the rows are sized for the embedded set's thousands of crystals, and a 60-crystal data set at std
# trained its 48 training crystals in batches of 64, one step an epoch. Measured at std on 60, 80
# and 300 real embedded crystals, two seeds, MAE on 500 other embedded crystals (the mean predictor:
# 0.73 eV/atom): batches of 64 did train (0.43-0.46 eV/atom for 60-80 crystals, 0.28 for 300);
# at least 8 steps an epoch was as good, within the seeds' spread, and mostly stopped sooner;
# batches of 4 were worse (0.52 against 0.43 for 80 crystals), hence the floor of 8. A run config's batch_size
# wins over the rule; the embedded set's models keep their rows.
MIN_STEPS_PER_EPOCH = 8
MIN_BATCH_SIZE = 8


def dataset_train_preset(
    preset: TrainPreset, n_train: int, overrides: Mapping[str, object]
) -> tuple[TrainPreset, dict[str, str]]:
    """``preset`` (a level's row after the run config's ``overrides``) for a registered data set's
    model trained on ``n_train`` labelled crystals: its batch size capped by the rule above, and
    {field: the change and the rule in words} for the run record, the UI and the log (empty when
    nothing changed: a large data set, or a batch size the run config set)."""
    if "batch_size" in overrides:
        return preset, {}
    batch = min(preset.batch_size, max(MIN_BATCH_SIZE, n_train // MIN_STEPS_PER_EPOCH))
    if batch == preset.batch_size:
        return preset, {}
    why = (
        f"batch size {batch}, not the level's {preset.batch_size}: for {n_train} training crystals "
        f"the batch is capped at {n_train} // {MIN_STEPS_PER_EPOCH} for at least {MIN_STEPS_PER_EPOCH} "
        f"optimizer steps an epoch, never below {MIN_BATCH_SIZE} (--set batch_size=N wins)"
    )
    return replace(preset, batch_size=batch), {"batch_size": why}


# Phase 1 CGCNN: the runbook's table (original-pipeline.md §3) but for the deviations that
# matassets/runbook.py lists with their reasons (smoke 3 epochs; std 200 epochs, lr 2e-3).
# - std's loss is Huber with δ = 0.05 on z-scored targets (absolute above 0.05 σ, like the MAE it is
#   judged by; docs/benchmarks.md, "Toward issue #22"); the runbook does not compare losses.
# - pro / max keep the runbook's capacity and budgets for users with bigger machines and data.
# - pro / max train deep ensembles of 5 members (every GNN family: CGCNN, TopoGNN, e3nn; ensemble_size);
#   smoke to std train one model: an ensemble multiplies the training time, and the std ensembles
#   measured (3 CGCNN members, docs/benchmarks.md) gained 8 % (formation energy, over the single
#   model) and 2.5 % (band gap, over its best member) in test MAE for 3× it; the locked std rows
#   of both are ensembles. Ask for one with --set ensemble_size=3 when a prediction needs its error bar.
# - competition: a fixed wall-clock budget with one-cycle schedule and EMA (best score per time).
CGCNN: dict[str, TrainPreset] = {
    "smoke": TrainPreset(epochs=3, batch_size=16, lr=5e-3, hidden=64, n_layers=2, patience=5),
    "lite": TrainPreset(epochs=10, batch_size=32, lr=5e-3, hidden=64, n_layers=2, patience=5),
    "std": TrainPreset(
        epochs=200, batch_size=64, lr=2e-3, hidden=128, n_layers=3, patience=50, huber_delta=0.05
    ),
    "pro": TrainPreset(
        epochs=2000,
        batch_size=64,
        lr=1e-3,
        hidden=512,
        n_layers=5,
        patience=200,
        ema_decay=0.999,
        ensemble_size=5,
    ),
    "max": TrainPreset(
        epochs=3000,
        batch_size=48,
        lr=7e-4,
        hidden=768,
        n_layers=6,
        patience=300,
        ema_decay=0.999,
        ensemble_size=5,
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


# Phase 2 / Phase 3: the E(3)-equivariant e3nn model (matassets/models/e3nn_multitask.py).
@dataclass(frozen=True)
class E3nnPreset(TrainPreset):
    """A training row plus the equivariant architecture.

    ``n_layers`` = interaction blocks, ``hidden`` = width of each property's readout MLP,
    ``irreps`` = each block's output irreps, ``lmax`` = the spherical harmonics' highest degree,
    ``n_basis`` / ``radial_hidden`` = Bessel functions / width of the radial MLP.
    """

    irreps: str = "16x0e+8x1o+4x2e"
    lmax: int = 2
    n_basis: int = 8
    radial_hidden: int = 64


# The properties multitask_e3nn learns by default, and those with a specialist_<property> asset.
MULTITASK_PROPERTIES: tuple[str, ...] = (
    "formation_energy",
    "band_gap",
    "K_VRH",
    "G_VRH",
    "refractive_index",
)
SPECIALIST_PROPERTIES: tuple[str, ...] = ("formation_energy", "band_gap")

# Phase 2 multitask e3nn. std has the runbook's size (100 epochs, batch 16, lr 1e-3,
# 64x0e+32x1o+16x2e, 3 layers) with learned task weights; every deviation from the runbook's rows,
# with its reason, is in matassets/runbook.py (docs/levels.md lists them under this table).
E3NN_MULTITASK: dict[str, E3nnPreset] = {
    "smoke": E3nnPreset(
        epochs=3,
        batch_size=16,
        lr=5e-3,
        hidden=16,
        n_layers=2,
        patience=5,
        irreps="8x0e+4x1o+2x2e",
        radial_hidden=16,
        task_weights="learned",
    ),
    "lite": E3nnPreset(
        epochs=15,
        batch_size=16,
        lr=2e-3,
        hidden=32,
        n_layers=2,
        patience=8,
        irreps="32x0e+16x1o+8x2e",
        radial_hidden=32,
        task_weights="learned",
    ),
    "std": E3nnPreset(
        epochs=100,
        batch_size=16,
        lr=1e-3,
        hidden=64,
        n_layers=3,
        patience=20,
        irreps="64x0e+32x1o+16x2e",
        task_weights="learned",
    ),
    "pro": E3nnPreset(
        epochs=300,
        batch_size=16,
        lr=1e-3,
        hidden=128,
        n_layers=4,
        patience=50,
        irreps="128x0e+64x1o+32x2e",
        ema_decay=0.999,
        task_weights="learned",
        ensemble_size=5,
    ),
    "max": E3nnPreset(
        epochs=500,
        batch_size=16,
        lr=5e-4,
        hidden=128,
        n_layers=5,
        patience=80,
        irreps="128x0e+64x1o+32x2e+16x3o",
        lmax=3,
        ema_decay=0.999,
        task_weights="learned",
        ensemble_size=5,
    ),
    "competition": E3nnPreset(
        epochs=200,
        batch_size=16,
        lr=1e-3,
        hidden=64,
        n_layers=3,
        patience=40,
        irreps="64x0e+32x1o+16x2e",
        scheduler="onecycle",
        warmup_fraction=0.3,
        ema_decay=0.999,
        time_budget_s=3600.0,
        task_weights="learned",
    ),
}

# Phase 3 single-property specialists: std has the runbook's 128x0e+64x1o+32x2e, lmax 2, 4 blocks,
# EMA 0.999, but 100 epochs where the runbook's std ran 800 (deviations: matassets/runbook.py). With
# warm start (the default) the first blocks are multitask_e3nn's encoder of the same level and the
# remaining n_layers - (its blocks) blocks, at least one, use ``irreps`` (std: 3 pretrained
# 64x0e+32x1o+16x2e blocks + 1 new 128x0e+64x1o+32x2e block).
SPECIALIST: dict[str, E3nnPreset] = {
    "smoke": E3nnPreset(
        epochs=3,
        batch_size=16,
        lr=5e-3,
        hidden=16,
        n_layers=3,
        patience=5,
        irreps="16x0e+8x1o+4x2e",
        radial_hidden=16,
        ema_decay=0.9,
    ),
    "lite": E3nnPreset(
        epochs=15,
        batch_size=16,
        lr=2e-3,
        hidden=64,
        n_layers=3,
        patience=8,
        irreps="64x0e+32x1o+16x2e",
        ema_decay=0.99,
    ),
    "std": E3nnPreset(
        epochs=100,
        batch_size=16,
        lr=1e-3,
        hidden=128,
        n_layers=4,
        patience=20,
        irreps="128x0e+64x1o+32x2e",
        ema_decay=0.999,
    ),
    "pro": E3nnPreset(
        epochs=300,
        batch_size=16,
        lr=7e-4,
        hidden=128,
        n_layers=5,
        patience=50,
        irreps="128x0e+64x1o+32x2e",
        ema_decay=0.999,
        ensemble_size=5,
    ),
    "max": E3nnPreset(
        epochs=500,
        batch_size=16,
        lr=5e-4,
        hidden=192,
        n_layers=6,
        patience=80,
        irreps="192x0e+96x1o+48x2e",
        ema_decay=0.999,
        ensemble_size=5,
    ),
    "competition": E3nnPreset(
        epochs=200,
        batch_size=16,
        lr=1e-3,
        hidden=128,
        n_layers=4,
        patience=40,
        irreps="128x0e+64x1o+32x2e",
        scheduler="onecycle",
        warmup_fraction=0.3,
        ema_decay=0.999,
        time_budget_s=3600.0,
    ),
}


# Phase 4: the topological classifiers.
@dataclass(frozen=True)
class ForestPreset:
    """The composition random forest. Candidates in tuples are chosen on the validation split."""

    n_estimators: int
    max_depth: int | None
    min_samples_leaf: int
    max_features: tuple[str | float, ...] = ("sqrt",)  # candidates
    class_weight: tuple[str | None, ...] = (None, "balanced")  # candidates
    max_labels: int | None = None  # cap on Arsenal labels (whole formulas sampled); None = all
    spacegroup_features: bool = True  # add space-group number, crystal system, inversion
    split_fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)  # grouped by reduced formula
    seed: int = SEED


# Random forest: std has the runbook's 600 trees, depth 24 and min leaf 2, with max_features and
# class_weight chosen on validation, on all ~10.8k labels (the runbook capped at 5,000); smoke/lite
# sample whole formulas. Deviations: matassets/runbook.py.
TOPO_RF: dict[str, ForestPreset] = {
    "smoke": ForestPreset(n_estimators=30, max_depth=12, min_samples_leaf=2, max_labels=800),
    "lite": ForestPreset(
        n_estimators=150, max_depth=16, min_samples_leaf=2, max_features=("sqrt", 0.3), max_labels=3000
    ),
    "std": ForestPreset(n_estimators=600, max_depth=24, min_samples_leaf=2, max_features=("sqrt", 0.3)),
    "pro": ForestPreset(
        n_estimators=1000, max_depth=None, min_samples_leaf=1, max_features=("sqrt", 0.2, 0.4)
    ),
    "max": ForestPreset(
        n_estimators=2000, max_depth=None, min_samples_leaf=1, max_features=("sqrt", 0.2, 0.33, 0.5)
    ),
    "competition": ForestPreset(
        n_estimators=800, max_depth=32, min_samples_leaf=1, max_features=("sqrt", 0.3)
    ),
}

# TopoGNN (binary topological flag on the Phase 1 graphs, shared trainer). std has the runbook's 100
# epochs, hidden 128, 3 layers and dropout 0.2, not its batch 32 or patience 30; smoke is tiny so it
# runs in seconds. Deviations: matassets/runbook.py.
TOPO_GNN: dict[str, TrainPreset] = {
    "smoke": TrainPreset(epochs=3, batch_size=16, lr=3e-3, hidden=32, n_layers=2, patience=5, dropout=0.2),
    "lite": TrainPreset(epochs=20, batch_size=32, lr=2e-3, hidden=64, n_layers=2, patience=10, dropout=0.2),
    "std": TrainPreset(epochs=100, batch_size=64, lr=1e-3, hidden=128, n_layers=3, patience=25, dropout=0.2),
    "pro": TrainPreset(
        epochs=300,
        batch_size=64,
        lr=1e-3,
        hidden=256,
        n_layers=4,
        patience=60,
        dropout=0.2,
        ema_decay=0.999,
        ensemble_size=5,
    ),
    "max": TrainPreset(
        epochs=500,
        batch_size=48,
        lr=7e-4,
        hidden=384,
        n_layers=5,
        patience=100,
        dropout=0.2,
        ema_decay=0.999,
        ensemble_size=5,
    ),
    "competition": TrainPreset(
        epochs=200,
        batch_size=48,
        lr=1e-3,
        hidden=192,
        n_layers=4,
        patience=50,
        dropout=0.2,
        scheduler="onecycle",
        warmup_fraction=0.3,
        ema_decay=0.999,
        time_budget_s=1800.0,
    ),
}


@dataclass(frozen=True)
class MacePreset:
    """One ``mace_run_train`` run (Phase 3 interatomic potential) and the data caps it trains on."""

    epochs: int  # --max_num_epochs
    batch_size: int
    lr: float
    r_max: float  # Å
    num_channels: int
    max_L: int  # 0: invariant messages (fast); 1 or 2: equivariant
    correlation: int  # body order of the product basis minus one
    max_ell: int = 3  # spherical harmonics of the edges
    num_interactions: int = 2
    num_radial_basis: int = 8
    radial_mlp: tuple[int, ...] = (64, 64, 64)
    # Loss weights on per-atom energy (eV), forces (eV/Å) and stress (eV/Å³) squared errors. With
    # MACE's default energy/force weights, (1, 100, 10), 10 lite epochs reached validation MAEs of
    # 145 meV/atom (E0-only: ~200), 100 meV/Å and 3.4 GPa; (100, 10, 100) gave 57 meV/atom,
    # 140 meV/Å and 1.1 GPa on the same data.
    energy_weight: float = 100.0
    forces_weight: float = 10.0
    stress_weight: float = 100.0
    patience: int = 50  # epochs without a better validation loss before MACE stops
    ema_decay: float | None = None
    stage_two_from: int | None = None  # epoch where MACE's stage two (--swa) starts, with:
    stage_two_energy_weight: float = 1000.0
    stage_two_forces_weight: float = 10.0
    stage_two_stress_weight: float = 100.0
    val_fraction: float = 0.1  # carved per element from configs minus the official test
    max_train_per_element: int | None = None  # None = all
    max_val_per_element: int | None = None
    max_test_per_element: int | None = None  # None = the whole official test (all but smoke)
    eval_batch_size: int = 16
    elements: tuple[str, ...] = ("Cu", "Ge", "Li", "Mo", "Ni", "Si")
    seed: int = SEED
    device: Device = "auto"  # auto: a GPU where torch sees one, else the CPU; cuda: a GPU or refused
    per_element: bool = False  # also one MACE per element, as GAP and MTP are fit
    # The per-element models' own schedule (None = the one-for-all model's). An element has a sixth
    # of the data, so the same epochs take a sixth of the optimizer steps (``for_one_element``).
    per_element_epochs: int | None = None  # None: ``epochs``
    per_element_batch_size: int | None = None  # None: ``batch_size``
    per_element_stage_two_from: int | None = None  # None: ``stage_two_from``
    per_element_patience: int | None = None  # None: ``patience``

    def for_one_element(self) -> MacePreset:
        """The preset one element's model trains with: this one with the per-element schedule."""
        schedule = {
            name: getattr(self, f"per_element_{name}")
            for name in ("epochs", "batch_size", "stage_two_from", "patience")
            if getattr(self, f"per_element_{name}") is not None
        }
        return replace(self, **schedule)


# Phase 3 MACE on the mlearn DFT data (docs/phase3_mace.md). One model covers all six elements.
# - smoke: 3 configurations per element, a 16-channel invariant model, 4 epochs of 6 small steps with
#   MACE's force-heavy default weights (forces start to be learnt in the last epochs, enough for the
#   relaxation test). It proves the whole path (data, MACE's own trainer, evaluation, files,
#   calculator) in a few CPU-seconds of training; its numbers mean nothing. Its test set is capped
#   at 2 configurations per element.
# - lite: 30 configurations per element, 10 epochs (~3 CPU-minutes with one thread): a real but
#   small run, not comparable to published numbers.
# - std: sized for the machines our users have (a CPU workstation, about an hour): lite's
#   16-channel invariant model (correlation 2, max_ell 2) on all the training cells, 40 epochs of
#   batch 8, EMA, and MACE's stage two (energy weight 1000) over the last quarter. Measured here: a
#   32-channel correlation-3 model took 16 min per epoch on 2 busy cores; pro's 64-channel L = 1
#   model about 40 CPU-hours (docs/phase3_mace.md). Also one MACE per element beside it
#   (``per_element``; the reason is in matassets/runbook.py) on its own schedule: batch 4, 200
#   epochs, stage two from 150, no early stop (ten times std's optimizer steps per element). Locked
#   run of e56ee9d (docs/benchmarks.md): test energy MAE 1.3-2.6x GAP's on Si, Li, Ge and Mo
#   against 3.0-4.8x with the one-for-all schedule; 14-50 CPU-minutes per element (Mo to Ni).
# - pro: the runbook's std schedule (300 epochs, batch 32, lr 3e-4) with 64 channels and patience
#   100, not its std row (128 channels, patience 50; matassets/runbook.py), for a machine with a GPU
#   (``--set device=cuda``).
# - max: a MACE-paper-sized model (128 channels, L = 2) for a GPU.
# - competition: a mid-size model with a higher learning rate and stage two.
MACE: dict[str, MacePreset] = {
    "smoke": MacePreset(
        epochs=4,
        batch_size=3,
        lr=2e-2,
        r_max=4.0,
        num_channels=16,
        max_L=0,
        correlation=2,
        max_ell=1,
        num_radial_basis=4,
        radial_mlp=(16, 16),
        max_train_per_element=3,
        max_val_per_element=1,
        max_test_per_element=2,
        patience=5,
        energy_weight=1.0,
        forces_weight=100.0,
        stress_weight=10.0,  # forces first: relax test
    ),
    "lite": MacePreset(
        epochs=10,
        batch_size=8,
        lr=1e-2,
        r_max=5.0,
        num_channels=16,
        max_L=0,
        correlation=2,
        max_ell=2,
        num_radial_basis=6,
        radial_mlp=(32, 32),
        max_train_per_element=30,
        max_val_per_element=8,
        patience=10,
    ),
    "std": MacePreset(
        epochs=40,
        batch_size=8,
        lr=1e-2,
        r_max=5.0,
        num_channels=16,
        max_L=0,
        correlation=2,
        max_ell=2,
        num_radial_basis=6,
        radial_mlp=(32, 32),
        ema_decay=0.99,
        stage_two_from=30,
        patience=40,
        per_element=True,
        per_element_epochs=200,
        per_element_batch_size=4,
        per_element_stage_two_from=150,
        per_element_patience=200,
    ),
    "pro": MacePreset(
        epochs=300,
        batch_size=32,
        lr=3e-4,
        r_max=5.0,
        num_channels=64,
        max_L=1,
        correlation=3,
        ema_decay=0.99,
        stage_two_from=225,
        patience=100,
    ),
    "max": MacePreset(
        epochs=1000,
        batch_size=16,
        lr=1e-3,
        r_max=6.0,
        num_channels=128,
        max_L=2,
        correlation=3,
        ema_decay=0.995,
        stage_two_from=750,
        patience=150,
    ),
    "competition": MacePreset(
        epochs=400,
        batch_size=16,
        lr=5e-3,
        r_max=5.0,
        num_channels=96,
        max_L=1,
        correlation=3,
        ema_decay=0.99,
        stage_two_from=300,
        patience=80,
    ),
}
