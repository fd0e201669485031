"""What every asset shares: the level partitions, small metadata helpers, the DVC hook, promotion."""

from __future__ import annotations

import dataclasses
import enum
import types
import typing

import dagster as dg

from matassets.assets.metadata import moved, provenance_metadata
from matassets.deploy.executor import CELERY_QUEUE_TAG, TRAINING_QUEUE
from matassets.levels import PARTITIONS
from matassets.reports.tables import markdown_table
from matassets.training.options import RunOptions

levels_partitions = dg.StaticPartitionsDefinition(list(PARTITIONS))
# A model asset's step goes to the Celery queue "training" when a run uses the celery executor, so
# GPU hosts can take training steps only (`matassets cluster worker -q training`; docs/deploy.md);
# an inert op tag with any other executor. Beside `pool="training"` on every model asset.
TRAINING_OP_TAGS = {CELERY_QUEUE_TAG: TRAINING_QUEUE}


def table_metadata(rows: list[dict], limit: int = 20) -> dg.MetadataValue:
    """A list of dicts as a Markdown table in the UI (first ``limit`` rows)."""
    if not rows:
        return dg.MetadataValue.md("_none_")
    columns = list(rows[0])
    return dg.MetadataValue.md(markdown_table(columns, ([r[c] for c in columns] for r in rows), limit))


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
        # a choice field arrives as a member of its config Enum (``_choices``): the preset holds the str
        values = {k: v.value if isinstance(v, enum.Enum) else v for k, v in self.model_dump().items()}
        changes = {k: v for k, v in values.items() if k in names and v is not None}
        hints = typing.get_type_hints(type(preset))
        for name in self.unset:
            if name not in names or type(None) not in typing.get_args(hints[name]):
                nullable = sorted(n for n in names if type(None) in typing.get_args(hints[n]))
                raise dg.Failure(
                    f"unset: {name!r} is not a preset field that may be None; those are {nullable}"
                )
            changes[name] = None
        if changes.get("device") == "cuda":  # refused here, before the run reads or writes anything
            from matassets.training.distributed import device_type

            try:
                device_type("cuda")
            except ValueError as exc:
                raise dg.Failure(str(exc)) from None
        options = RunOptions(
            seed=values.get("seed") if "seed" not in names else None,
            nproc=values.get("nproc") or 1,
            force=self.force,
            output_tag=self.output_tag,
        )
        return dataclasses.replace(preset, **changes), changes, options


_SCALARS = (bool, int, float, str)


_CHOICES: dict[str, type[enum.Enum]] = {}


def _choices(field: str, values: tuple[str, ...]) -> type[enum.Enum]:
    """A Literal preset field's choices as a config Enum named for the field (``device`` → Device):
    the launchpad offers the values and Dagster refuses another before the run starts. One class per
    field, so every asset's config shares the type; the same name with other values would clash in
    Dagster's schema, and is refused here."""
    if field not in _CHOICES:
        name = "".join(part.title() for part in field.split("_"))
        _CHOICES[field] = enum.Enum(name, {v: v for v in values}, type=str, module=__name__)
    made = tuple(e.value for e in _CHOICES[field])
    if made != values:
        raise TypeError(f"preset field {field!r} has two sets of choices: {made} and {values}")
    return _CHOICES[field]


def _config_type(field: str, hint):
    """A preset field's type as a Dagster config type (Literal → an Enum of its values), or None for
    a type run config cannot carry (tuples and the like stay preset-only)."""
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
        return _choices(field, typing.get_args(arg))
    return arg if arg in _SCALARS else None


def overrides_config(name: str, presets, options: tuple[str, ...] = ("seed", "nproc"), exclude=(), doc=""):
    """A run-config class generated from a preset table's dataclass: one optional field per preset
    field (None = keep the preset), plus the run options named in ``options`` that are not preset
    fields. ``exclude``: preset fields a run may not change (the forest's split seed)."""
    preset_cls = type(next(iter(presets.values())))
    hints = typing.get_type_hints(preset_cls)
    annotations: dict[str, object] = {}
    for f in dataclasses.fields(preset_cls):
        kind = _config_type(f.name, hints[f.name])
        if kind is not None and f.name not in exclude:
            annotations[f.name] = kind | None
    for option in options:
        annotations.setdefault(option, int | None)
    namespace = {"__annotations__": annotations, **dict.fromkeys(annotations), "__module__": __name__}
    namespace["__doc__"] = (
        doc or f"Optional overrides of the partition's {preset_cls.__name__} (None = keep)."
    )
    return type(name, (PresetOverrides,), namespace)


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


def in_partition(partition: str | None, result: dg.AssetCheckResult) -> dg.AssetCheckResult:
    """``result`` naming the partition it judged: ``[smoke]`` before its description and a
    ``partition`` metadata entry (a level's check result otherwise reads the same for every level)."""
    if not partition:
        return result
    return result._replace(
        description=f"[{partition}] {result.description or ''}".rstrip(),
        metadata={"partition": dg.MetadataValue.text(partition), **(result.metadata or {})},
    )


