"""Data assets: raw_structures → structures → splits → crystal_graphs, partitioned by level."""

from typing import Literal

import dagster as dg

from matassets.assets.common import in_partition, levels_partitions, table_metadata, versioned
from matassets.assets.resources import ProjectResource
from matassets.data.sources import SOURCES
from matassets.families import DATA_GROUP
from matassets.levels import DATA, preset_metadata


class RawSourceConfig(dg.Config):
    """Where the crystals come from: ``embedded`` (default), ``jarvis`` or ``files``."""

    source: Literal[SOURCES] = "embedded"  # the Launchpad offers the choices
    path: str = ""  # files: a folder of CIF/POSCAR files or a CSV/JSON; jarvis: the cache folder
    targets: str = ""  # files: a CSV of targets for a folder of structures
    target: str = "formation_energy"  # files: the property of a headerless (id, value) targets CSV


def claim_level(context: dg.AssetExecutionContext, project: ProjectResource) -> None:
    """This run becomes the one data run of the level; a step of another data run of the level that
    is still in progress makes this one fail at once (``locks.claim_level``), so two runs never
    interleave their tables and each asset's metadata describes what is on disk."""
    from matassets.locks import claim_level as claim

    partition = context.partition_key
    lock = project.layout.data_run_lock(partition)
    claim(lock, partition, context.run.run_id, run_status(context.instance))


def run_status(instance: dg.DagsterInstance):
    """``run_active(run_id)`` for ``locks.claim_level``: None for a run this instance does not know;
    False for a finished run, or for a run whose processes are all gone (``kill -9``: Dagster still
    says STARTED, ``automation.dead_runs``); True otherwise."""
    from matassets.automation.dead_runs import processes_alive

    def run_active(run_id: str) -> bool | None:
        run = instance.get_run_by_id(run_id)
        if run is None:
            return None
        return not run.is_finished and processes_alive(instance, run_id)

    return run_active


@dg.asset(partitions_def=levels_partitions, group_name=DATA_GROUP, kinds={"polars", "parquet"})
def raw_structures(
    context: dg.AssetExecutionContext, config: RawSourceConfig, project: ProjectResource
) -> dg.MaterializeResult:
    """Every crystal of the configured source in the canonical table (``data/raw/<level>/``)."""
    from matassets.data.pipeline import build_raw
    from matassets.data.sources import load_source

    layout = project.layout
    claim_level(context, project)
    frame = load_source(
        config.source,
        config.path,
        config.targets,
        cache_dir=layout.jarvis_cache(),
        target=config.target,
    )
    version = build_raw(frame, layout, context.partition_key)
    counts = {c: frame.height - frame[c].null_count() for c in frame.columns}
    materialization = dg.MaterializeResult(
        data_version=dg.DataVersion(version),
        metadata={
            "rows": frame.height,
            "source": config.source,
            "data_hash": version,
            "values per column": dg.MetadataValue.json(counts),
            "path": dg.MetadataValue.path(str(layout.raw(context.partition_key))),
        },
    )
    return versioned(context, project, materialization)


@dg.asset(
    partitions_def=levels_partitions,
    group_name=DATA_GROUP,
    deps=[raw_structures],
    kinds={"pymatgen", "parquet"},
    check_specs=[
        dg.AssetCheckSpec("quarantine_report", asset="structures"),
        dg.AssetCheckSpec("enough_clean_structures", asset="structures", blocking=True),
    ],
    output_required=False,  # too few clean structures: no materialization, the stored tables kept
)
def structures(context: dg.AssetExecutionContext, project: ProjectResource):
    """Validated crystals; unusable rows and values go to a quarantine table with a reason.

    Fewer clean structures than the level needs fail the blocking ``enough_clean_structures``
    check before any table is written: the level keeps its previous tables and materialization."""
    from matassets.data.pipeline import NotEnoughCleanStructures, build_structures, frame_hash

    partition = context.partition_key
    preset = DATA[partition]
    layout = project.layout
    claim_level(context, project)
    try:
        result, reused = build_structures(layout, partition, preset)
    except NotEnoughCleanStructures as refused:
        quarantined = refused.result.quarantine.to_dicts()
        for row in quarantined[:20]:
            context.log.warning(f"quarantined {row['id']} ({row['origin']}) {row['field']}: {row['reason']}")
        yield in_partition(partition, quarantine_check(refused.result))
        yield in_partition(
            partition,
            dg.AssetCheckResult(
                check_name="enough_clean_structures",
                passed=False,
                description=f"{refused}; nothing was written: the stored tables are unchanged",
                metadata={"clean rows": refused.result.clean_rows, "needed": refused.needed},
            ),
        )
        return
    if reused:
        context.log.info("raw table, preset and code unchanged: validation skipped, tables reused")
    if result.counts:  # the level's cap applies after validation: say what it left out
        context.log.info("validation: " + ", ".join(f"{k} {v}" for k, v in result.counts.items()))
    counts = result.quarantine_counts()
    quarantined = result.quarantine.to_dicts()
    for row in quarantined[:20]:
        context.log.warning(f"quarantined {row['id']} ({row['origin']}) {row['field']}: {row['reason']}")
    version = frame_hash(result.clean)
    materialization = dg.MaterializeResult(
        data_version=dg.DataVersion(version),
        metadata={
            "clean rows": result.clean_rows,
            "quarantined entries": len(quarantined),
            "quarantine by field": dg.MetadataValue.json(counts),
            "validation counts": dg.MetadataValue.json(result.counts),
            "quarantine": table_metadata(quarantined),
            "data_hash": version,
            "preset": dg.MetadataValue.json(preset_metadata(preset)),
            "path": dg.MetadataValue.path(str(layout.structures(partition))),
        },
    )
    yield versioned(context, project, materialization)
    yield in_partition(partition, quarantine_check(result))
    yield in_partition(
        partition,
        dg.AssetCheckResult(
            check_name="enough_clean_structures",
            passed=result.clean_rows >= preset.min_clean,
            description=f"{result.clean_rows} clean structures; the {partition} level needs "
            f"at least {preset.min_clean}",
        ),
    )


