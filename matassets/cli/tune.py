"""``tune``: the runbook's adaptive tuning rounds, in process, each round a Dagster materialization.

The same rules and files as the UI's ``tuning_job`` with the tuning sensors (matassets/automation/tuning/),
without a daemon: rounds run one after another; the summary goes to
``artifacts/adaptive_tuning/<session>/summary.{json,csv}``; the best round replaces the asset's
current version only if it beats it on validation. ``--dataset NAME`` tunes registered data set NAME's
models (``NAME/cgcnn_<property>``, its folders under ``models/datasets/NAME/``).
"""

from __future__ import annotations

import argparse
import json
import sys

from matassets.cli import _common as common
from matassets.dagster_home import open_instance
from matassets.paths import EMBEDDED

ORDER = 25
PHASE_CHOICES = ("phase1", "phase2", "phase3", "phase4", "all")


def parse_start(items: list[str] | None) -> dict | None:
    """``["epochs=1", "lr=0.01"]`` → ``{"epochs": 1, "lr": 0.01}``."""
    if not items:
        return None
    out: dict = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--start takes KEY=VALUE, got {item!r}")
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value  # a string (e3nn irreps)
    return out


def cmd_tune(args: argparse.Namespace) -> int:
    import dagster as dg

    from matassets.assets.resources import ProjectResource
    from matassets.automation.tuning.session import TuningSession
    from matassets.automation.tuning.targets import resolve_targets
    from matassets.automation.tuning_runs import config_fields, run_session_in_process

    level = common.partition(args)
    try:
        layout = common.dataset_layout(args.dataset)
        start = parse_start(args.start)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    definitions = common.defs()
    assets = [a for a in definitions.assets or [] if isinstance(a, dg.AssetsDefinition)]
    resources = dict(definitions.resources or {})
    project = resources.get("project") or ProjectResource()
    layout = project.layout.for_dataset(layout.dataset)
    dataset = None if layout.dataset == EMBEDDED else layout.dataset
    available = config_fields(assets)
    try:
        targets, skipped = resolve_targets(
            args.phase, level, available, args.property, args.algorithm, layout
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for t in targets:
        print(f"tune {t.asset} [{level}]: {args.rounds} rounds from {t.preset}")
    for reason in skipped:
        print(f"skip {reason}")
    if not targets:
        print(f"error: nothing to tune for {args.phase} at {level}", file=sys.stderr)
        return 2
    if args.dry_run:
        return 0

    if args.prepare:
        upstream = dg.AssetSelection.assets(*[t.asset for t in targets]).upstream() - (
            dg.AssetSelection.assets(*[t.asset for t in targets])
        )
        graph = definitions.resolve_asset_graph()
        names = sorted(k.to_user_string() for k in upstream.resolve(graph))
        print(f"materialize {', '.join(names)} for partition {level}")
        if not common.materialize(names, level):
            return 1
    missing = [p for p in (layout.split_manifest(level), layout.graphs_pointer(level)) if not p.exists()]
    if missing:
        data = f"dataset train {dataset}" if dataset else "data"
        print(
            f"error: the {level} data is not materialized ({', '.join(map(str, missing))}); "
            f"run `matassets {data} --level {level}` or add --prepare",
            file=sys.stderr,
        )
        return 2

    session = TuningSession.create(
        layout,
        args.phase,
        level,
        args.rounds,
        available,
        prop=args.property,
        algorithm=args.algorithm,
        measure_noise=args.measure_noise,
        session=args.session,
        start=start,
    )
    print(f"session {session.session} ({common.dagster_home_note()})")
    with open_instance() as instance:
        run_session_in_process(session, assets, resources, instance)
    print(f"summary: {session.folder / 'summary.csv'} and summary.json")
    done = [t for t in session.targets if t.best_round is not None]
    return 0 if len(done) == len(session.targets) else 1


def register(sub) -> None:
    p = sub.add_parser(
        "tune",
        help="adaptive tuning rounds (validation-only rules; best round promoted if it is better)",
        description=__doc__,
    )
    p.add_argument("--phase", choices=PHASE_CHOICES, default="phase1")
    p.add_argument("--rounds", type=int, default=3, help="rounds per model (default 3)")
    p.add_argument("--property", help="only this property's models (e.g. formation_energy)")
    p.add_argument(
        "--algorithm", help="only this family (default: the phase's runbook families; e.g. schnet)"
    )
    common.level_args(p)
    common.dataset_arg(p)
    p.add_argument(
        "--measure-noise",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="round 2 repeats round 1 with another training seed and improvements must beat that "
        "difference (default on; --no-measure-noise judges against the 2%% floor only)",
    )
    p.add_argument("--session", help="session name (default: UTC time, phase, level)")
    p.add_argument(
        "--start", action="append", metavar="KEY=VALUE", help="round 1's value of a knob (repeatable)"
    )
    p.add_argument("--prepare", action="store_true", help="materialize the models' upstream first")
    p.add_argument("--dry-run", action="store_true", help="show the models and round-1 parameters")
    p.set_defaults(func=cmd_tune)
