"""The runbook's own presets, as data, and every way ours deviate from them, with the reason.

``RUNBOOK[family][field]``: the runbook's value of one of our preset fields at each partition, in
``levels.PARTITIONS`` order (``NA``: the runbook's row does not say). The values are its level tables
(reference ``original-pipeline.md`` §3) and the architecture or stopping rule its §2 gives for every
level (MACE's 128 channels and patience 50, the specialist's LARGE irreps and 4 blocks, ...). A field
``data.<name>`` is the level's ``levels.DATA`` row (the runbook's "max samples"). Loss, optimiser and
scheduler details are not compared: the runbook's trainers differ from the one trainer everywhere.

``WHY[family]``: (fields, partitions, reason) for every deviation we mean; the reason is "" where no
document gives one. :func:`deviations` derives the deviations from the presets; docs/levels.md, the
run record (``runbook``) and the model asset's UI metadata show them, and
``matassets_tests/test_runbook.py`` fails when a preset and this table disagree. Plain data: no dagster.
"""

from __future__ import annotations

from matassets import levels

NA = object()  # the runbook's row does not give this field
MEDIUM, LARGE = "64x0e+32x1o+16x2e", "128x0e+64x1o+32x2e"


def _every(value: object) -> tuple[object, ...]:
    return (value,) * len(levels.PARTITIONS)


RUNBOOK: dict[str, dict[str, tuple[object, ...]]] = {
    "cgcnn": {
        "epochs": (2, 10, 300, 2000, 3000, 450),
        "batch_size": (16, 32, 64, 64, 48, 48),
        "lr": (5e-3, 5e-3, 1e-3, 1e-3, 7e-4, 8e-4),
        "hidden": (64, 64, 128, 512, 768, 192),
        "n_layers": (2, 2, 3, 5, 6, 4),
        "patience": (5, 5, 50, 200, 300, 80),
        "data.max_structures": (256, 1000, None, None, None, 40_000),
    },
    "e3nn_multitask": {
        "epochs": (5, 2, 100, 500, 800, 260),
        "batch_size": (8, 4, 16, 4, 4, 6),
        "lr": (2e-3, 1e-2, 1e-3, 5e-4, 3e-4, 4.5e-4),
        "irreps": (MEDIUM, NA, MEDIUM, LARGE, LARGE, LARGE),  # SMALL's irreps are not given
        "n_layers": (3, NA, 3, 4, 4, 4),
        "loss": ("huber", "mse", "huber", "huber", "huber", "huber"),
        "task_weights": _every("fixed"),  # Kendall weighting was never trained
        "data.max_structures": (None, "100 train / 20 eval", None, None, None, None),
    },
    "mace": {
        "epochs": (20, 100, 300, 600, 1000, 350),
        "batch_size": (16, 16, 32, 32, 48, 32),
        "lr": (1e-3, 5e-4, 3e-4, 2e-4, 1e-4, 2.5e-4),
        "r_max": (4.5, 5.0, 5.0, 5.5, 6.0, 5.5),
        "num_channels": _every(128),  # 128x0e+128x1o
        "max_L": _every(1),
        "max_ell": _every(3),
        "correlation": _every(3),
        "num_interactions": _every(2),
        "patience": _every(50),
        "energy_weight": _every(1.0),
        "elements": _every(("Si", "Ge", "Sn")),
        "per_element": _every(False),  # one potential for all its elements
    },
    "specialist": {
        "epochs": (50, 300, 800, 1500, 2200, 900),
        "batch_size": (8, 12, 16, 16, 16, 16),
        "lr": (5e-4, 3e-4, 2e-4, 2e-4, 1.5e-4, 2e-4),
        "ema_decay": (None, 0.999, 0.999, 0.999, 0.9995, 0.999),
        "irreps": _every(LARGE),
        "lmax": _every(2),
        "n_layers": _every(4),
        "n_basis": _every(32),
        "patience": _every(250),
        "data.max_structures": (2000, 12_000, None, None, None, None),
    },
    "topognn": {
        "epochs": (10, 30, 100, 180, 260, 120),
        "batch_size": (16, 24, 32, 48, 64, 40),
        "lr": (1e-3, 1e-3, 1e-3, 8e-4, 5e-4, 9e-4),
        "hidden": (64, 96, 128, 160, 192, 144),
        "n_layers": _every(3),
        "dropout": _every(0.2),
        "patience": _every(30),  # stops 30 epochs after the best validation accuracy
        "data.max_structures": (1000, 2500, 5000, 8000, 12_000, 6000),
    },
    "random_forest": {
        "n_estimators": (120, 300, 600, 900, 1200, 700),
        "max_depth": (12, 16, 24, 28, 32, 22),
        "min_samples_leaf": (3, 2, 2, 1, 1, 2),
        "max_labels": (1000, 2500, 5000, 8000, 12_000, 7000),
    },
}


