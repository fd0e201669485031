"""The model assets of a registered data set D (``assets/datasets.py`` builds D's data assets and
calls these, one per property of each family, ``families.dataset_models``): ``D/cgcnn_<property>``
and ``D/specialist_<property>`` on D's graphs (the one GNN trainer, the embedded set's run config),
``D/forest_<property>`` on composition; each judged by a blocking baseline check and promoted into
``models/datasets/D/`` only when it passes. ``D/mace_potential`` is ``assets/dataset_potential.py``.
"""

import dagster as dg

from matassets.assets.common import TRAINING_OP_TAGS, levels_partitions, promote_if_passed, table_metadata
from matassets.assets.phase1 import PropertyModelConfig, warm_start_source
from matassets.assets.phase2 import E3nnOverrides, e3nn_metadata
from matassets.assets.phase4_topo import ForestOverrides
from matassets.assets.resources import ProjectResource
from matassets.families import Family
from matassets.levels import DATA, dataset_train_preset, preset_metadata


class DatasetProject:
    """The project resource seen by one data set's assets: its layout is the data set's."""

    def __init__(self, project: ProjectResource, dataset: str) -> None:
        self._project, self.layout = project, project.layout.for_dataset(dataset)

    def __getattr__(self, name: str):
        return getattr(self._project, name)


def group_name(dataset: str) -> str:
    return f"dataset_{dataset}"


def _model_asset(dataset: str, fam: Family, prop, deps: list, kind: str, note: str = ""):
    """The ``dg.asset`` decorator of ``fam``'s model of ``prop`` on the data set: its blocking
    baseline check (the majority class for a classification property, the mean predictor for a
    regression one), the training pool, and where its files go (``note``: a sentence after it)."""
    asset = fam.dataset_asset_name(prop.name)
    asset_key = dg.AssetKey([dataset, asset])
    gate = "beats_majority_baseline" if prop.task == "classification" else "beats_mean_baseline"
    return dg.asset(
        key=asset_key,
        partitions_def=levels_partitions,
        group_name=group_name(dataset),
        deps=deps,
        kinds={kind},
        check_specs=[dg.AssetCheckSpec(gate, asset=asset_key, blocking=True)],
        pool="training",
        op_tags=TRAINING_OP_TAGS,
        description=f"{fam.title} on data set {dataset}: {prop.name} ({prop.unit or 'no unit'}, "
        f"{prop.task}); files in `models/datasets/{dataset}/{asset}/<level>/`"
        + (f". {note}" if note else ""),
    )


