"""``matassets``: the runbook's commands, each materializing assets through Dagster."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from matassets.levels import CGCNN_PROPERTIES, PARTITIONS

DATA_ASSETS = ["raw_structures", "structures", "splits", "crystal_graphs"]


def _partition(args) -> str:
    return "competition" if getattr(args, "competition", False) else args.level


def phase1_selection(prop: str | None) -> list[str]:
    props = [prop] if prop else list(CGCNN_PROPERTIES)
    return DATA_ASSETS + [f"cgcnn_{p}" for p in props]


def materialize(selection: list[str], partition: str, run_config: dict | None = None) -> bool:
    """Materialize ``selection`` for one partition; recorded in ``$DAGSTER_HOME`` when it is set."""
    import dagster as dg

    from matassets.definitions import defs

    instance = dg.DagsterInstance.get() if os.environ.get("DAGSTER_HOME") else None
    assets = list(defs.assets or [])
    result = dg.materialize(
        assets,
        selection=selection,
        partition_key=partition,
        instance=instance,
        resources=dict(defs.resources or {}),
        run_config=run_config or {},
        raise_on_error=False,
    )
    return result.success


PHASE4_ASSETS = {"rf": "topo_classifier_rf", "topognn": "topo_classifier_gnn"}


def phase4_selection(algorithm: str | None) -> list[str]:
    if algorithm not in (None, *PHASE4_ASSETS):
        raise SystemExit(f"phase4 --algorithm must be one of {', '.join(PHASE4_ASSETS)}")
    models = [PHASE4_ASSETS[algorithm]] if algorithm else list(PHASE4_ASSETS.values())
    return DATA_ASSETS + ["topo_db"] + models


def cmd_run(args) -> int:
    partition = _partition(args)
    if args.phase == "phase4":
        selection = phase4_selection(args.algorithm)
        print(f"materialize {', '.join(selection)} for partition {partition}")
        return 0 if args.dry_run or materialize(selection, partition) else 1
    if args.phase != "phase1":
        print(f"{args.phase} is not available yet", file=sys.stderr)
        return 2
    selection = phase1_selection(args.property)
    print(f"materialize {', '.join(selection)} for partition {partition}")
    if args.dry_run:
        return 0
    return 0 if materialize(selection, partition) else 1


def cmd_data(args) -> int:
    print(f"materialize {', '.join(DATA_ASSETS)} for partition {args.level}")
    if args.dry_run:
        return 0
    return 0 if materialize(DATA_ASSETS, args.level) else 1


def cmd_predict(args) -> int:
    from matassets.paths import Layout, default_root
    from matassets.predict import PredictInputError, load_model, read_structure_file

    try:
        model = load_model(Layout(default_root()).model_dir(args.model, _partition(args)))
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    ids, structures, failed = [], [], 0
    for f in args.files:
        try:
            structure = read_structure_file(Path(f))
            model.check_structure(f, structure)
            structures.append(structure)
            ids.append(f)
        except PredictInputError as exc:
            print(f"error: {exc}", file=sys.stderr)
            failed += 1
    if structures:
        values = model.predict_structures(ids, structures)
        for f, row in zip(ids, values, strict=True):
            print(
                json.dumps(
                    {"file": f, **{t: float(v) for t, v in zip(model.tasks, row, strict=True)}}
                )
            )
    return 1 if failed else 0


def cmd_summary(args) -> int:
    from matassets.summary import print_summary

    return print_summary(args.level)


def cmd_topo(args) -> int:
    """``topo init``: build the level's database; ``topo query``: what it knows about a formula."""
    if args.action == "init":
        selection = ["raw_structures", "structures", "topo_db"]
        print(f"materialize {', '.join(selection)} for partition {args.level}")
        return 0 if materialize(selection, args.level) else 1
    from matassets.topo.query import TopoDB

    try:
        db = TopoDB.open_partition(args.level)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    with db:
        found = db.lookup(args.formula, args.spacegroup)
    if args.json:
        print(json.dumps(found, indent=2))
    else:
        print(f"{found['formula']} (query {found['query']!r}, database {db.path})")
        for r in found["labels"]:
            print(
                f"  SG {r['spacegroup']:>3}  {r['class'] or '-':9} topological={r['topological']}  "
                f"[{r['source']}] {r['reference']}"
            )
        for r in found["materials"]:
            print(f"  crystal {r['id']}  SG {r['spacegroup']}  label {r['class'] or 'none'}")
        for r in found["curated"]:
            agrees = {1: "agrees", 0: "DISAGREES", None: "no Arsenal label"}[r["binary_agrees"]]
            print(f"  curated SG {r['spacegroup']}: {r['curated_class']}; Arsenal {agrees}")
    return 0 if found["labels"] or found["materials"] else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="matassets", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    def level_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("--level", choices=PARTITIONS, default="smoke")
        p.add_argument("--competition", action="store_true", help="the competition profile")

    run = sub.add_parser("run", help="train a phase's models (materializes their assets)")
    run.add_argument("phase", choices=["phase1", "phase2", "phase3", "phase4"])
    level_args(run)
    run.add_argument("--property", choices=CGCNN_PROPERTIES)
    run.add_argument("--algorithm", help="phase4: rf or topognn (default both)")
    run.add_argument("--dry-run", action="store_true", help="show what would run")
    run.set_defaults(func=cmd_run)

    data = sub.add_parser("data", help="materialize the data assets of a level")
    data.add_argument("--level", choices=PARTITIONS, default="smoke")
    data.add_argument("--dry-run", action="store_true")
    data.set_defaults(func=cmd_data)

    pred = sub.add_parser("predict", help="predict with a trained model for CIF/POSCAR files")
    pred.add_argument("--model", required=True, help="asset name, e.g. cgcnn_formation_energy")
    level_args(pred)
    pred.add_argument("files", nargs="+")
    pred.set_defaults(func=cmd_predict)

    topo = sub.add_parser("topo", help="the topological-materials database (Phase 4)")
    topo_sub = topo.add_subparsers(dest="action", required=True)
    topo_init = topo_sub.add_parser("init", help="build data/topo/<level>/topo.db")
    topo_init.add_argument("--level", choices=PARTITIONS, default="smoke")
    topo_query = topo_sub.add_parser("query", help="labels, crystals and spot checks of a formula")
    topo_query.add_argument("--formula", required=True)
    topo_query.add_argument("--spacegroup", type=int)
    topo_query.add_argument("--level", choices=PARTITIONS, default="smoke")
    topo_query.add_argument("--json", action="store_true")
    for p in (topo_init, topo_query):
        p.set_defaults(func=cmd_topo)

    summary = sub.add_parser("summary", help="what a level's data and models look like now")
    summary.add_argument("--level", choices=PARTITIONS, default="smoke")
    summary.set_defaults(func=cmd_summary)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("DVC_NO_ANALYTICS", "1")
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
