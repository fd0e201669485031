"""A registered extended-XYZ data set's MACE potential, ``D/mace_potential`` (the ``mace`` family
row's ``dataset_asset``, offered for the ``extxyz`` format only).

The frames' energies, forces and stresses (``data.potential_data``), split by the data set's own
split manifest (``D/splits``) and capped by the level's ``MacePreset``, are written to
``data/datasets/D/mace/<level>/``; the potential is trained and judged as the embedded
``mace_potential`` is (``training.potential``: mace-torch's run_train, the test split evaluated
once, beside the E0-only and zero-force baselines) into ``models/datasets/D/mace_potential/<level>/``.
The level's preset is the embedded one's with ``per_element`` off (``resolve_preset``).
"""

import dataclasses

import dagster as dg

from matassets.assets.common import TRAINING_OP_TAGS, levels_partitions, promote_if_passed
from matassets.assets.metadata import headline_numbers, image
from matassets.assets.phase3_mace import MaceOverrides, metrics_table
from matassets.assets.resources import ProjectResource
from matassets.families import Family
from matassets.levels import preset_metadata


def resolve_preset(fam: Family, partition: str, config: MaceOverrides):
    """(preset, overrides, options) of a data set's potential at ``partition``: the level's
    ``MacePreset`` with ``per_element`` false, then the run config's overrides. The embedded std
    level also fits one MACE per element to compare with mlearn's per-element GAP and MTP; a user's
    frames are no such benchmark and may mix elements in a cell, which the per-element fit refuses
    (``training.potential_per_element``). A run config may still set ``per_element: true``."""
    return config.apply(dataclasses.replace(fam.presets[partition], per_element=False))


def mace(dataset: str, fam: Family, prop, data: dict) -> dg.AssetsDefinition:
    """``fam``'s (MACE's) potential on data set ``dataset``'s frames (``prop`` is None: one model
    for the whole data set), in the group of its data assets. Its run config is the embedded
    ``mace_potential``'s (``MaceOverrides``)."""
    splits = data["splits"]
    asset = fam.dataset_asset_name()
    key = dg.AssetKey([dataset, asset])

    @dg.asset(
        key=key,
        partitions_def=levels_partitions,
        group_name=splits.group_names_by_key[splits.key],
        deps=[data["structures"], splits],
        kinds={"pytorch"},
        pool="training",
        op_tags=TRAINING_OP_TAGS,
        # not blocking (WARN), as the embedded one: a smoke potential may not beat the baselines
        check_specs=[dg.AssetCheckSpec("beats_trivial_baselines", asset=key)],
        description=f"{fam.title} on data set {dataset}'s frames (energies, forces, stresses where "
        "given), split by its split manifest; files in "
        f"`models/datasets/{dataset}/{asset}/<level>/`, its training data in "
        f"`data/datasets/{dataset}/mace/<level>/`",
    )
    def _asset(context: dg.AssetExecutionContext, config: MaceOverrides, project: ProjectResource):
        from matassets import datasets
        from matassets.data.pipeline import load_splits
        from matassets.data.potential_data import SPLITS, build_dataset_mace_data
        from matassets.datasets.ingest import EXTXYZ_SUFFIXES
        from matassets.training.gates import beats_baseline
        from matassets.training.potential import train_potential

        partition = context.partition_key
        preset, overrides, options = resolve_preset(fam, partition, config)
        layout = project.layout.for_dataset(dataset)
        folder = datasets.dataset_dir(dataset, layout.root)
        files = [folder / f["path"] for f in datasets.get(dataset, layout.root).files]
        split = load_splits(layout, partition)
        built = build_dataset_mace_data(
            dataset,
            [f for f in files if f.suffix.lower() in EXTXYZ_SUFFIXES],
            {name: list(split.ids(name)) for name in SPLITS},
            layout.mace_data(partition),
            seed=preset.seed,
            caps={f"max_{name}_per_element": getattr(preset, f"max_{name}_per_element") for name in SPLITS},
            dataset_split_hash=split.hash,
        )
        out = train_potential(
            layout,
            layout.mace_data(partition),
            preset,
            partition=partition,
            command=fam.command(partition, dataset=dataset),
            overrides=overrides,
            dagster_run_id=context.run.run_id,
            log=context.log.info,
            force=options.force,
            output_tag=options.output_tag,
            promote=False,
        )
        plots = ("parity_energy", "parity_forces", "learning_curve")
        metadata = {
            "data set": dataset,
            "training data": dg.MetadataValue.path(str(layout.mace_data(partition))),
            "sizes": dg.MetadataValue.json(built["sizes"]),
            "frames in no split": built["frames_not_in_split"],
            "E0s (eV)": dg.MetadataValue.json(built["e0s_eV"]),
            "test errors": metrics_table(out.metrics["test"]),
            "validation errors": metrics_table(out.metrics["val"]),
            **headline_numbers(out.metrics),
            "preset": dg.MetadataValue.json(preset_metadata(preset)),
            "data_hash": out.record["data_hash"],
            "split_hash": out.record["split_hash"],
            **{
                n.replace("_", " "): image(out.model_dir / f"{n}.png")
                for n in plots
                if (out.model_dir / f"{n}.png").exists()
            },
            **({"training": dg.MetadataValue.text(out.skipped)} if out.skipped else {}),
        }
        gate = beats_baseline(out.metrics, "beats_trivial_baselines", blocking=False)
        yield from promote_if_passed(context, project, out, [gate], metadata)

    return _asset
