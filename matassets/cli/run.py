"""``run`` (the runbook's phases), ``data`` and ``materialize`` (any asset): all through Dagster.

The runbook's (phase, algorithm, property) resolve to asset names through :data:`RUNBOOK` (derived
from ``families.FAMILIES``); whether
an asset exists is read from the Dagster definitions, so a phase whose assets are not installed
gives a clear error instead of a stack trace.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass

from matassets.cli import _common as common
from matassets.families import DATA_GROUP, FAMILIES, dataset_families, dataset_models

ORDER = 10


@dataclass(frozen=True)
class Recipe:
    """One runbook command: the assets it materializes (``{property}`` is filled in)."""

    phase: str
    algorithm: str
    assets: tuple[str, ...]  # what it materializes besides the data assets upstream
    trains: tuple[str, ...]  # which of them are models (they receive --set overrides)
    runbook: str  # the command it replaces

    @property
    def per_property(self) -> bool:
        return any("{property}" in a for a in self.assets)


RUNBOOK: tuple[Recipe, ...] = tuple(
    Recipe(f.phase, f.algorithm, (*f.prepares, f.asset), (f.asset,), f.runbook) for f in FAMILIES
)
PHASES = tuple(dict.fromkeys(r.phase for r in RUNBOOK))
DATA_PARALLEL = tuple(f.algorithm for f in FAMILIES if f.data_parallel)  # trained by the one GNN trainer


class SelectionError(ValueError):
    """A wrong phase, algorithm or property, or an asset this installation lacks."""


def recipes(phase: str, algorithm: str | None) -> list[Recipe]:
    mine = [r for r in RUNBOOK if r.phase == phase]
    if algorithm is None:  # the runbook's own families; another family is named with --algorithm
        return [r for r in mine if r.runbook]
    chosen = [r for r in mine if r.algorithm == algorithm]
    if not chosen:
        raise SelectionError(
            f"{phase} has no algorithm {algorithm!r}: choose from {', '.join(r.algorithm for r in mine)}"
        )
    return chosen


def properties(recipe: Recipe, installed) -> list[str]:
    """The properties that have an asset of this recipe in this installation."""
    template = next(a for a in recipe.assets if "{property}" in a)
    prefix, suffix = template.split("{property}")
    return [
        name[len(prefix) : len(name) - len(suffix)]
        for name in installed
        if name.startswith(prefix) and name.endswith(suffix) and len(name) > len(prefix + suffix)
    ]


def resolve(phase: str, algorithm: str | None, prop: str | None, installed) -> tuple[list[str], list[str]]:
    """(assets to materialize, the model assets among them) for a runbook command."""
    targets: list[str] = []
    models: list[str] = []
    chosen = recipes(phase, algorithm)
    if prop and not any(r.per_property for r in chosen):
        raise SelectionError(
            f"{phase} {'/'.join(r.algorithm for r in chosen)} takes no --property "
            "(it trains every property it knows together)"
        )
    for recipe in chosen:
        props: list[str | None] = [None]
        if recipe.per_property:
            known = properties(recipe, installed)
            if prop is not None and prop not in known:
                have = ", ".join(known) if known else "none are installed"
                raise SelectionError(
                    f"{phase} --algorithm {recipe.algorithm} has no model for property {prop!r}: "
                    f"choose from {have}"
                )
            props = [prop] if prop is not None else known
            if not props:
                raise SelectionError(
                    f"no {phase} {recipe.algorithm} model is in this installation "
                    f"(assets named {recipe.assets[0]})"
                )
        for p in props:
            names = [a.format(property=p) for a in recipe.assets]
            for name in names:
                if name not in installed:
                    raise SelectionError(
                        f"asset {name} is not in this installation "
                        f"({phase} --algorithm {recipe.algorithm} needs it)"
                    )
            targets += [n for n in names if n not in targets]
            models += [t.format(property=p) for t in recipe.trains]
    return targets, models


def with_upstream_data(
    targets: list[str], infos: dict, include_data: bool = True, group: str = DATA_GROUP
) -> list[str]:
    """``targets`` plus every asset of ``group`` (the data group; a data set's own) upstream of
    them, in topological order."""
    wanted = set(targets)
    if include_data:
        stack = list(targets)
        while stack:
            for parent in infos[stack.pop()].parents:
                if parent in infos and infos[parent].group == group and parent not in wanted:
                    wanted.add(parent)
                    stack.append(parent)
    return [name for name in infos if name in wanted]


def parse_sets(pairs: list[str]) -> dict:
    """``--set epochs=5 --set lr=1e-3`` → {"epochs": 5, "lr": 0.001} (values read as JSON if they parse)."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SelectionError(f"--set takes key=value, got {pair!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def check_sets(overrides: dict, models: list[str], infos: dict) -> None:
    """Every ``--set`` key must be a run-config field of every model it goes to (checked before a
    dry run shows anything: a typo fails here in one line, not in the run's traceback)."""
    for model in models:
        valid = infos[model].config_fields
        unknown = [k for k in overrides if k not in valid]
        if unknown:
            raise SelectionError(
                f"--set {', '.join(unknown)}: not a setting of {model}; valid keys: {', '.join(valid)}"
            )
    source = overrides.get("warm_start_from")
    itself = [m for m in models if source and m.endswith(f"_{source}")]
    if itself:
        raise SelectionError(
            f"--set warm_start_from={source} would start {itself[0]} from itself: choose the models it "
            f"warms with --property (and materialize {itself[0]} first)"
        )


def describe(selection: list[str], infos: dict, key: str | None, run_config: dict, dry_run: bool) -> str:
    # a data set's data assets (D/structures, ...) are in its own group, named as the embedded ones
    data_names = {name for name, info in infos.items() if info.group == DATA_GROUP}
    data = [a for a in selection if a.rpartition("/")[2] in data_names]
    rest = [a for a in selection if a not in data]
    lines = [
        f"partition: {key or '(not partitioned)'}",
        f"job: {common.job_for(selection)}",
        f"assets ({len(selection)}): {', '.join(selection)}",
    ]
    if data:
        lines.append(f"  data: {', '.join(data)}")
    lines.append(f"  then: {', '.join(rest)}")
    reused = sorted({p for a in selection for p in infos[a].parents if p in infos and p not in selection})
    if reused:
        lines.append(f"  reads as they are on disk (not re-run): {', '.join(reused)}")
    if run_config:
        lines.append(f"run config: {json.dumps(run_config, sort_keys=True)}")
    lines.append(
        "same as: dagster asset materialize -m matassets.definitions "
        + (f"--partition {key} " if key else "")
        + f"--select '{','.join(selection)}'"
        + (" --config-json '" + json.dumps(run_config) + "'" if run_config else "")
    )
    lines.append(
        "run: nothing was run or recorded (a dry run)" if dry_run else f"run: {common.dagster_home_note()}"
    )
    return "\n".join(lines)


def execute(selection: list[str], key: str | None, infos: dict, run_config: dict, dry_run: bool) -> int:
    if all(not infos[a].partitioned for a in selection):
        key = None  # e.g. model_leaderboard: one materialization for every level
    invalid = common.run_config_errors(selection, run_config)
    if invalid:
        print(f"error: invalid run config: {invalid}", file=sys.stderr)
        return 2
    print(
        ("dry run, would materialize:\n" if dry_run else "materialize:\n")
        + describe(selection, infos, key, run_config, dry_run)
    )
    if dry_run:
        return 0
    from matassets.automation.dead_runs import fail_dead_runs_of_home

    for run_id in fail_dead_runs_of_home():  # an earlier run killed with kill -9 does not stay STARTED
        print(f"run {run_id}: its process is gone; marked failed")
    return 0 if common.materialize(selection, key, run_config) else 1


def dataset_selection(args: argparse.Namespace, infos: dict) -> tuple[list[str], list[str]]:
    """(assets to materialize, the models among them) for ``run PHASE --dataset NAME``: a data set's
    models are ``families.dataset_models``'s. ``--algorithm`` picks one family (phase1, a data set's
    "train a property", names any of them; another phase its own), none the phase's own families;
    ``--property`` narrows to one property (a model of the whole data set stays)."""
    from matassets import datasets

    name, algorithm = args.dataset, args.algorithm
    offered = [f for f in dataset_families() if args.phase in ("phase1", f.phase)]
    chosen = [f for f in offered if (f.algorithm == algorithm if algorithm else f.phase == args.phase)]
    if not chosen:
        have = ", ".join(f"{f.phase} --algorithm {f.algorithm}" for f in dataset_families())
        asked = args.phase + (f" --algorithm {algorithm}" if algorithm else "")
        raise SelectionError(f"--dataset {name}: {asked} is not generated per data set; choose {have}")
    try:  # an unknown name: the registered ones are listed
        manifest = datasets.get(name, common.dataset_layout(name).root)
    except ValueError as exc:
        raise SelectionError(str(exc)) from None
    props = manifest.property_names()
    what = "/".join(f.algorithm for f in chosen)
    if args.property and args.property not in props:
        raise SelectionError(
            f"data set {name} has no property {args.property!r}: choose from {', '.join(props)}"
        )
    models = [
        asset
        for m in dataset_models(manifest)
        if m.family in chosen
        and (m.prop is None or not args.property or m.prop.name == args.property)
        and (asset := f"{name}/{m.asset}") in infos
    ]
    if not models:
        raise SelectionError(f"data set {name} has no {what} assets: train a built-in set without --dataset")
    group = infos[models[0]].group  # the data set's: its data assets and models
    return with_upstream_data(models, infos, include_data=not args.no_data, group=group), models


def cmd_run(args: argparse.Namespace) -> int:
    key = common.partition(args)
    infos = common.asset_infos()
    try:
        if args.dataset not in (None, "embedded"):
            selection, models = dataset_selection(args, infos)
        else:
            targets, models = resolve(args.phase, args.algorithm, args.property, infos)
            selection = with_upstream_data(targets, infos, include_data=not args.no_data)
        config = run_config(args, models, infos)
    except SelectionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return execute(selection, key, infos, config, args.dry_run)


def run_config(args: argparse.Namespace, models: list[str], infos: dict) -> dict:
    """The run config of ``--set``, ``--force`` and ``--nproc`` for ``models`` (asset keys; a data
    set's ``D/cgcnn_x`` is configured under its op name ``D__cgcnn_x``); ``SelectionError`` for a
    key no model takes or ``--nproc`` on a family that does not train data-parallel."""
    overrides = parse_sets(args.set or []) | ({"force": True} if args.force else {})
    if args.nproc > 1:
        others = [m for m in models if "nproc" not in infos[m].config_fields]
        if others:
            raise SelectionError(
                f"--nproc applies to {', '.join(DATA_PARALLEL)} (the GNN trainer), "
                f"not {', '.join(others)}" + ("" if args.algorithm else "; choose one with --algorithm")
            )
        overrides["nproc"] = args.nproc
    check_sets(overrides, models, infos)
    return {"ops": {m.replace("/", "__"): {"config": overrides} for m in models}} if overrides else {}


def cmd_data(args: argparse.Namespace) -> int:
    infos = common.asset_infos()
    selection = [a for a, info in infos.items() if info.group == DATA_GROUP]
    return execute(selection, common.partition(args), infos, {}, args.dry_run)


def cmd_materialize(args: argparse.Namespace) -> int:
    infos = common.asset_infos()
    missing = [a for a in args.asset if a not in infos]
    if missing:
        print(f"error: asset {', '.join(missing)} is not in this installation", file=sys.stderr)
        return 2
    selection = with_upstream_data(args.asset, infos, include_data=args.with_upstream)
    return execute(selection, common.partition(args), infos, {}, args.dry_run)


def register(sub) -> None:
    run = sub.add_parser(
        "run",
        help="the runbook's phases: train a phase's models (materializes their assets)",
        description="Examples: run phase1 --level std --property formation_energy; "
        "run phase2 --algorithm e3nn --level std; run phase3 --algorithm mace --level std; "
        "run phase3 --algorithm equivariant --level pro --property band_gap; "
        "run phase4 --algorithm topognn --level std; add --competition for the competition profile.",
    )
    run.add_argument("phase", choices=PHASES)
    common.level_args(run)
    algorithms = sorted({r.algorithm for r in RUNBOOK})
    run.add_argument("--algorithm", help=f"one of {', '.join(algorithms)} (default: every one of the phase)")
    run.add_argument("--property", help="the property of a per-property model (default: every one)")
    run.add_argument(
        "--set", action="append", metavar="KEY=VALUE", help="override a preset field of the models"
    )
    run.add_argument("--no-data", action="store_true", help="do not re-materialize the data assets upstream")
    run.add_argument(
        "--force",
        action="store_true",
        help="retrain a model even when its folder is up to date (same data, split, graphs, preset, "
        "architecture and code: otherwise the run reuses it)",
    )
    run.add_argument(
        "--nproc",
        type=int,
        default=1,
        metavar="N",
        help="train each GNN data-parallel in N local processes (gloo on CPU, NCCL on GPUs; "
        "docs/distributed.md)",
    )
    run.add_argument(
        "--dataset",
        help="a registered data set (matassets dataset list; default: the embedded set): its own "
        "assets DATASET/... and folders data/datasets/DATASET/, models/datasets/DATASET/",
    )
    run.add_argument("--dry-run", action="store_true", help="show what would run, run nothing")
    run.set_defaults(func=cmd_run)

    data = sub.add_parser("data", help="materialize the data assets of a level")
    common.level_args(data)
    data.add_argument("--dry-run", action="store_true")
    data.set_defaults(func=cmd_data)

    mat = sub.add_parser("materialize", help="materialize named assets for one partition (dvc.yaml's stages)")
    mat.add_argument("--asset", action="append", required=True, help="asset name (repeatable)")
    common.level_args(mat)
    mat.add_argument("--with-upstream", action="store_true", help="also the data assets upstream")
    mat.add_argument("--dry-run", action="store_true")
    mat.set_defaults(func=cmd_materialize)
