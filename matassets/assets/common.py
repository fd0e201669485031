"""What every asset shares: the level partitions, small metadata helpers, the DVC hook."""

from __future__ import annotations

import dataclasses
import types
import typing

import dagster as dg

from matassets.levels import PARTITIONS
from matassets.training.options import RunOptions

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


class PresetOverrides(dg.Config):
    """A model asset's run config: optional overrides of the partition's preset row and run options.

    Every preset field is an optional override (None keeps the preset's value); ``unset`` names
    preset fields to set to None where the preset allows it (``max_depth``: unbounded). The run
    options (``training.options.RunOptions``): ``seed`` (training seed; the split never moves),
    ``nproc``, ``force`` (retrain an up-to-date folder) and ``output_tag`` (write a tuning round's
    candidate to ``models/<asset>/tuning/<tag>/``; not committed to DVC).
    """

    unset: list[str] = []
    output_tag: str = ""
    force: bool = False

    def apply(self, preset) -> tuple[object, dict, RunOptions]:
        """(``preset`` with the set fields replaced, {changed preset field: value}, the run options)."""
        names = {f.name for f in dataclasses.fields(preset)}
        values = self.model_dump()
        changes = {k: v for k, v in values.items() if k in names and v is not None}
        hints = typing.get_type_hints(type(preset))
        for name in self.unset:
            if name not in names or type(None) not in typing.get_args(hints[name]):
                nullable = sorted(n for n in names if type(None) in typing.get_args(hints[n]))
                raise dg.Failure(
                    f"unset: {name!r} is not a preset field that may be None; those are {nullable}"
                )
            changes[name] = None
        for name, value in changes.items():
            allowed = _literal_values(hints[name])
            if allowed and value not in allowed:
                raise dg.Failure(f"{name}={value!r}: choose one of {', '.join(map(str, allowed))}")
        options = RunOptions(
            seed=values.get("seed") if "seed" not in names else None,
            nproc=values.get("nproc") or 1,
            force=self.force,
            output_tag=self.output_tag,
        )
        return dataclasses.replace(preset, **changes), changes, options


def _literal_values(hint) -> tuple:
    for arg in (hint, *typing.get_args(hint)):
        if typing.get_origin(arg) is typing.Literal:
            return typing.get_args(arg)
    return ()


_SCALARS = (bool, int, float, str)


def _config_type(hint):
    """A preset field's type as a Dagster config type (Literal → str, checked in ``apply``), or None
    for a type run config cannot carry (tuples and the like stay preset-only)."""
    args = (
        [a for a in typing.get_args(hint) if a is not type(None)]
        if typing.get_origin(hint)
        in (
            typing.Union,
            types.UnionType,
        )
        else [hint]
    )
    if len(args) != 1:
        return None
    (arg,) = args
    if typing.get_origin(arg) is typing.Literal:
        return str
    return arg if arg in _SCALARS else None


def overrides_config(
    name: str, presets, options: tuple[str, ...] = ("seed", "nproc"), exclude=(), doc="", base=None
):
    """A run-config class generated from a preset table's dataclass: one optional field per preset
    field (None = keep the preset), plus the run options named in ``options`` that are not preset
    fields. ``exclude``: preset fields a run may not change (the forest's split seed)."""
    preset_cls = type(next(iter(presets.values())))
    hints = typing.get_type_hints(preset_cls)
    annotations: dict[str, object] = {}
    for f in dataclasses.fields(preset_cls):
        kind = _config_type(hints[f.name])
        if kind is not None and f.name not in exclude:
            annotations[f.name] = kind | None
    for option in options:
        annotations.setdefault(option, int | None)
    namespace = {"__annotations__": annotations, **dict.fromkeys(annotations), "__module__": __name__}
    namespace["__doc__"] = (
        doc or f"Optional overrides of the partition's {preset_cls.__name__} (None = keep)."
    )
    return type(name, (base or PresetOverrides,), namespace)


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
