"""``ui``: the Dagster UI behind the request guard (``matassets.ui``), with the daemon."""

from __future__ import annotations

import argparse

ORDER = 90


def cmd_ui(args: argparse.Namespace) -> int:
    from matassets.ui.server import run_from_args

    return run_from_args(args)


def register(sub) -> None:
    from matassets.ui.server import add_arguments

    p = sub.add_parser(
        "ui",
        help="the Dagster UI on http://127.0.0.1:3000, refusing requests other web pages send",
        description="Serves the Dagster UI (and starts the daemon) behind a guard that refuses a "
        "foreign Host header, cross-site requests, GraphQL over GET and non-JSON POSTs, so a web page "
        "open in your browser cannot launch runs (docs/deploy.md). Needs DAGSTER_HOME.",
    )
    add_arguments(p)
    p.set_defaults(func=cmd_ui)
