"""``lineage``: where a model came from, back to the raw files; a bundle another machine can verify."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from matassets.cli import _common as common
from matassets.levels import PARTITIONS

ORDER = 48


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "lineage",
        help="the chain from a model back to its raw files (hashes, commands, runs, DVC)",
        description="Prints the model's files hash, run record (command, git SHA and diff hash at the "
        "start, reproducible or not, Dagster run id) and every upstream file with its DVC hash now and "
        "in dvc.lock. --export DIR writes DIR/model/ and DIR/provenance.json; --verify DIR checks such "
        "a bundle (exit 1 and the reasons when anything differs).",
    )
    p.add_argument("model", nargs="?", help="the model asset, e.g. cgcnn_formation_energy")
    p.add_argument("--level", choices=PARTITIONS, default="smoke", help="partition (default smoke)")
    p.add_argument("--root", type=Path, help="project root (default: $MATASSETS_ROOT or the checkout)")
    common.dataset_arg(p)
    p.add_argument("--export", type=Path, metavar="DIR", help="write a self-contained bundle to DIR")
    p.add_argument("--verify", type=Path, metavar="DIR", help="check a bundle written by --export")
    p.add_argument("--json", action="store_true", help="the chain as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from matassets.reports import lineage

    if args.verify:
        problems = lineage.verify_bundle(args.verify)
        for problem in problems:
            print(f"FAILED: {problem}")
        if not problems:
            print(f"bundle {args.verify} verified: every model file matches provenance.json")
        return 1 if problems else 0
    if not args.model:
        raise SystemExit("error: name a model (or --verify DIR)")
    try:
        layout = common.dataset_layout(args.dataset, args.root)
        if args.export:
            lineage.export_bundle(layout.root, args.model, args.level, args.export, layout.dataset)
            print(
                f"bundle written to {args.export} (check it with `matassets lineage --verify {args.export}`)"
            )
            return 0
        chain = lineage.model_lineage(layout.root, args.model, args.level, layout.dataset)
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(chain, indent=2, default=str) if args.json else lineage.render(chain))
    return 0
