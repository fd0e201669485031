"""Screening: a ``predictions`` asset per (model, data set), partitioned by level like the models.

Each asset predicts every candidate of one data set with one trained model of the same level
(``inference.screening``: the data set's clean structures less the model's own training split) and
writes ``predictions.csv`` / ``.parquet`` (id, formula, property, mean, std, unit, ensemble size,
model version), ``histogram.png`` and ``screening.json`` into a folder of its own. Its lineage edges
go to the model and to the data set's ``structures``.

Which models screen which data set (docs/datasets.md, "Screening"):

- the embedded set's phase-1 property models (``families``: CGCNN, SchNet) screen the embedded set
  (``predictions_<model>``, group ``screening``, ``models/predictions_<model>/<level>/``) and every
  registered data set (``D/predictions_embedded_<model>``);
- a registered data set's own per-property models screen it (``D/predictions_<model>``: one for
  each of its property models, ``families.dataset_models``: its CGCNN, its e3nn specialist and
  its composition forest); its folders are under
  ``models/datasets/D/``. An extended-XYZ set's MACE potential predicts energies and forces of
  frames, not a property of a candidate crystal: it gets none.
"""

from pathlib import Path

import dagster as dg

from matassets.assets.common import levels_partitions, table_metadata, versioned
from matassets.assets.metadata import image
from matassets.assets.resources import ProjectResource
from matassets.families import FAMILIES, dataset_models
from matassets.paths import EMBEDDED

GROUP = "screening"
EMBEDDED_MODELS = [name for fam in FAMILIES if fam.phase == "phase1" for name in fam.asset_names()]


class ScreeningConfig(dg.Config):
    """What the UI previews: the ``top`` candidates by predicted mean, lowest first unless
    ``highest_first`` (a low formation energy is a stable candidate; a high modulus a stiff one)."""

    top: int = 10
    highest_first: bool = False


def _key(dataset: str, asset: str) -> dg.AssetKey:
    return dg.AssetKey(asset) if dataset == EMBEDDED else dg.AssetKey([dataset, asset])


def predictions_asset(dataset: str, model_dataset: str, model: str) -> dg.AssetsDefinition:
    """The predictions of ``model`` (trained on ``model_dataset``) for the candidates of ``dataset``."""
    from matassets.assets.dataset_models import group_name

    foreign = model_dataset != dataset
    name = f"predictions_{model_dataset}_{model}" if foreign else f"predictions_{model}"
    key = _key(dataset, name)
    model_key, structures_key = _key(model_dataset, model), _key(dataset, "structures")

    @dg.asset(
        key=key,
        partitions_def=levels_partitions,
        group_name=GROUP if dataset == EMBEDDED else group_name(dataset),
        deps=[model_key, structures_key],
        kinds={"parquet"},
        description=f"{model_key.to_user_string()} on every clean structure of data set {dataset} "
        "outside the model's training split: mean and ensemble spread (0 for a single model)",
    )
    def _asset(
        context: dg.AssetExecutionContext, config: ScreeningConfig, project: ProjectResource
    ) -> dg.MaterializeResult:
        import polars as pl

        from matassets import datasets
        from matassets.inference.screening import screen, write
        from matassets.io import sha256_file
        from matassets.training.model_folder import IntegrityError

        partition = context.partition_key
        layout, root = project.layout.for_dataset(dataset), project.layout.root
        model_dir = project.layout.for_dataset(model_dataset).model_dir(model, partition)
        source = layout.structures(partition)
        if not source.is_file():
            raise dg.Failure(
                f"no candidates: {source} is missing; materialize "
                f"{structures_key.to_user_string()} [{partition}] first"
            )
        try:
            result = screen(
                model_dir,
                pl.read_parquet(source),
                lambda p: datasets.property_info(p, model_dataset, root).unit,
                context.log.info,
            )
        except (FileNotFoundError, IntegrityError) as exc:
            raise dg.Failure(f"{model_key.to_user_string()} [{partition}]: {exc}") from exc
        version = datasets.get(dataset, root).version
        folder = write(
            result,
            layout.model_dir(name, partition),
            {"model": str(model_dir), "data set": dataset, "data set version": version, "input": str(source)},
        )
        table = result.table.sort("mean", descending=config.highest_first)
        columns = ("id", "formula", "property", "mean", "std", "sigma", "unit", "unseen_elements")
        top = table.head(config.top).select(*columns).to_dicts()
        metadata = {
            "candidates predicted": result.count,
            "excluded (in the model's training split)": result.excluded,
            "skipped": len(result.skipped),
            "with an element unseen in training": dg.MetadataValue.text(
                "unknown: the model folder predates training's record of its elements"
                if result.extrapolated is None
                else f"{result.extrapolated} (their predictions extrapolate: unseen_elements)"
            ),
            "model version": result.model_version,
            "ensemble size": result.ensemble_size,
            "std": dg.MetadataValue.text(
                "the ensemble members' standard deviation; 0 for a single model (no spread to report)"
            ),
            "sigma": dg.MetadataValue.text(
                "the calibrated error bar: std times the scale fitted on the model's validation split "
                "(docs/uncertainty.md); empty without one"
            ),
            "data set version": version,
            "top candidates": table_metadata(top, config.top),
            **({"skipped candidates": table_metadata(result.skipped)} if result.skipped else {}),
            "histogram": image(folder / "histogram.png"),
            "model": dg.MetadataValue.path(str(model_dir)),  # not "model path": this is no model
            "path": dg.MetadataValue.path(str(folder / "predictions.csv")),
        }
        out = dg.MaterializeResult(
            data_version=dg.DataVersion(sha256_file(folder / "predictions.parquet")), metadata=metadata
        )
        return versioned(context, project, out)

    return _asset


def screening_assets(root: Path | None = None) -> list[dg.AssetsDefinition]:
    """The embedded set's predictions assets, then every registered data set's (embedded models and
    its own); a data set whose manifest cannot be read is left out, as in ``registered_assets``."""
    import logging

    from matassets import datasets

    out = [predictions_asset(EMBEDDED, EMBEDDED, m) for m in EMBEDDED_MODELS]
    folder = datasets.datasets_dir(root)
    for manifest_file in sorted(folder.glob("*/manifest.json")) if folder.is_dir() else []:
        name = manifest_file.parent.name
        try:
            own = [m.asset for m in dataset_models(datasets.get(name, root)) if m.prop is not None]
        except ValueError as exc:
            logging.getLogger(__name__).warning("data set %s left out of screening: %s", name, exc)
            continue
        out += [predictions_asset(name, EMBEDDED, m) for m in EMBEDDED_MODELS]
        out += [predictions_asset(name, name, m) for m in own]
    return out
