"""Which assets each phase tunes: the model families, their preset tables and knobs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, is_dataclass

from matassets import levels
from matassets.tuning.knobs import E3NN_KNOBS, FOREST_KNOBS, GNN_KNOBS, MACE_KNOBS, Knob

PHASES: tuple[str, ...] = ("phase1", "phase2", "phase3", "phase4")


@dataclass(frozen=True)
class Family:
    """A model family that can be tuned: its assets, its preset table in ``levels`` and its knobs."""

    name: str
    phase: str
    algorithm: str
    preset_table: str  # attribute of matassets.levels; the family is skipped while it is missing
    knobs: tuple[Knob, ...]
    asset: str  # exact asset name, or a prefix ending in "_" for one asset per property
    per_property: bool = False


# phase -> families, in the runbook's order. Families whose preset table or assets do not exist yet
# are skipped (and reported as skipped in the session).
FAMILIES: tuple[Family, ...] = (
    Family("cgcnn", "phase1", "cgcnn", "CGCNN", GNN_KNOBS, "cgcnn_", per_property=True),
    Family("e3nn_multitask", "phase2", "e3nn", "E3NN_MULTITASK", E3NN_KNOBS, "multitask_e3nn"),
    Family("specialist", "phase3", "equivariant", "SPECIALIST", E3NN_KNOBS, "specialist_", True),
    Family("mace", "phase3", "mace", "MACE", MACE_KNOBS, "mace_potential"),
    Family("topognn", "phase4", "topognn", "TOPO_GNN", GNN_KNOBS, "topo_classifier_gnn"),
    Family("random_forest", "phase4", "rf", "TOPO_RF", FOREST_KNOBS, "topo_classifier_rf"),
)


@dataclass
class Target:
    asset: str
    phase: str
    algorithm: str
    family: str
    knobs: list[str]
    preset: dict  # the partition's preset values of the knobs (+ seed)
    start: dict = field(default_factory=dict)  # round 1's parameters (the preset unless changed)
    status: str = "pending"  # pending, running, done
    best_round: int | None = None
    promoted: bool | None = None
    promotion_reason: str = ""
    stop_reason: str = ""


def preset_row(table: str, partition: str) -> object | None:
    rows = getattr(levels, table, None)
    if not isinstance(rows, Mapping) or partition not in rows:
        return None
    return rows[partition]


def _row_values(row: object) -> dict:
    if is_dataclass(row):
        return {f.name: getattr(row, f.name) for f in fields(row)}
    if isinstance(row, Mapping):
        return dict(row)
    return dict(vars(row))


def resolve_targets(
    phase: str,
    partition: str,
    available: Mapping[str, set[str]],
    prop: str | None = None,
) -> tuple[list[Target], list[str]]:
    """The tunable assets of ``phase`` ("all" = every phase) and why any family was skipped.

    ``available`` maps each defined asset to the names of its run-config fields; an asset is
    tunable only when its config has ``output_tag`` (so rounds never overwrite the current model).
    """
    phases = PHASES if phase == "all" else (phase,)
    if any(p not in PHASES for p in phases):
        raise ValueError(f"unknown phase {phase!r}; choose one of {', '.join(PHASES)} or all")
    targets, skipped = [], []
    for fam in FAMILIES:
        if fam.phase not in phases:
            continue
        row = preset_row(fam.preset_table, partition)
        if fam.per_property:
            names = [a for a in available if a.startswith(fam.asset)]
            if prop:
                names = [a for a in names if a == fam.asset + prop]
        else:
            names = [fam.asset] if fam.asset in available and not prop else []
        if not names:
            skipped.append(
                f"{fam.name}: no asset {fam.asset}{'<property>' if fam.per_property else ''}"
                f"{' for ' + prop if prop else ''} is defined"
            )
            continue
        if row is None:
            skipped.append(f"{fam.name}: no {fam.preset_table}[{partition!r}] preset in matassets.levels")
            continue
        values = _row_values(row)
        for name in names:
            config = available[name]
            if "output_tag" not in config:
                skipped.append(f"{name}: its config has no output_tag field (rounds would overwrite it)")
                continue
            knobs = [k.name for k in fam.knobs if k.name in config and k.name in values]
            if not knobs:
                skipped.append(f"{name}: none of {[k.name for k in fam.knobs]} is in its config")
                continue
            preset = {k: values[k] for k in knobs}
            if "seed" in config:
                preset["seed"] = levels.DATA[partition].seed
            targets.append(Target(name, fam.phase, fam.algorithm, fam.name, knobs, preset))
    return targets, skipped


def family_knobs(target: Target) -> tuple[Knob, ...]:
    fam = next(f for f in FAMILIES if f.name == target.family)
    return tuple(k for k in fam.knobs if k.name in target.knobs)
