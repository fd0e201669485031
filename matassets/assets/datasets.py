"""Assets of each registered data set D, generated from its manifest and keyed with its name:
``D/raw_structures`` → ``D/structures`` → ``D/splits`` → ``D/crystal_graphs`` → one model per property
of each family whose row names a ``dataset_asset`` (``families.dataset_models``: ``D/cgcnn_<property>``
and ``D/specialist_<property>`` on the graphs, ``D/forest_<property>`` on composition; one
``D/mace_potential`` on an extended-XYZ set's frames, ``assets/dataset_potential.py``; the other
models' factories are ``assets/dataset_models.py``), partitioned by level like the embedded set's
(whose assets keep their unprefixed names and paths).

D's files live under ``data/datasets/D/`` and ``models/datasets/D/`` (``Layout.for_dataset``), so no
data set's run can touch another's files. A prefix per data set (rather than a data set × level
partition) gives each data set its own graph in the UI, its own lineage and its own asset names.
"""

from pathlib import Path

import dagster as dg

from matassets.assets.common import levels_partitions, table_metadata, versioned
from matassets.assets.dataset_models import DatasetProject, forest, graph_model, group_name
from matassets.assets.dataset_potential import mace
from matassets.assets.resources import ProjectResource
from matassets.families import dataset_models
from matassets.levels import DATA, JUDGE_MIN_SPLIT, dataset_data_preset, preset_metadata


def dataset_assets(name: str, root: Path | None = None) -> list[dg.AssetsDefinition]:
    """The assets of registered data set ``name``: its data, then its models
    (``families.dataset_models``)."""
    from matassets import datasets

    manifest = datasets.get(name, root)
    group = group_name(name)

    def key(asset: str) -> dg.AssetKey:
        return dg.AssetKey([name, asset])

    @dg.asset(
        key=key("raw_structures"),
        partitions_def=levels_partitions,
        group_name=group,
        kinds={"parquet"},
        # its DVC stage depends on the data set's table (versioning.py; not produced by an asset)
        metadata={"dvc_deps": [f"{datasets.dataset_dir(name, Path('')).as_posix()}/{manifest.table}"]},
    )
    def raw_structures(context: dg.AssetExecutionContext, project: ProjectResource) -> dg.MaterializeResult:
        """The data set's current version as the canonical table."""
        from matassets.assets.data import claim_level
        from matassets.data.pipeline import build_raw

        layout = project.layout.for_dataset(name)
        claim_level(context, DatasetProject(project, name))
        current = datasets.get(name, layout.root)
        frame = datasets.load_table(name, layout.root)
        version = build_raw(frame, layout, context.partition_key)
        result = dg.MaterializeResult(
            data_version=dg.DataVersion(version),
            metadata={
                "rows": frame.height,
                "data set": name,
                "data set version": current.version,
                "table sha256": current.table_sha256 or "",
                "data_hash": version,
                "path": dg.MetadataValue.path(str(layout.raw(context.partition_key))),
            },
        )
        return versioned(context, project, result)

    @dg.asset(
        key=key("structures"),
        partitions_def=levels_partitions,
        group_name=group,
        deps=[raw_structures],
        kinds={"pymatgen", "parquet"},
        check_specs=[dg.AssetCheckSpec("enough_clean_structures", asset=key("structures"), blocking=True)],
        output_required=False,  # too few clean structures: no materialization, the stored tables kept
    )
    def structures(context: dg.AssetExecutionContext, project: ProjectResource):
        """Validated crystals, the manifest's ranges for its own properties."""
        from matassets.assets.data import claim_level
        from matassets.data.pipeline import NotEnoughCleanStructures, build_structures, frame_hash

        partition, layout = context.partition_key, project.layout.for_dataset(name)
        claim_level(context, DatasetProject(project, name))  # the data set's own data-run lock
        current = datasets.get(name, layout.root)
        props = {p.name: p for p in current.properties}
        preset, rule = dataset_data_preset(partition, current.rows or 0, bool(props))  # scaled to it
        try:
            result, _ = build_structures(layout, partition, preset, props)
        except NotEnoughCleanStructures as refused:
            yield dg.AssetCheckResult(
                check_name="enough_clean_structures",
                passed=False,
                description=f"{refused} ({rule}); nothing was written: the stored tables are unchanged",
                metadata={"clean rows": refused.result.clean_rows, "needed": refused.needed},
            )
            return
        if result.counts:
            context.log.info("validation: " + ", ".join(f"{k} {v}" for k, v in result.counts.items()))
        quarantined = result.quarantine.to_dicts()
        version = frame_hash(result.clean)
        materialization = dg.MaterializeResult(
            data_version=dg.DataVersion(version),
            metadata={
                "clean rows": result.clean_rows,
                "quarantined entries": len(quarantined),
                "quarantine": table_metadata(quarantined),
                "validation counts": dg.MetadataValue.json(result.counts),
                "preset": dg.MetadataValue.json(preset_metadata(preset)),
                "data_hash": version,
                "path": dg.MetadataValue.path(str(layout.structures(partition))),
            },
        )
        yield versioned(context, project, materialization)
        small = ""
        if props and result.clean_rows < DATA[partition].min_clean:  # candidates are not split
            small = (
                f"; warning: under the {partition} level's {DATA[partition].min_clean}, its validation "
                "and test splits are too small to judge a model well"
            )
            context.log.warning(f"{name}: {result.clean_rows} clean structures{small}")
        yield dg.AssetCheckResult(
            check_name="enough_clean_structures",
            passed=result.clean_rows >= preset.min_clean,
            description=f"{result.clean_rows} clean structures; the {partition} level needs at least "
            f"{preset.min_clean} ({rule}){small}",
        )

    @dg.asset(
        key=key("splits"),
        partitions_def=levels_partitions,
        group_name=group,
        deps=[structures],
        check_specs=[dg.AssetCheckSpec(SPLIT_CHECK, asset=key("splits"), blocking=False)],
    )
    def splits(context: dg.AssetExecutionContext, project: ProjectResource):
        """One seeded train/val/test manifest per level for this data set; a warning (its
        non-blocking check) when the validation or test split is too small to judge a model."""
        from matassets.data.pipeline import build_splits

        layout, partition = project.layout.for_dataset(name), context.partition_key
        manifest_, report = build_splits(layout, partition, DATA[partition])
        if any(report.values()):
            raise dg.Failure(f"split leakage: {report}")
        sizes = manifest_.sizes()
        judged = bool(datasets.get(name, layout.root).properties)
        result = dg.MaterializeResult(
            data_version=dg.DataVersion(manifest_.hash),
            metadata={**{f"{k} size": v for k, v in sizes.items()}, "split_hash": manifest_.hash},
        )
        yield versioned(context, project, result)
        check = split_check(sizes, judged)
        if not check.passed:  # the run's log too
            context.log.warning(f"{name}/splits [{partition}]: {check.description}")
        yield check

    @dg.asset(
        key=key("crystal_graphs"), partitions_def=levels_partitions, group_name=group, deps=[structures]
    )
    def crystal_graphs(context: dg.AssetExecutionContext, project: ProjectResource) -> dg.MaterializeResult:
        """Periodic neighbour graphs of the data set's clean structures."""
        from matassets.data.pipeline import build_graphs

        path, cached = build_graphs(
            project.layout.for_dataset(name), context.partition_key, DATA[context.partition_key]
        )
        result = dg.MaterializeResult(
            data_version=dg.DataVersion(path.stem.removeprefix("graphs-")),
            metadata={"cache hit": cached, "path": dg.MetadataValue.path(str(path))},
        )
        return versioned(context, project, result)

    data = {"structures": structures, "splits": splits, "crystal_graphs": crystal_graphs}
    models = [MODELS[m.family.name](name, m.family, m.prop, data) for m in dataset_models(manifest)]
    return [raw_structures, structures, splits, crystal_graphs, *models]


