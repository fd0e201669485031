"""``leaderboard``: every trained model's test metric beside its baseline, read from disk."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from matassets.cli import _common as common

ORDER = 45
SHOWN = (
    "property",
    "asset",
    "partition",
    "metric",
    "unit",
    "test",
    "baseline",
    "ratio",
    "duration_s",
    "best",
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "leaderboard",
        help="the models trained so far: test metric, baseline, wall time, best per property",
        description="Reads models/<asset>/<partition>/metrics.json under the project root (a registered "
        "data set's: models/datasets/NAME/...; no Dagster run): the same table as the model_leaderboard "
        "asset, as Markdown.",
    )
    p.add_argument("--partition", action="append", help="only these partitions (repeatable)")
    p.add_argument("--root", type=Path, help="project root (default: $MATASSETS_ROOT or the checkout)")
    common.dataset_arg(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from matassets.reports import leaderboard

    try:
        layout = common.dataset_layout(args.dataset, args.root)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    rows = leaderboard.gather(layout.root, layout.dataset)
    if args.partition:
        rows = [r for r in rows if r["partition"] in args.partition]
    print(leaderboard.markdown(rows, SHOWN))
    return 0
