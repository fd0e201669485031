"""``matassets``: the runbook's commands, each materializing assets through Dagster.

Every module of this package with a ``register(subparsers)`` function adds its commands (sorted by
its ``ORDER``): a new command is a new module here, nothing else to edit.

    run phase1|phase2|phase3|phase4   the runbook's phases (run.py); data; materialize
    predict, summary                  a trained model on structure files; a level's state
    leaderboard                       every trained model's test metric beside its baseline
    topo                              the topological-materials database
    handoff                           recent runs' handoff records (Markdown, CSV)
    check-env                         the runbook's environment check
    cluster                           PostgreSQL instance, Celery workers, a local cluster (cluster.py)
    dvc-yaml, push, pull              DVC: dvc.yaml from the asset graph; the remote
    levels-md, graph-png              generated docs
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys


def command_modules() -> list:
    modules = [
        importlib.import_module(f"{__name__}.{m.name}")
        for m in pkgutil.iter_modules(__path__)
        if not m.name.startswith("_")
    ]
    modules = [m for m in modules if hasattr(m, "register")]
    return sorted(modules, key=lambda m: (getattr(m, "ORDER", 100), m.__name__))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="matassets",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="also Dagster's DEBUG event lines (default: progress and results at INFO)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")
    for module in command_modules():
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("DVC_NO_ANALYTICS", "1")
    from matassets.cli import _common

    argv = sys.argv[1:] if argv is None else list(argv)
    _common.COMMAND_LINE = " ".join(["matassets", *argv])
    verbose = any(a in ("-v", "--verbose") for a in argv)  # before or after the command
    argv = [a for a in argv if a not in ("-v", "--verbose")]
    args = build_parser().parse_args(argv)
    _common.VERBOSE = verbose
    _common.clear_defs()  # one build of the definitions per command, with today's data sets
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