# Every deviation we mean: (fields, partitions, reason); "" where no document gives a reason.
_SMOKE_DATA = "one smoke data set for every family (levels.DATA: 200 crystals, seconds per run)"
_LITE_DATA = "one lite data set for every family (levels.DATA: 1,000 crystals)"
_MACE_DATA = (
    "mlearn DFT energies, forces and stresses of six elements (docs/phase3_mace.md): the runbook's "
    "Si/Ge/Sn set had fabricated zero forces and a possible formation-energy label"
)
_MACE_WEIGHTS = (
    "energy-heavy weights (100, 10, 100): 10 lite epochs reached 57 meV/atom against 145 with "
    "MACE's defaults (levels.MacePreset)"
)
_GPU = "sized for a machine with a GPU; no run of this row was measured here"
WHY: dict[str, list[tuple[str, str, str]]] = {
    "cgcnn": [
        ("epochs", "smoke", "3 epochs so the learning curve and early stopping have something to show"),
        ("data.max_structures", "smoke", _SMOKE_DATA),
        (
            "epochs lr",
            "std",
            "measured on the embedded split (docs/benchmarks.md): formation energy's 3-member ensembles "
            "reached 0.0697 eV/atom in test MAE at 100 epochs, 0.0621 at 200 and 0.0619 at 300, so 200 "
            "epochs of a cosine from lr 2e-3 (about 21 min per model on 2 CPU cores)",
        ),
        ("data.max_structures", "competition", "all crystals: the embedded set (6.3k) is under 40,000"),
    ],
    "e3nn_multitask": [
        (
            "epochs batch_size lr irreps n_layers data.max_structures",
            "smoke",
            "tiny (8 scalars, 4 vectors, 2 tensors, 2 blocks, 3 epochs, 200 crystals) so a run takes "
            "seconds on 2 CPU cores; the runbook's smoke trained MEDIUM on the full data",
        ),
        (
            "epochs batch_size lr loss data.max_structures",
            "lite",
            "a quick real run (15 epochs on the lite data, Huber like every level)",
        ),
        ("batch_size", "pro", "16 crystals a step, as the runbook's batch 4 with 4 accumulation steps"),
        ("batch_size", "max competition", "batch 16 at every level"),
        ("epochs lr", "pro max", _GPU),
        ("irreps n_layers", "max", "wider and deeper with l = 3 for a machine with a GPU"),
        (
            "epochs lr irreps n_layers",
            "competition",
            "the std encoder under a 1 h wall-clock budget, one-cycle schedule and EMA",
        ),
        (
            "task_weights",
            "smoke lite std pro max competition",
            "homoscedastic-uncertainty weights, learned: five targets with very different noise and label "
            "counts; the runbook's weights were never trained",
        ),
    ],
    "mace": [
        (
            "epochs batch_size lr r_max num_channels max_L max_ell correlation patience",
            "smoke",
            "proves the whole path (data, MACE's trainer, evaluation, calculator) in a few CPU-seconds; "
            "its numbers mean nothing",
        ),
        (
            "epochs batch_size lr num_channels max_L max_ell correlation patience",
            "lite",
            "a real but small run: 10 epochs of a 16-channel invariant model, ~3 CPU-minutes",
        ),
        (
            "epochs batch_size lr num_channels max_L max_ell correlation patience",
            "std",
            "sized for a CPU workstation (~45 min here): a 32-channel correlation-3 model took 16 min per "
            "epoch on 2 busy cores (docs/phase3_mace.md)",
        ),
        (
            "epochs lr r_max num_channels patience",
            "pro",
            "the runbook's std schedule (300 epochs, batch 32, lr 3e-4) with 64 channels, for a GPU",
        ),
        ("batch_size lr max_L patience", "max", "a MACE-paper-sized model (128 channels, L = 2) for a GPU"),
        (
            "epochs batch_size lr r_max num_channels patience",
            "competition",
            "a mid-size model with a higher learning rate and stage two",
        ),
        ("energy_weight", "lite std pro max competition", _MACE_WEIGHTS),
        ("elements", "smoke lite std pro max competition", _MACE_DATA),
        (
            "per_element",
            "std",
            "one MACE per element beside the one-for-all model, as Zuo et al. fit GAP and MTP, so that "
            "std's benchmark compares like with like per element (issue #22). An element has a sixth of "
            "the cells, so its model has its own schedule, batch 4 for 200 epochs (ten times the "
            "one-for-all schedule's optimizer steps): four elements came within 3x of GAP's energy "
            "error with it against one with the one-for-all schedule, at 14-50 CPU-minutes per element "
            "(Mo to Ni; docs/benchmarks.md)",
        ),
    ],
    "specialist": [
        (
            "epochs batch_size lr irreps n_layers n_basis patience data.max_structures",
            "smoke",
            "tiny so a run takes seconds",
        ),
        (
            "ema_decay",
            "smoke",
            "EMA 0.9: with ~10 steps per epoch a 0.999 average would be the initial weights",
        ),
        ("epochs batch_size lr irreps n_layers n_basis patience data.max_structures", "lite", ""),
        ("ema_decay", "lite", ""),
        (
            "epochs lr",
            "std",
            "100 epochs warm-started from multitask_e3nn's encoder; the runbook's 800 would take over "
            "13 h per property on an idle core (estimate: 8 x the ~100 min of 100 e3nn epochs, "
            "docs/benchmarks.md)",
        ),
        ("n_basis", "std pro max competition", ""),
        ("patience", "std pro max competition", ""),
        ("epochs lr n_layers", "pro", _GPU),
        ("epochs lr ema_decay irreps n_layers", "max", _GPU),
        ("epochs lr", "competition", "a 1 h wall-clock budget with a one-cycle schedule and EMA"),
    ],
    "topognn": [
        ("epochs lr hidden n_layers patience", "smoke", "tiny so a run takes seconds"),
        ("epochs batch_size lr hidden n_layers patience", "lite", ""),
        ("batch_size patience", "std", ""),
        ("epochs batch_size lr hidden n_layers patience", "pro max", _GPU),
        (
            "epochs batch_size lr hidden n_layers patience",
            "competition",
            "a 30 min wall-clock budget with a one-cycle schedule and EMA",
        ),
        (
            "data.max_structures",
            "smoke lite std pro max competition",
            "every crystal of the level's data with a Topological Materials Arsenal label, not JARVIS "
            "spillage rows undersampled to balance",
        ),
    ],
    "random_forest": [
        (
            "n_estimators min_samples_leaf max_labels",
            "smoke",
            "whole formulas sampled so it finishes in seconds",
        ),
        ("n_estimators max_labels", "lite", "whole formulas sampled so it finishes in seconds"),
        ("max_labels", "std pro max competition", "all ~10.8k Arsenal labels"),
        ("n_estimators max_depth", "pro max", ""),
        ("n_estimators max_depth min_samples_leaf", "competition", ""),
    ],
}