SPLIT_CHECK = "splits_large_enough_to_judge"


def split_check(sizes: dict[str, int], judged: bool = True) -> dg.AssetCheckResult:
    """The data set's split sizes, failed as a warning (the run's closing block says it) when the
    validation or test split holds fewer than ``JUDGE_MIN_SPLIT`` crystals: its metrics are then too
    noisy to judge a model by (it still trains; levels.py). A data set without a property
    (``judged`` false: candidates to screen) trains no model, so its splits pass at any size."""
    small = [s for s in ("val", "test") if sizes[s] < JUDGE_MIN_SPLIT] if judged else []
    description = ", ".join(f"{s} {n}" for s, n in sizes.items()) + " crystals"
    if not judged:
        description += "; no property: no model is trained or judged on them"
    if small:
        description += (
            f"; the {' and '.join(small)} split{'s' if len(small) > 1 else ''} under {JUDGE_MIN_SPLIT}: "
            "too few to judge a model by (its metrics move with a few crystals); more crystals, or "
            "a level whose cap keeps more, give larger splits"
        )
    return dg.AssetCheckResult(
        check_name=SPLIT_CHECK,
        passed=not small,
        severity=dg.AssetCheckSeverity.WARN,
        description=description,
        metadata={f"{s} size": n for s, n in sizes.items()},
    )


# family name -> its data-set asset factory (``prop``: None for a model of the whole data set)
MODELS = {"cgcnn": graph_model, "specialist": graph_model, "random_forest": forest, "mace": mace}


def dataset_asset_keys(name: str, root: Path | None = None) -> list[dg.AssetKey]:
    """Every asset key of data set ``name`` (what a new version of it re-materializes)."""
    return [k for a in dataset_assets(name, root) for k in a.keys]


def registered_assets(root: Path | None = None) -> list[dg.AssetsDefinition]:
    """The assets of every user data set registered under ``root`` (the built-in ones are the
    embedded set's own assets)."""
    import logging

    from matassets import datasets

    out = []
    folder = datasets.datasets_dir(root)
    for manifest_file in sorted(folder.glob("*/manifest.json")) if folder.is_dir() else []:
        try:  # one unreadable manifest must not take the whole code location down
            out.extend(dataset_assets(manifest_file.parent.name, root))
        except ValueError as exc:
            logging.getLogger(__name__).warning("data set %s left out: %s", manifest_file.parent.name, exc)
    return out
