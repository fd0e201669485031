"""Phase 4: the topological-materials database and two classifiers, partitioned by level.

``topo_db`` (SQLite, ``data/topo/<level>/topo.db``), ``topo_classifier_rf`` (Magpie composition random
forest on every Arsenal label) and ``topo_classifier_gnn`` (TopoGNN on the Phase 1 graphs, shared
trainer). The labels are symmetry-indicator classes, not the JARVIS spillage label (docs/phase4_topology.md).
"""

import dagster as dg

from matassets.assets.common import (
    TRAINING_OP_TAGS,
    in_partition,
    levels_partitions,
    overrides_config,
    promote_if_passed,
    table_metadata,
    versioned,
)
from matassets.assets.data import crystal_graphs, splits, structures
from matassets.assets.metadata import image, model_metadata, split_table
from matassets.assets.resources import ProjectResource
from matassets.families import family
from matassets.levels import DATA, TOPO_GNN, TOPO_RF, preset_metadata

FOREST, TOPOGNN = family("random_forest"), family("topognn")

CLASSIFICATION_COLUMNS = (
    "n",
    "accuracy",
    "balanced_accuracy",
    "f1",
    "roc_auc",
    "baseline_accuracy",
    "threshold",
)


def classification_table(metrics: dict, task: str = "topo_label") -> dg.MetadataValue:
    """Train/val/test rows of the classification metrics, the majority-class baseline beside them."""
    return split_table(metrics, task, CLASSIFICATION_COLUMNS)


PUBLISHED_ANCHORS = dg.MetadataValue.md(
    "| model | accuracy | label / data caveat |\n|---|---|---|\n"
    "| Topogivity (Ma et al., Nano Lett. 23, 772 (2023)) | ~0.80 | same Arsenal labels, composition "
    "only, their own split |\n"
    "| JARVIS spillage classifiers | 0.81-0.84 | spillage >= 0.5 label on JARVIS-DFT crystals: a "
    "different label |"
)


@dg.asset(
    partitions_def=levels_partitions,
    group_name=FOREST.phase,
    deps=[structures],
    kinds={"sqlite"},
    tags={"phase": FOREST.phase},
    check_specs=[dg.AssetCheckSpec("labels_match_canonical_table", asset="topo_db", blocking=True)],
)
def topo_db(context: dg.AssetExecutionContext, project: ProjectResource):
    """SQLite database of topological labels (Arsenal + curated literature [+ JARVIS spillage]) on the
    level's crystals; ``data/topo/<level>/topo.db``, rebuilt idempotently."""
    from matassets.topo.db import build_for_partition

    report = build_for_partition(project.layout, context.partition_key)
    for row in report.unparsable[:20]:
        context.log.warning(f"unreadable label line {row}")
    result = dg.MaterializeResult(
        data_version=dg.DataVersion(report.content_hash),
        metadata={
            "path": dg.MetadataValue.path(str(report.path)),
            "content_hash": report.content_hash,
            "rows": dg.MetadataValue.json(report.counts),
            "Arsenal label files": dg.MetadataValue.json(report.arsenal),
            "crystals joined on (formula, space group)": dg.MetadataValue.json(report.join),
            "curated spot checks": table_metadata(
                [
                    {k: r[k] for k in ("formula", "spacegroup", "curated_class", "database_class")}
                    | {"agrees": r["binary_agrees"], "crystals": r["n_crystals"]}
                    for r in report.curated
                ]
            ),
        },
    )
    yield versioned(context, project, result)
    check = report.canonical_check
    yield in_partition(
        context.partition_key,
        dg.AssetCheckResult(
            check_name="labels_match_canonical_table",
            passed=check["disagree"] == 0 and report.counts["labels"] > 0,
            description=", ".join(f"{k}: {v}" for k, v in check.items()),
            metadata=check,
        ),
    )


ForestOverrides = overrides_config(
    "ForestOverrides",
    TOPO_RF,
    options=(),
    exclude=("seed", "split_fractions"),
    doc="Optional overrides of the partition's ForestPreset (None = keep; ``unset: [max_depth]`` for "
    "unbounded trees). No seed: the forest's seed also draws its grouped split, which a run must not move.",
)
TopoGnnOverrides = overrides_config("TopoGnnOverrides", TOPO_GNN)


