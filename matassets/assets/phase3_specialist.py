"""Phase 3: ``specialist_<property>``, a wider single-property e3nn model per property.

With warm start (the default) its first blocks are ``multitask_e3nn``'s trained encoder of the same
partition, and further blocks of the specialist's own irreps sit on top; the multitask model is
therefore upstream in the lineage. Both use the partition's one split manifest, and the warm start
is refused if the multitask model was trained on another split, so none of the crystals the
encoder learned from can be in the specialist's test set.
"""

import dagster as dg

from matassets.assets.common import TRAINING_OP_TAGS, levels_partitions, promote_if_passed
from matassets.assets.data import crystal_graphs, splits, structures
from matassets.assets.phase2 import E3nnOverrides, e3nn_metadata, multitask_e3nn
from matassets.assets.resources import ProjectResource
from matassets.families import family
from matassets.levels import DATA, SPECIALIST

FAMILY = family("specialist")


class SpecialistConfig(E3nnOverrides):
    """Warm start from ``multitask_e3nn`` (same partition), and optional preset overrides."""

    warm_start: bool = True


def specialist_asset(prop: str) -> dg.AssetsDefinition:
    name = FAMILY.asset_name(prop)

    @dg.asset(
        name=name,
        partitions_def=levels_partitions,
        group_name=FAMILY.phase,
        deps=[structures, splits, crystal_graphs, multitask_e3nn],
        kinds={"pytorch"},
        tags={"phase": FAMILY.phase},
        pool="training",
        op_tags=TRAINING_OP_TAGS,
        check_specs=[dg.AssetCheckSpec("beats_mean_baseline", asset=name, blocking=True)],
        description=f"e3nn specialist for {prop}, warm-started from multitask_e3nn of the same "
        f"level; files in `models/{name}/<level>/`",
    )
    def _asset(context: dg.AssetExecutionContext, config: SpecialistConfig, project: ProjectResource):
        import json

        from matassets.models.e3nn_multitask import architecture, warm_architecture
        from matassets.training.gates import beats_baseline
        from matassets.training.graph_model import RunSpec, train_graph_model

        partition = context.partition_key
        data = DATA[partition]
        preset, overrides, options = config.apply(SPECIALIST[partition])
        source = project.layout.model_dir("multitask_e3nn", partition)
        if config.warm_start:
            if not (source / "config.json").exists():
                raise dg.Failure(
                    f"warm start needs multitask_e3nn [{partition}] (nothing in {source}): "
                    "materialize it first, or run with warm_start: false"
                )
            encoder = json.loads((source / "config.json").read_text(encoding="utf-8"))["architecture"]
            arch = warm_architecture(encoder, preset, n_out=1)
        else:
            overrides["warm_start"] = False
            arch = architecture(preset, data.cutoff, data.max_neighbors, n_out=1)
        spec = RunSpec(
            asset=name,
            phase=FAMILY.phase,
            algorithm=FAMILY.algorithm,
            tasks=[prop],
            partition=partition,
            architecture=arch,
            preset=preset,
            data=data,
            command=FAMILY.command(partition, prop),
            overrides=overrides,
            options=options,
            dagster_run_id=context.run.run_id,
            warm_start=str(source) if config.warm_start else None,
        )
        output = train_graph_model(project.layout, spec, log=context.log.info, promote=False)
        meta = e3nn_metadata(output, preset, [prop])
        meta["val MAE"] = output.metrics["val"][prop]["mae"]
        meta["test MAE"] = output.metrics["test"][prop]["mae"]
        yield from promote_if_passed(context, project, output, [beats_baseline(output.metrics)], meta)

    return _asset


specialist_assets = [specialist_asset(prop) for prop in FAMILY.properties]