def graph_model(dataset: str, fam: Family, prop, data: dict) -> dg.AssetsDefinition:
    """CGCNN or the e3nn specialist on one property of the data set: a regressor (mean baseline) or,
    for a classification property, a classifier (majority baseline), as the shared trainer decides
    from the task. Its run config is the embedded set's: ``cgcnn_<property>``'s (``TrainOverrides``)
    or ``multitask_e3nn``'s (``E3nnOverrides``): preset overrides, seed, nproc, force, and
    ``output_tag`` for a tuning round's candidate, never promoted here. Its batch size scales to
    the property's training crystals unless the run config sets it (``levels.dataset_train_preset``).
    CGCNN takes ``warm_start_from`` as the embedded set's does (``PropertyModelConfig``), from the
    data set's own model of another property. The specialist is trained from scratch: the embedded
    one's warm start reads ``multitask_e3nn``, which no data set has."""
    asset = fam.dataset_asset_name(prop.name)
    e3nn = fam.architecture == "e3nn"
    run_config = E3nnOverrides if e3nn else PropertyModelConfig
    note = "Trained from scratch: no warm start (multitask_e3nn is the embedded set's only)" if e3nn else ""

    @_model_asset(dataset, fam, prop, list(data.values()), "pytorch", note)
    def _asset(context: dg.AssetExecutionContext, config: run_config, project: ProjectResource):
        from matassets import datasets
        from matassets.data import schema
        from matassets.models.e3nn_multitask import architecture
        from matassets.training.gates import beats_baseline
        from matassets.training.graph_model import (
            RunSpec,
            invariant_architecture,
            labelled_splits,
            train_graph_model,
        )

        schema.register_properties([prop])
        partition = context.partition_key
        data = DATA[partition]
        preset, overrides, options = config.apply(fam.presets[partition])  # as the embedded set's
        local = DatasetProject(project, dataset)
        train = labelled_splits(local.layout, partition, [prop.name])[0]["train"]
        preset, scaled = dataset_train_preset(preset, train.height, overrides)
        for why in scaled.values():
            context.log.info(f"{dataset}/{asset} [{partition}]: {why}")
        warm = None
        if not e3nn:
            names = datasets.get(dataset, project.layout.root).property_names()
            assets = {p: fam.dataset_asset_name(p) for p in names}
            title, source = f"{fam.title} on data set {dataset}", config.warm_start_from
            warm = warm_start_source(local.layout, assets, title, prop.name, partition, source)
        if warm is not None:
            overrides["warm_start_from"] = source
        spec = RunSpec(
            asset=asset,
            phase=fam.phase,
            algorithm=fam.algorithm,
            tasks=[prop.name],
            partition=partition,
            architecture=architecture(preset, data.cutoff, data.max_neighbors, n_out=1)
            if e3nn
            else invariant_architecture(fam.architecture, preset, data),
            preset=preset,
            data=data,
            command=train_command(dataset, partition, prop.name, fam),
            overrides=overrides,
            scaled=scaled,
            options=options,
            dagster_run_id=context.run.run_id,
            warm_start=str(warm) if warm is not None else None,
        )
        output = train_graph_model(local.layout, spec, log=context.log.info, promote=False)
        metrics = output.metrics
        metadata = {
            "data set": dataset,
            "property": f"{prop.name} ({prop.unit or 'no unit'}, {prop.task})",
            "metrics": dg.MetadataValue.json(metrics),
            "preset": dg.MetadataValue.json(preset_metadata(preset)),
            **({"warm start": "none (trained from scratch)"} if e3nn else {}),
            **({"warm start": dg.MetadataValue.json(output.record["warm_start"])} if warm else {}),
        }
        if e3nn and prop.task == "regression":  # the embedded specialist's tables and plots (MAE-based)
            metadata.update(e3nn_metadata(output, preset, [prop.name]))
        yield from promote_if_passed(context, local, output, [beats_baseline(metrics)], metadata)

    return _asset


def forest(dataset: str, fam: Family, prop, data: dict) -> dg.AssetsDefinition:
    """A random forest on composition for one property of the data set, on its structures and its
    split (``training.property_forest``): a regressor or a classifier by the property's task. Its run
    config is ``topo_classifier_rf``'s (``ForestOverrides``: preset overrides, force, output_tag)."""
    asset = fam.dataset_asset_name(prop.name)

    @_model_asset(dataset, fam, prop, [data["structures"], data["splits"]], "scikitlearn")
    def _asset(context: dg.AssetExecutionContext, config: ForestOverrides, project: ProjectResource):
        from matassets.training.gates import beats_baseline
        from matassets.training.property_forest import train_property_forest

        partition = context.partition_key
        preset, overrides, options = config.apply(fam.presets[partition])
        local = DatasetProject(project, dataset)
        output = train_property_forest(
            local.layout,
            asset,
            prop,
            partition,
            preset,
            command=train_command(dataset, partition, prop.name, fam),
            phase=fam.phase,
            algorithm=fam.algorithm,
            overrides=overrides,
            dagster_run_id=context.run.run_id,
            output_tag=options.output_tag,
            log=context.log.info,
            force=options.force,
        )
        metadata = {
            "data set": dataset,
            "property": f"{prop.name} ({prop.unit or 'no unit'}, {prop.task})",
            "metrics": dg.MetadataValue.json(output.metrics),
            "selection (validation)": table_metadata(output.details["selection"]),
            "preset": dg.MetadataValue.json(preset_metadata(preset)),
            **({"training": dg.MetadataValue.text(output.skipped)} if output.skipped else {}),
        }
        yield from promote_if_passed(context, local, output, [beats_baseline(output.metrics)], metadata)

    return _asset


def train_command(dataset: str, partition: str, prop: str, fam: Family | None = None) -> str:
    """The command that trains data set ``dataset``'s model of ``prop`` (its run record's): its
    CGCNN by ``dataset train``, another family's by ``run phase1 --dataset --algorithm``."""
    if fam is None or fam.name == "cgcnn":
        return f"matassets dataset train {dataset} --level {partition} --property {prop}"
    return (
        f"matassets run phase1 --dataset {dataset} --algorithm {fam.algorithm} --level {partition} "
        f"--property {prop}"
    )
