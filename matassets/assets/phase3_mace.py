"""Phase 3: a MACE interatomic potential on the mlearn DFT data, partitioned by level.

``mace_training_data`` writes ``data/mace/<level>/{train,val,test}.xyz`` and ``manifest.json``
(units, E0s, dedupe report); ``mace_potential`` trains one MACE model for all six elements with
mace-torch's own trainer in a subprocess and writes ``models/mace_potential/<level>/``.
docs/phase3_mace.md explains the choices.
"""

from pathlib import Path

import dagster as dg

from matassets.assets.common import (
    TRAINING_OP_TAGS,
    levels_partitions,
    overrides_config,
    promote_if_passed,
    versioned,
)
from matassets.assets.metadata import headline_numbers, image
from matassets.assets.resources import ProjectResource
from matassets.families import family
from matassets.levels import MACE, preset_metadata
from matassets.paths import Layout
from matassets.reports.tables import markdown_table

FAMILY = family("mace")
MACE_DATA_OUT = Layout(Path("")).mace_data("{partition}").as_posix()  # dvc.yaml's template

METRIC_COLUMNS = (
    ("n_configs", "configs", "{}"),
    ("energy_mae_meV_per_atom", "E MAE meV/atom", "{:.2f}"),
    ("energy_baseline_mae_meV_per_atom", "E0-only MAE", "{:.1f}"),
    ("force_mae_meV_per_A", "F MAE meV/Å", "{:.1f}"),
    ("force_baseline_mae_meV_per_A", "zero-F MAE", "{:.0f}"),
    ("stress_mae_GPa", "σ MAE GPa", "{:.3f}"),
    ("stress_baseline_mae_GPa", "zero-σ MAE", "{:.2f}"),
)
REFERENCE_CAVEAT = (
    "Our training set drops the test cells' symmetry-equivalent twins (docs/phase3_mace.md); theirs "
    "kept them, which flatters their errors on the elastic cells."
)


def published_references(test_metrics: dict) -> dg.MetadataValue:
    """GAP and MTP (Zuo et al. 2020) per element beside this model's test errors."""
    from matassets.reports.references import mlearn_references_markdown

    ours = {
        el: (m["energy_mae_meV_per_atom"], m["force_mae_meV_per_A"])
        for el, m in test_metrics.items()
        if el != "all"
    }
    return dg.MetadataValue.md(mlearn_references_markdown(ours) + " " + REFERENCE_CAVEAT)


def mace_data_dir(project: ProjectResource, partition: str):
    return project.layout.mace_data(partition)


def per_element_metadata(model_dir: Path) -> dict[str, dg.MetadataValue]:
    """The per-element models' epochs and errors (``--set per_element=true``), beside GAP and MTP;
    nothing for a folder without them."""
    import json

    metrics = json.loads((model_dir / "metrics.json").read_text(encoding="utf-8"))
    per = metrics.get("per_element")
    if not per:
        return {}
    return {
        "per-element models: epochs run": dg.MetadataValue.json(metrics.get("per_element_epochs_run", {})),
        "per-element models: test errors": metrics_table(per["test"]),
        "per-element models: validation errors": metrics_table(per["val"]),
        "per-element models: published references": published_references(per["test"]),
    }


def metrics_table(split_metrics: dict) -> dg.MetadataValue:
    """One row per element (and 'all') of a split's errors, baselines beside them."""
    header = ["element", *(label for _, label, _ in METRIC_COLUMNS)]
    rows = [
        [element, *(fmt.format(m[key]) if key in m else "" for key, _, fmt in METRIC_COLUMNS)]
        for element, m in sorted(split_metrics.items(), key=lambda kv: (kv[0] != "all", kv[0]))
    ]
    return dg.MetadataValue.md(markdown_table(header, rows))


