"""``topo init`` (build a level's topological-materials database) and ``topo query``."""

from __future__ import annotations

import argparse
import json
import sys

from matassets.cli import _common as common
from matassets.levels import PARTITIONS

ORDER = 40


def cmd_topo(args: argparse.Namespace) -> int:
    """``topo init``: build the level's database; ``topo query``: what it knows about a formula."""
    if args.action == "init":
        selection = ["raw_structures", "structures", "topo_db"]
        print(f"materialize {', '.join(selection)} for partition {args.level}")
        return 0 if common.materialize(selection, args.level) else 1
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


def register(sub) -> None:
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
