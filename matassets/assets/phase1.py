"""Phase 1: one CGCNN asset per property (``cgcnn_<property>``), partitioned by level."""

import dagster as dg

from matassets.assets.common import PresetOverrides, levels_partitions, versioned
from matassets.assets.data import crystal_graphs, splits, structures
from matassets.assets.metadata import model_metadata, regression_table
from matassets.levels import CGCNN, CGCNN_PROPERTIES, DATA
from matassets.references import references_markdown
from matassets.resources import ProjectResource


class TrainOverrides(PresetOverrides):
    """Optional overrides of the partition's preset (0 / empty = keep the preset's value).

    ``seed`` (training seed: initialisation and shuffling; the split never changes), ``nproc``
    (data-parallel training processes, docs/distributed.md) and ``output_tag`` are run options;
    ``RunSpec`` reads them from the overrides.
    """

    epochs: int = 0
    lr: float = 0.0
    batch_size: int = 0
    hidden: int = 0
    n_layers: int = 0
    time_budget_s: float = 0.0  # wall-clock budget; the schedule is sized to it after epoch 1
    weight_decay: float | None = None  # None = the preset's (0 is a valid value here)
    dropout: float | None = None  # None = the preset's (0 is a valid value here)
    seed: int = 0
    nproc: int = 0  # data-parallel training processes on this machine; 0 = one


def phase1_command(prop: str, partition: str) -> str:
    level = "--competition" if partition == "competition" else f"--level {partition}"
    return f"matassets run phase1 {level} --property {prop}"


def cgcnn_asset(prop: str) -> dg.AssetsDefinition:
    name = f"cgcnn_{prop}"

    @dg.asset(
        name=name,
        partitions_def=levels_partitions,
        group_name="phase1",
        deps=[structures, splits, crystal_graphs],
        kinds={"pytorch"},
        tags={"phase": "phase1"},
        pool="training",  # heavy training shares one concurrency pool (docs/automation.md)
        check_specs=[dg.AssetCheckSpec("beats_mean_baseline", asset=name, blocking=True)],
        description=f"CGCNN (Xie & Grossman 2018) predicting {prop}; files in models/{name}/<level>/",
    )
    def _asset(context: dg.AssetExecutionContext, config: TrainOverrides, project: ProjectResource):
        from matassets.training.graph_model import RunSpec, invariant_architecture, train_graph_model

        partition = context.partition_key
        data = DATA[partition]
        preset, overrides = config.apply(CGCNN[partition])
        spec = RunSpec(
            asset=name,
            phase="phase1",
            algorithm="cgcnn",
            tasks=[prop],
            partition=partition,
            architecture=invariant_architecture("cgcnn", preset, data),
            preset=preset,
            data=data,
            command=phase1_command(prop, partition),
            overrides=overrides,
            dagster_run_id=context.run.run_id,
        )
        output = train_graph_model(project.layout, spec, log=context.log.info)
        val = output.metrics["val"][prop]
        result = dg.MaterializeResult(
            metadata={
                "metrics": regression_table(output.metrics, prop),
                "val MAE": val["mae"],
                "test MAE": output.metrics["test"][prop]["mae"],
                "val baseline MAD": val["baseline_mad"],
                "published references": dg.MetadataValue.md(references_markdown(prop)),
                **model_metadata(output, preset, ["parity.png", "learning_curve.png"]),
            }
        )
        yield versioned(context, project, result, spec.output_tag)
        yield dg.AssetCheckResult(
            check_name="beats_mean_baseline",
            passed=val["mae"] < val["baseline_mad"],
            description=f"validation MAE {val['mae']:.4g} vs mean-predictor MAE {val['baseline_mad']:.4g}",
            metadata={"val_mae": val["mae"], "val_baseline_mad": val["baseline_mad"]},
        )

    return _asset


cgcnn_assets = [cgcnn_asset(prop) for prop in CGCNN_PROPERTIES]
