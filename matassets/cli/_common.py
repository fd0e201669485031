"""What the commands share: the level arguments and running a selection through Dagster."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path

from matassets.levels import PARTITIONS

COMMAND_LINE = "matassets"  # set by main(): shown as a tag on the Dagster run


def level_args(p: argparse.ArgumentParser, default: str | None = "smoke") -> None:
    p.add_argument("--level", choices=PARTITIONS, default=default, help=f"partition (default {default})")
    p.add_argument("--competition", action="store_true", help="the competition profile (partition)")


def partition(args: argparse.Namespace) -> str:
    """``--competition`` or ``--level``: the Dagster partition key."""
    if getattr(args, "competition", False):
        if getattr(args, "level", None) not in (None, "smoke", "competition"):
            raise SystemExit("error: give either --level or --competition, not both")
        return "competition"
    return args.level or "smoke"


def defs():
    from matassets.definitions import defs as definitions

    return definitions


@dataclass(frozen=True)
class AssetInfo:
    name: str
    group: str
    parents: tuple[str, ...]
    metadata: dict
    partitioned: bool


def asset_infos() -> dict[str, AssetInfo]:
    """Every materializable asset of this installation, in topological order (upstream first)."""
    graph = defs().resolve_asset_graph()
    out: dict[str, AssetInfo] = {}
    for key in graph.toposorted_asset_keys:
        node = graph.get(key)
        if not node.is_materializable:
            continue
        out[key.to_user_string()] = AssetInfo(
            name=key.to_user_string(),
            group=node.group_name or "default",
            parents=tuple(sorted(k.to_user_string() for k in node.parent_keys)),
            metadata=dict(node.metadata or {}),
            partitioned=node.is_partitioned,
        )
    return out


def dagster_home_note() -> str:
    home = os.environ.get("DAGSTER_HOME")
    if home:
        return f"recorded in DAGSTER_HOME={home} (visible in the UI's run history)"
    return "DAGSTER_HOME is not set: the run is not recorded for the UI"


def ensure_telemetry_off(home: Path) -> None:
    """A new DAGSTER_HOME gets a dagster.yaml with telemetry disabled (an existing one is left alone)."""
    config = home / "dagster.yaml"
    if not config.exists():
        home.mkdir(parents=True, exist_ok=True)
        config.write_text("telemetry:\n  enabled: false\n", encoding="utf-8")


def materialize(
    selection: list[str],
    partition_key: str,
    run_config: dict | None = None,
    tags: dict[str, str] | None = None,
) -> bool:
    """Materialize ``selection`` for one partition, in process; recorded in ``$DAGSTER_HOME`` if set."""
    import dagster as dg

    definitions = defs()
    home = os.environ.get("DAGSTER_HOME")
    if home:
        ensure_telemetry_off(Path(home))
    instance = dg.DagsterInstance.get() if home else None
    result = dg.materialize(
        list(definitions.assets or []),
        selection=selection,
        partition_key=partition_key,
        instance=instance,
        resources=dict(definitions.resources or {}),
        run_config=run_config or {},
        tags={"matassets/cli": COMMAND_LINE[:250], **(tags or {})},
        raise_on_error=False,
    )
    status = "succeeded" if result.success else "FAILED"
    print(f"run {result.run_id} {status} ({dagster_home_note()})")
    return result.success