def quarantine_check(result) -> dg.AssetCheckResult:
    """The ``quarantine_report`` check of a validation result (a warning naming the first rows)."""
    quarantined = result.quarantine.to_dicts()
    counts = result.quarantine_counts()
    return dg.AssetCheckResult(
        check_name="quarantine_report",
        passed=not quarantined,
        severity=dg.AssetCheckSeverity.WARN,
        description="; ".join(
            f"{r['id']} ({r['origin']}) {r['field']}: {r['reason']}" for r in quarantined[:5]
        )
        or "nothing quarantined",
        metadata={"quarantined": len(quarantined), **{f"field {k}": v for k, v in counts.items()}},
    )


@dg.asset(
    partitions_def=levels_partitions,
    group_name=DATA_GROUP,
    deps=[structures],
    kinds={"json"},
    check_specs=[dg.AssetCheckSpec("no_leakage", asset="splits", blocking=True)],
)
def splits(context: dg.AssetExecutionContext, project: ProjectResource):
    """One seeded train/val/test manifest per partition, shared by every model of that partition."""
    from matassets.data.pipeline import build_splits

    partition = context.partition_key
    claim_level(context, project)
    manifest, report = build_splits(project.layout, partition, DATA[partition])
    materialization = dg.MaterializeResult(
        data_version=dg.DataVersion(manifest.hash),
        metadata={
            **{f"{k} size": v for k, v in manifest.sizes().items()},
            "strategy": manifest.strategy,
            "seed": manifest.seed,
            "split_hash": manifest.hash,
            "data_hash": manifest.data_version,
            "path": dg.MetadataValue.path(str(project.layout.split_manifest(partition))),
        },
    )
    yield versioned(context, project, materialization)
    yield in_partition(
        partition,
        dg.AssetCheckResult(
            check_name="no_leakage",
            passed=not any(report.values()),
            description=", ".join(f"{k}={v}" for k, v in report.items()),
            metadata=report,
        ),
    )


@dg.asset(partitions_def=levels_partitions, group_name=DATA_GROUP, deps=[structures], kinds={"pytorch"})
def crystal_graphs(context: dg.AssetExecutionContext, project: ProjectResource) -> dg.MaterializeResult:
    """Periodic neighbour graphs (preset cutoff / neighbours), cached by data and settings hash."""
    import time

    from matassets.data.pipeline import build_graphs
    from matassets.graphs.sharded import load_store

    partition = context.partition_key
    claim_level(context, project)
    start = time.perf_counter()
    path, cached = build_graphs(project.layout, partition, DATA[partition])
    seconds = time.perf_counter() - start
    stats = load_store(path).stats()
    context.log.info(f"graphs {'reused from cache' if cached else 'built'} in {seconds:.1f}s: {stats}")
    materialization = dg.MaterializeResult(
        data_version=dg.DataVersion(path.stem.removeprefix("graphs-")),
        metadata={
            **stats,
            "cache hit": cached,
            "seconds": round(seconds, 2),
            "path": dg.MetadataValue.path(str(path)),
        },
    )
    return versioned(context, project, materialization)