@dg.asset(
    partitions_def=levels_partitions,
    group_name=FAMILY.phase,
    kinds={"python"},
    tags={"phase": FAMILY.phase},
    metadata={
        "dvc_outs": [Layout(Path("")).mace_data("{partition}").as_posix()],
        "dvc_deps": ["data/mlearn"],
    },
)
def mace_training_data(context: dg.AssetExecutionContext, project: ProjectResource):
    """mlearn DFT energies/forces/stresses (Cu Ge Li Mo Ni Si) checked, deduplicated and split
    (test = the official mlearn test); extended XYZ with REF_energy/REF_forces/REF_stress in
    ``data/mace/<level>/``."""
    from matassets.data.mlearn import build_mace_data, source_root

    partition = context.partition_key
    p = MACE[partition]
    manifest = build_mace_data(
        source_root(project.layout.root),
        mace_data_dir(project, partition),
        elements=p.elements,
        val_fraction=p.val_fraction,
        seed=p.seed,
        max_train_per_element=p.max_train_per_element,
        max_val_per_element=p.max_val_per_element,
        max_test_per_element=p.max_test_per_element,
    )
    dedupe = [{"element": el, **r} for el, r in manifest["dedupe"].items()]
    result = dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(mace_data_dir(project, partition))),
            "sizes": dg.MetadataValue.json(manifest["sizes"]),
            "E0s (eV)": dg.MetadataValue.json(manifest["e0s_eV"]),
            "E0s method": manifest["e0s_method"],
            "units": dg.MetadataValue.json(manifest["units"]),
            "dedupe and checks": dg.MetadataValue.json(dedupe),
            "records kept out of training": len(manifest["dropped"]),
            "data_hash": manifest["data_hash"],
            "split_hash": manifest["split_hash"],
        }
    )
    return versioned(context, project, result)


MaceOverrides = overrides_config(
    "MacePresetOverrides",
    MACE,
    options=(),
    doc="Optional overrides of the partition's MacePreset (None = keep; ``device: cuda`` trains on "
    "a GPU; ``per_element: true`` also one MACE per element beside the one-for-all model, as GAP and "
    "MTP are fit, each judged on its element's official test); ``output_tag``: a tuning round, "
    "written to models/mace_potential/tuning/<tag>/.",
)


@dg.asset(
    partitions_def=levels_partitions,
    group_name=FAMILY.phase,
    deps=[mace_training_data],
    kinds={"pytorch"},
    tags={"phase": FAMILY.phase},
    pool="training",
    op_tags=TRAINING_OP_TAGS,
    check_specs=[dg.AssetCheckSpec("beats_trivial_baselines", asset="mace_potential")],
)
def mace_potential(context: dg.AssetExecutionContext, config: MaceOverrides, project: ProjectResource):
    """MACE (Batatia et al. 2022) trained with mace-torch's run_train on all six mlearn elements;
    evaluated per element on the official mlearn test; files in ``models/mace_potential/<level>/``."""
    from matassets.training.gates import beats_baseline
    from matassets.training.potential import train_potential

    partition = context.partition_key
    preset, overrides, options = config.apply(MACE[partition])
    out = train_potential(
        project.layout,
        mace_data_dir(project, partition),
        preset,
        partition=partition,
        command=FAMILY.command(partition),
        overrides=overrides,
        dagster_run_id=context.run.run_id,
        log=context.log.info,
        force=options.force,
        output_tag=options.output_tag,
        promote=False,
    )
    test = out.metrics["test"]["all"]
    plots = {
        name: out.model_dir / f"{name}.png" for name in ("parity_energy", "parity_forces", "learning_curve")
    }
    metadata = {
        "test errors per element": metrics_table(out.metrics["test"]),
        "validation errors per element": metrics_table(out.metrics["val"]),
        "test energy MAE (meV/atom)": test["energy_mae_meV_per_atom"],
        "test force MAE (meV/Å)": test["force_mae_meV_per_A"],
        "test stress MAE (GPa)": test.get("stress_mae_GPa", float("nan")),
        **headline_numbers(out.metrics),  # the same names as every model's: baselines and ratios too
        "published references": published_references(out.metrics["test"]),
        **per_element_metadata(out.model_dir),
        "preset": dg.MetadataValue.json(preset_metadata(preset)),
        "mace command": dg.MetadataValue.text(" ".join(out.fit.command[1:])),
        "train s": round(out.fit.seconds, 1),
        "duration s": out.record["duration_s"],
        "data_hash": out.record["data_hash"],
        "split_hash": out.record["split_hash"],
        **{name.replace("_", " "): image(path) for name, path in plots.items() if path.exists()},
        **({"training": dg.MetadataValue.text(out.skipped)} if out.skipped else {}),
    }
    # not blocking (WARN): a smoke potential may not beat the baselines, and is promoted all the same
    gate = beats_baseline(out.metrics, "beats_trivial_baselines", blocking=False)
    yield from promote_if_passed(context, project, out, [gate], metadata)


phase3_mace_assets = [mace_training_data, mace_potential]