def _ours(preset: object, field: str, partition: str) -> object:
    if field.startswith("data."):
        return getattr(levels.DATA[partition], field.removeprefix("data."))
    return getattr(preset, field)


def _same(runbook: object, ours: object) -> bool:
    if isinstance(runbook, tuple | list) and isinstance(ours, tuple | list):
        return tuple(runbook) == tuple(ours)
    return runbook == ours


def family_name(phase: str, algorithm: str) -> str | None:
    """The family of a run record's ``phase`` and ``algorithm`` that the runbook has a table for."""
    from matassets.families import FAMILIES

    for fam in FAMILIES:
        if fam.phase == phase and fam.algorithm == algorithm and fam.name in RUNBOOK:
            return fam.name
    return None


def reasons(family: str) -> dict[tuple[str, str], str]:
    """``WHY[family]`` by (field, partition): the deviations we mean."""
    return {
        (field, p): why
        for fields, parts, why in WHY.get(family, ())
        for field in fields.split()
        for p in parts.split()
    }


def deviations(
    family: str,
    partition: str,
    preset: object,
    overrides: dict | None = None,
    scaled: dict[str, str] | None = None,
) -> list[dict]:
    """Every field where ``preset`` (``family``'s row at ``partition``, after ``overrides`` and the
    fields ``scaled`` to a registered data set) differs from the runbook's row: ``{"field",
    "runbook", "ours", "why"}``; "why" says "set for this run" for an overridden field and
    ``scaled``'s words for a scaled one (``levels.dataset_train_preset``)."""
    index = levels.PARTITIONS.index(partition)
    why_of = reasons(family) | {(field, partition): why for field, why in (scaled or {}).items()}
    out = []
    for field, values in RUNBOOK[family].items():
        runbook, ours = values[index], _ours(preset, field, partition)
        if runbook is NA or _same(runbook, ours):
            continue
        why = "set for this run" if field in (overrides or {}) else why_of.get((field, partition), "")
        out.append({"field": field, "runbook": _plain(runbook), "ours": _plain(ours), "why": why})
    return out


def _plain(value: object) -> object:
    return list(value) if isinstance(value, tuple) else value


def record_block(
    phase: str,
    algorithm: str,
    partition: str,
    preset: object,
    overrides: dict,
    scaled: dict[str, str] | None = None,
) -> dict:
    """The run record's ``runbook`` entry: the runbook command the model mirrors and how it differs
    (``{"command": None}`` for a family outside the runbook); ``scaled``: as for ``deviations``."""
    name = family_name(phase, algorithm)
    if name is None:
        return {"command": None, "deviations": []}
    from matassets.families import family, level_flag

    return {
        "command": family(name).runbook.replace("--level L", level_flag(partition)),
        "deviations": deviations(name, partition, preset, overrides, scaled),
    }
