"""Phase 1: one asset per property of each invariant property-model family (``cgcnn_<property>``,
``schnet_<property>``), partitioned by level; the same asset factory serves every such family."""

from pathlib import Path

import dagster as dg

from matassets.assets.common import TRAINING_OP_TAGS, levels_partitions, overrides_config, promote_if_passed
from matassets.assets.data import crystal_graphs, splits, structures
from matassets.assets.metadata import model_metadata, regression_table
from matassets.assets.resources import ProjectResource
from matassets.families import Family, family
from matassets.levels import CGCNN, DATA
from matassets.paths import Layout
from matassets.reports.references import references_markdown

FAMILY, SCHNET = family("cgcnn"), family("schnet")
TrainOverrides = overrides_config(
    "TrainOverrides",
    CGCNN,
    doc="Optional overrides of the partition's TrainPreset (None = keep), ``seed`` (training seed: "
    "initialisation and shuffling; the split never changes) and ``nproc`` (data-parallel training "
    "processes, docs/distributed.md).",
)


class PropertyModelConfig(TrainOverrides):
    """``warm_start_from``: another property whose model of the same family and level initialises
    this one's embedding and convolutions (its head and per-element term start fresh), e.g. band
    gap from formation energy; that model must exist, on the same split and with the same width and
    depth. None (the default) trains from a random start."""

    warm_start_from: str | None = None


def warm_start_source(
    layout: Layout, assets: dict[str, str], title: str, prop: str, partition: str, source: str | None
) -> Path | None:
    """The model folder that warms the ``prop`` model at ``partition`` (None without one), or a
    ``dg.Failure`` saying what to choose or to materialize first. ``assets``: each property with a
    model of the same family (the embedded set's, or a registered data set's) → its asset name."""
    if source is None:
        return None
    if source == prop or source not in assets:
        choices = ", ".join(p for p in assets if p != prop)
        raise dg.Failure(f"warm_start_from={source!r}: choose one of {choices} (another property of {title})")
    folder = layout.model_dir(assets[source], partition)
    if not (folder / "model.pt").exists():
        raise dg.Failure(
            f"warm start needs {assets[source]} [{partition}] (nothing in {folder}): "
            "materialize it first, or leave warm_start_from unset"
        )
    return folder


def property_model_asset(fam: Family, prop: str) -> dg.AssetsDefinition:
    """The asset of ``fam``'s model for ``prop``, trained by the one GNN trainer."""
    name = fam.asset_name(prop)

    @dg.asset(
        name=name,
        partitions_def=levels_partitions,
        group_name=fam.phase,
        deps=[structures, splits, crystal_graphs],
        kinds={"pytorch"},
        tags={"phase": fam.phase},
        pool="training",  # heavy training shares one concurrency pool (docs/automation.md)
        op_tags=TRAINING_OP_TAGS,
        check_specs=[dg.AssetCheckSpec("beats_mean_baseline", asset=name, blocking=True)],
        description=f"{fam.title} predicting {prop}; files in `models/{name}/<level>/`",
    )
    def _asset(context: dg.AssetExecutionContext, config: PropertyModelConfig, project: ProjectResource):
        from matassets.training.gates import beats_baseline
        from matassets.training.graph_model import RunSpec, invariant_architecture, train_graph_model

        partition = context.partition_key
        data = DATA[partition]
        preset, overrides, options = config.apply(fam.presets[partition])
        assets = {p: fam.asset_name(p) for p in fam.properties}
        warm = warm_start_source(project.layout, assets, fam.title, prop, partition, config.warm_start_from)
        if warm is not None:
            overrides["warm_start_from"] = config.warm_start_from
        spec = RunSpec(
            asset=name,
            phase=fam.phase,
            algorithm=fam.algorithm,
            tasks=[prop],
            partition=partition,
            architecture=invariant_architecture(fam.architecture, preset, data),
            preset=preset,
            data=data,
            command=fam.command(partition, prop),
            overrides=overrides,
            options=options,
            dagster_run_id=context.run.run_id,
            warm_start=str(warm) if warm is not None else None,
        )
        output = train_graph_model(project.layout, spec, log=context.log.info, promote=False)
        val = output.metrics["val"][prop]
        metadata = {
            "metrics": regression_table(output.metrics, prop),
            "val MAE": val["mae"],
            "test MAE": output.metrics["test"][prop]["mae"],
            "val baseline MAD": val["baseline_mad"],
            "published references": dg.MetadataValue.md(references_markdown(prop)),
            **model_metadata(output, preset, ["parity.png", "learning_curve.png"]),
        }
        yield from promote_if_passed(context, project, output, [beats_baseline(output.metrics)], metadata)

    return _asset


def cgcnn_asset(prop: str) -> dg.AssetsDefinition:
    return property_model_asset(FAMILY, prop)


cgcnn_assets = [cgcnn_asset(prop) for prop in FAMILY.properties]
schnet_assets = [property_model_asset(SCHNET, prop) for prop in SCHNET.properties]
