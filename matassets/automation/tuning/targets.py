"""Which assets each phase tunes: the model families, their preset tables and knobs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, is_dataclass

from matassets import levels
from matassets.automation.tuning.knobs import Knob
from matassets.families import FAMILIES, PHASES, dataset_families, dataset_models, family
from matassets.paths import EMBEDDED, Layout


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
    algorithm: str | None = None,
    layout: Layout | None = None,
) -> tuple[list[Target], list[str]]:
    """The tunable assets of ``phase`` ("all" = every phase) and why any family was skipped.
    ``layout``: a registered data set D's (``Layout.for_dataset``) tunes D's models instead
    (``families.dataset_models``: ``D/cgcnn_<property>``, ``D/forest_<property>``, ...;
    ``Target.asset`` is that Dagster name); its manifest is read (an unknown D: ValueError). As
    ``run --dataset``, phase1 names any of them with ``algorithm`` (``tune --dataset D --algorithm
    rf``); the forest is also phase4's.

    Without ``algorithm``: the runbook's families of the phase, as ``matassets run`` trains them; a
    family outside the runbook (SchNet) is tuned when named, like ``run --algorithm schnet``.

    ``available`` maps each defined asset to the names of its run-config fields; an asset is
    tunable only when its config has ``output_tag`` (so rounds never overwrite the current model).
    """
    phases = PHASES if phase == "all" else (phase,)
    if any(p not in PHASES for p in phases):
        raise ValueError(f"unknown phase {phase!r}; choose one of {', '.join(PHASES)} or all")
    dataset = None
    if layout is not None and layout.dataset != EMBEDDED:
        from matassets import datasets

        dataset = datasets.get(layout.dataset, layout.root)
    targets, skipped = [], []
    for fam in dataset_families() if dataset else FAMILIES:
        if fam.phase not in phases and not (dataset and algorithm and "phase1" in phases):
            continue
        if (algorithm or fam.algorithm) != fam.algorithm or (algorithm is None and not fam.runbook):
            if algorithm is None:
                skipped.append(f"{fam.name}: not a runbook family; tune it with --algorithm {fam.algorithm}")
            continue
        row = fam.presets.get(partition)
        names = _asset_names(fam, available, prop, dataset)
        if not names:
            asset = f"{dataset.name}/{fam.dataset_asset}" if dataset else fam.asset
            skipped.append(f"{fam.name}: no asset {asset}{' for ' + prop if prop else ''} is defined")
            continue
        if row is None:
            skipped.append(f"{fam.name}: no {partition!r} row in its preset table")
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


def _asset_names(fam, available: Mapping[str, set[str]], prop: str | None, dataset) -> list[str]:
    """``fam``'s defined assets (of ``prop`` only, if given): the embedded set's, or those of the
    data set whose manifest is ``dataset``, ``D/<asset>`` (a model of the whole data set whatever
    ``prop``)."""
    if dataset:
        mine = [m for m in dataset_models(dataset) if m.family == fam]
        names = [
            f"{dataset.name}/{m.asset}" for m in mine if not prop or m.prop is None or m.prop.name == prop
        ]
        return [a for a in names if a in available]
    if fam.per_property:
        names = [a for a in fam.asset_names() if a in available]
        return [a for a in names if a == fam.asset_name(prop)] if prop else names
    return [fam.asset] if fam.asset in available and not prop else []


def family_knobs(target: Target) -> tuple[Knob, ...]:
    return tuple(k for k in family(target.family).knobs if k.name in target.knobs)
