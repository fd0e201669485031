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


# run options a model config may carry besides preset fields; the training reads them from the
# overrides (``training.graph_model.RunSpec``, ``train_forest``, the MACE asset)
RUN_OPTIONS = ("seed", "output_tag", "force", "nproc")


class PresetOverrides(dg.Config):
    """A model asset's run config: optional overrides of the partition's preset row.

    0 / "" keep the preset's value (a field whose default is None takes 0 as a value). ``output_tag``
    writes the model to ``models/<asset>/tuning/<tag>/`` instead of the current version (what tuning
    rounds use: ``<session>/round_<n>``); such a candidate is not committed to DVC. A model whose
    folder was trained from the same inputs and code is not retrained (``training.incremental``);
    ``force`` retrains it anyway.
    """

    output_tag: str = ""
    force: bool = False

    def apply(self, preset):
        """(``preset`` with the set fields replaced, {every set preset field or run option: value})."""
        import dataclasses

        names = {f.name for f in dataclasses.fields(preset)}
        fields = type(self).model_fields
        changes = {
            k: v
            for k, v in self.model_dump().items()
            if (k in names or k in RUN_OPTIONS) and (v is not None if fields[k].default is None else bool(v))
        }
        return dataclasses.replace(preset, **{k: v for k, v in changes.items() if k in names}), changes


def dvc_version(project, asset: str, partition: str, warn) -> str | None:
    """Commit ``asset@partition``'s files to DVC and return their content hash (None when DVC is off,
    has no stage for the asset, or failed: ``warn`` says why)."""
    if not project.dvc_enabled:
        return None
    import subprocess

    from matassets.versioning import DvcError, record

    try:
        return record(project.layout.root, asset, partition, warn)
    except (DvcError, OSError, subprocess.SubprocessError) as exc:
        warn(f"DVC commit of {asset} [{partition}] failed; the data version stays the asset's own: {exc}")
        return None


def versioned(context: dg.AssetExecutionContext, project, result: dg.MaterializeResult, output_tag: str = ""):
    """Call on an asset's result after it wrote its files: commits them to DVC (``dvc commit`` of the
    asset's ``dvc.yaml`` stage) and makes the DVC content hash the Dagster data version.

    A no-op unless ``project.dvc_enabled``; a DVC failure is logged and leaves the result as it was.
    A tuning round's candidate (``output_tag``) is not a version of the asset's files: it is not
    committed, and its metadata says ``tuning candidate``.
    """
    if output_tag:
        return _replace(result, metadata={**(result.metadata or {}), "tuning candidate": output_tag})
    asset = context.asset_key.to_user_string()
    version = dvc_version(project, asset, context.partition_key, context.log.warning)
    if version is None:
        return result
    return _replace(
        result, metadata={**(result.metadata or {}), "dvc_md5": version}, data_version=dg.DataVersion(version)
    )


def _replace(result: dg.MaterializeResult, **changes) -> dg.MaterializeResult:
    fields = ("asset_key", "metadata", "check_results", "data_version", "tags", "value")
    return dg.MaterializeResult(**{k: getattr(result, k) for k in fields} | changes)