@dg.asset(
    partitions_def=levels_partitions,
    group_name=FOREST.phase,
    deps=[topo_db],
    kinds={"scikitlearn"},
    tags={"phase": FOREST.phase},
    pool="training",  # short, but the fit uses every core (n_jobs): wait rather than share them
    op_tags=TRAINING_OP_TAGS,
    check_specs=[dg.AssetCheckSpec("beats_majority_baseline", asset="topo_classifier_rf", blocking=True)],
)
def topo_classifier_rf(context: dg.AssetExecutionContext, config: ForestOverrides, project: ProjectResource):
    """Random forest on Magpie composition (+ space group) features of every Arsenal label, split by
    formula; files in ``models/topo_classifier_rf/<level>/`` (skops, no pickle), a tuning round's in
    ``models/topo_classifier_rf/tuning/<output_tag>/``."""
    from matassets.topo.db import topo_db_path
    from matassets.training.gates import beats_baseline
    from matassets.training.random_forest import train_forest

    partition = context.partition_key
    preset, overrides, options = config.apply(TOPO_RF[partition])
    out = train_forest(
        project.layout,
        partition,
        preset,
        topo_db_path(project.layout, partition),
        command=FOREST.command(partition),
        overrides=overrides,
        dagster_run_id=context.run.run_id,
        output_tag=options.output_tag,
        log=context.log.info,
        force=options.force,
        promote=False,
    )
    val, test = out.metrics["val"]["topo_label"], out.metrics["test"]["topo_label"]
    record = out.record
    threshold = out.details["threshold"]
    metadata = {
        "metrics": classification_table(out.metrics),
        "val balanced accuracy": val["balanced_accuracy"],
        "test accuracy": test["accuracy"],
        "test majority baseline": test["baseline_accuracy"],
        "threshold (chosen on val)": threshold,
        "published anchors": PUBLISHED_ANCHORS,
        "selection (val ROC-AUC)": table_metadata(out.details["selection"]),
        "preset": dg.MetadataValue.json(preset_metadata(preset)),
        "data_hash": record["data_hash"],
        "split_hash": record["split_hash"],
        "duration s": record["duration_s"],
        "command": dg.MetadataValue.text(record["command"]),
        "roc": image(out.model_dir / "roc.png"),
        "confusion": image(out.model_dir / "confusion.png"),
        **({"training": dg.MetadataValue.text(out.skipped)} if out.skipped else {}),
    }
    yield from promote_if_passed(context, project, out, [beats_baseline(out.metrics)], metadata)


@dg.asset(
    partitions_def=levels_partitions,
    group_name=FOREST.phase,
    deps=[structures, splits, crystal_graphs, topo_db],
    kinds={"pytorch"},
    tags={"phase": FOREST.phase},
    pool="training",
    op_tags=TRAINING_OP_TAGS,
    check_specs=[dg.AssetCheckSpec("beats_majority_baseline", asset="topo_classifier_gnn", blocking=True)],
)
def topo_classifier_gnn(
    context: dg.AssetExecutionContext, config: TopoGnnOverrides, project: ProjectResource
):
    """TopoGNN (gated graph convolutions, mean‖max readout) classifying topo_label on the Phase 1
    graphs with the shared trainer; files in ``models/topo_classifier_gnn/<level>/``."""
    import json

    from matassets.training.classification import threshold_report
    from matassets.training.gates import beats_baseline
    from matassets.training.graph_model import RunSpec, invariant_architecture, train_graph_model
    from matassets.training.model_folder import seal

    partition = context.partition_key
    data = DATA[partition]
    preset, overrides, options = config.apply(TOPO_GNN[partition])
    spec = RunSpec(
        asset=TOPOGNN.asset,
        phase=TOPOGNN.phase,
        algorithm=TOPOGNN.algorithm,
        tasks=["topo_label"],
        partition=partition,
        architecture=invariant_architecture("topognn", preset, data),
        preset=preset,
        data=data,
        command=TOPOGNN.command(partition),
        overrides=overrides,
        options=options,
        dagster_run_id=context.run.run_id,
    )
    out = train_graph_model(project.layout, spec, log=context.log.info, promote=False)
    majority = json.loads((out.model_dir / "normalization.json").read_text())["majority"]
    if out.skipped and (out.model_dir / "threshold.json").exists():
        tuned = json.loads((out.model_dir / "threshold.json").read_text())  # already reported
    else:  # the candidate's threshold report, then its hashes again
        tuned = threshold_report(out.model_dir, "topo_label", majority)
        seal(out.model_dir)
    val = out.metrics["val"]["topo_label"]
    metadata = {
        "metrics (threshold 0.5)": classification_table(out.metrics),
        "metrics (threshold chosen on val)": classification_table(tuned),
        "threshold (chosen on val)": tuned["threshold"],
        "published anchors": PUBLISHED_ANCHORS,
        "val balanced accuracy": val["balanced_accuracy"],
        "test accuracy": out.metrics["test"]["topo_label"]["accuracy"],
        "test majority baseline": out.metrics["test"]["topo_label"]["baseline_accuracy"],
        **model_metadata(
            out, preset, ["confusion.png", "roc.png", "confusion_threshold.png", "learning_curve.png"]
        ),
    }
    yield from promote_if_passed(context, project, out, [beats_baseline(out.metrics)], metadata)


phase4_assets = [topo_db, topo_classifier_rf, topo_classifier_gnn]
