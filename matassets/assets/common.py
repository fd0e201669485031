"""What every asset shares: the level partitions, small metadata helpers, the DVC hook."""

from __future__ import annotations

import dagster as dg

from matassets.levels import PARTITIONS

levels_partitions = dg.StaticPartitionsDefinition(list(PARTITIONS))


def table_metadata(rows: list[dict], limit: int = 20) -> dg.MetadataValue:
    """A list of dicts as a Markdown table in the UI (first ``limit`` rows)."""
    if not rows:
        return dg.MetadataValue.md("_none_")
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(r[c]) for c in columns) + " |" for r in rows[:limit]]
    if len(rows) > limit:
        lines.append(f"\n… {len(rows) - limit} more")
    return dg.MetadataValue.md("\n".join(lines))


def versioned(context: dg.AssetExecutionContext, project, result: dg.MaterializeResult):
    """Call on an asset's result after it wrote its files: commits them to DVC (``dvc commit`` of the
    asset's ``dvc.yaml`` stage) and makes the DVC content hash the Dagster data version.

    A no-op unless ``project.dvc_enabled``; a DVC failure is logged and leaves the result as it was.
    """
    if not project.dvc_enabled:
        return result
    import subprocess

    from matassets.versioning import DvcError, record

    asset = context.asset_key.to_user_string()
    try:
        version = record(project.layout.root, asset, context.partition_key, context.log.warning)
    except (DvcError, OSError, subprocess.SubprocessError) as exc:
        context.log.warning(f"DVC commit of {asset} failed; the data version stays the asset's own: {exc}")
        return result
    if version is None:
        return result
    return dg.MaterializeResult(
        asset_key=result.asset_key,
        metadata={**(result.metadata or {}), "dvc_md5": version},
        check_results=result.check_results,
        data_version=dg.DataVersion(version),
        tags=result.tags,
        value=result.value,
    )
