"""Phase 2: ``multitask_e3nn``, one E(3)-equivariant model for a group of properties."""

import dagster as dg

from matassets.assets.common import TRAINING_OP_TAGS, levels_partitions, overrides_config, promote_if_passed
from matassets.assets.data import crystal_graphs, splits, structures
from matassets.assets.metadata import model_metadata, regression_table
from matassets.assets.resources import ProjectResource
from matassets.families import family
from matassets.levels import DATA, E3NN_MULTITASK, MULTITASK_PROPERTIES
from matassets.reports.tables import markdown_table

FAMILY = family("e3nn_multitask")
E3nnOverrides = overrides_config(
    "E3nnOverrides",
    E3NN_MULTITASK,
    doc="Optional overrides of the partition's E3nnPreset (None = keep), ``seed`` (training seed; the "
    "split never changes) and ``nproc`` (data-parallel training processes, docs/distributed.md).",
)


class MultitaskConfig(E3nnOverrides):
    """The property group (canonical target names) and optional preset overrides."""

    properties: list[str] = list(MULTITASK_PROPERTIES)

    def tasks(self) -> list[str]:
        from matassets.data import schema

        bad = [
            p for p in self.properties if p not in schema.TARGETS or schema.TARGETS[p].kind != "regression"
        ]
        if bad or not self.properties or len(set(self.properties)) != len(self.properties):
            known = [t for t, v in schema.TARGETS.items() if v.kind == "regression"]
            raise dg.Failure(f"properties must be distinct regression targets {known}; got {bad}")
        return list(self.properties)


def unit_free_score(val_metrics: dict) -> float:
    """Mean over tasks of validation MAE / MAD: the score model selection uses (lower is better)."""
    ratios = [m["mae"] / m["baseline_mad"] for m in val_metrics.values() if m.get("n")]
    return sum(ratios) / len(ratios) if ratios else float("nan")


def task_table(metrics: dict, tasks: list[str], weights: dict | None) -> dg.MetadataValue:
    """One row per property: labelled counts, validation / test MAE beside the mean predictor."""
    from matassets.data.schema import TARGETS

    head = ["property", "unit", "n train/val/test", "val MAE", "val MAD", "val MAE/MAD", "test MAE"]
    head += ["test MAD", "test R²", "learned weight"]
    rows = []
    for t in tasks:
        val, test = metrics["val"][t], metrics["test"][t]
        n = "/".join(str(metrics[s][t].get("n", 0)) for s in ("train", "val", "test"))
        w = f"{weights[t]:.3g}" if weights else "fixed (1)"
        ratio = val["mae"] / val["baseline_mad"]
        rows.append([t, TARGETS[t].unit, n, val["mae"], val["baseline_mad"], ratio, test["mae"]])
        rows[-1] += [test["baseline_mad"], test["r2"], w]
    return dg.MetadataValue.md(markdown_table(head, rows))


def e3nn_metadata(output, preset, tasks: list[str]) -> dict:
    """Per-task tables and plots, the unit-free score and the learned task weights."""
    import json

    norm = json.loads((output.model_dir / "normalization.json").read_text(encoding="utf-8"))
    weights = norm.get("task_weights")
    parity = ["parity.png"] if len(tasks) == 1 else [f"parity_{t}.png" for t in tasks]
    meta = {
        "tasks": task_table(output.metrics, tasks, weights),
        "val score (mean MAE/MAD)": unit_free_score(output.metrics["val"]),
        "test score (mean MAE/MAD)": unit_free_score(output.metrics["test"]),
        **{f"metrics {t}": regression_table(output.metrics, t) for t in tasks},
        **model_metadata(output, preset, parity + ["learning_curve.png"]),
    }
    if weights:
        meta["learned task weights"] = dg.MetadataValue.json(weights)
    return meta


@dg.asset(
    partitions_def=levels_partitions,
    group_name=FAMILY.phase,
    deps=[structures, splits, crystal_graphs],
    kinds={"pytorch"},
    tags={"phase": FAMILY.phase},
    pool="training",
    op_tags=TRAINING_OP_TAGS,
    check_specs=[dg.AssetCheckSpec("beats_mean_baseline", asset=FAMILY.asset, blocking=True)],
)
def multitask_e3nn(context: dg.AssetExecutionContext, config: MultitaskConfig, project: ProjectResource):
    """E(3)-equivariant e3nn network, one head per property, trained with a masked loss: a crystal
    missing a property still trains the others. Files in ``models/multitask_e3nn/<level>/``."""
    from matassets.models.e3nn_multitask import architecture
    from matassets.training.gates import beats_baseline
    from matassets.training.graph_model import RunSpec, train_graph_model

    partition = context.partition_key
    data = DATA[partition]
    tasks = config.tasks()
    preset, overrides, options = config.apply(E3NN_MULTITASK[partition])
    if tasks != list(MULTITASK_PROPERTIES):
        overrides["properties"] = tasks
    spec = RunSpec(
        asset=FAMILY.asset,
        phase=FAMILY.phase,
        algorithm=FAMILY.algorithm,
        tasks=tasks,
        partition=partition,
        architecture=architecture(preset, data.cutoff, data.max_neighbors, len(tasks)),
        preset=preset,
        data=data,
        command=FAMILY.command(partition),
        overrides=overrides,
        options=options,
        dagster_run_id=context.run.run_id,
    )
    output = train_graph_model(project.layout, spec, log=context.log.info, promote=False)
    metadata = e3nn_metadata(output, preset, tasks)
    yield from promote_if_passed(context, project, output, [beats_baseline(output.metrics)], metadata)