def check_results(gates) -> list[dg.AssetCheckResult]:
    """The candidate's gates (``training.gates``) as asset check results (a non-blocking gate: WARN)."""
    return [
        dg.AssetCheckResult(
            check_name=g.name,
            passed=g.passed,
            severity=dg.AssetCheckSeverity.ERROR if g.blocking else dg.AssetCheckSeverity.WARN,
            description=g.description,
            metadata=g.metadata,
        )
        for g in gates
    ]


def promote_if_passed(context: dg.AssetExecutionContext, project, output, gates, metadata: dict):
    """Judge a model asset's freshly trained candidate by its ``gates`` and yield the materialization
    and the check results. Passed: the candidate becomes ``models/<asset>/<level>/`` (atomically),
    is committed to DVC (its hash the data version) and gets a line in the model's history. Failed
    (a blocking gate): the candidate stays in ``models/<asset>/candidates/`` with ``decision.json``;
    the metadata names it and the failed check; the current model and DVC are left as they were.
    An up-to-date folder (reused) is versioned as before; a tuning round is never promoted here."""
    from matassets.training.model_folder import conclude

    asset, partition = context.asset_key.to_user_string(), context.partition_key
    folder, candidate = output.folder, output.model_dir
    conclude(
        output,
        gates,
        by=f"checks of Dagster run {context.run.run_id}",
        commit=lambda: dvc_version(project, asset, partition, context.log.warning),
    )
    meta = {
        **moved(metadata, candidate, output.model_dir),
        "model path": dg.MetadataValue.path(str(output.model_dir)),
    }
    meta["run record"] = dg.MetadataValue.path(str(output.model_dir / "run_record.json"))
    meta["model status"] = output.status
    if output.decision and output.status != "current":
        meta["decision"] = dg.MetadataValue.text(output.decision)
    record = output.record or {}
    if "reproducible" in record:
        meta["reproducible"] = bool(record["reproducible"])
        meta["provenance"] = dg.MetadataValue.text(
            f"git {record.get('git_sha')} (diff {record.get('git_diff_sha256')}) at start "
            f"{record.get('started_at')}: {record.get('reproducibility')}"
        )
    meta.update(provenance_metadata(output, asset))
    if output.status == "failed":
        context.log.warning(output.decision)
        meta["failed candidate"] = dg.MetadataValue.path(str(output.model_dir))
        meta["current model (unchanged)"] = dg.MetadataValue.path(str(folder.final))
        yield dg.MaterializeResult(metadata=meta)
        yield from (in_partition(partition, r) for r in check_results(gates))
        return
    entry = _last_version(folder) if output.status == "current" else None
    if entry:  # the same words whether promoted just now or reused
        meta["current version"] = dg.MetadataValue.text(
            f"version {entry['version']}, promoted {entry['at']} by {entry.get('by')}: {entry.get('reason')}"
        )
        meta["history"] = history_table(folder)
    if output.status == "current" and not output.skipped:  # promoted just now: DVC committed
        version = (entry or {}).get("dvc_md5")
        result = dg.MaterializeResult(
            metadata={**meta, **({"dvc_md5": version} if version else {})},
            data_version=dg.DataVersion(version) if version else None,
        )
    else:
        result = versioned(context, project, dg.MaterializeResult(metadata=meta), folder.output_tag)
    yield result
    yield from (in_partition(partition, r) for r in check_results(gates))


def history_table(folder) -> dg.MetadataValue:
    """Every version that was the current model (``matassets history``), newest first."""
    from matassets.training.history import read_history

    rows = [
        [e.get("version"), e.get("at"), e.get("data_hash"), e.get("split_hash"), e.get("git_sha", "")
         and str(e.get("git_sha"))[:10], e.get("dvc_md5"), e.get("by"), e.get("reason")]
        if e.get("event") == "promoted"
        else [f"({e.get('event')})", e.get("at"), "", "", "", "", e.get("by"), e.get("reason")]
        for e in reversed(read_history(folder.layout, folder.asset, folder.partition))
    ]  # fmt: skip
    header = ["version", "date", "data", "split", "git", "dvc md5", "by", "reason"]
    return dg.MetadataValue.md(markdown_table(header, rows, limit=20))


def _last_version(folder) -> dict | None:
    """The history line of the current version (None for a folder promoted before histories)."""
    from matassets.training.history import read_history

    entries = read_history(folder.layout, folder.asset, folder.partition)
    promoted = [e for e in entries if e.get("event") == "promoted"]
    return promoted[-1] if promoted else None


def _replace(result: dg.MaterializeResult, **changes) -> dg.MaterializeResult:
    fields = ("asset_key", "metadata", "check_results", "data_version", "tags", "value")
    return dg.MaterializeResult(**{k: getattr(result, k) for k in fields} | changes)
