"""Screening predictions (assets/screening.py, inference/screening.py): through Dagster, a trained
CGCNN ensemble predicts every clean structure of a data set outside its training split; the table
holds the members' mean and their spread (positive for members of different seeds, zero for
identical members), the unit and the model folder's hash; a data set of candidates without targets,
registered from CIF files, is screened by the embedded set's model under its own key."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from matassets.data import schema
from matassets.data.parsing import parse_structure
from matassets.paths import EMBEDDED, Layout

MODEL = "cgcnn_formation_energy"


def _failure(result) -> str:
    return str(result.get_step_failure_events()[0].step_failure_data.error.message)


def _meta(result, key: str) -> dict:
    events = [e for e in result.get_asset_materialization_events() if e.asset_key.to_user_string() == key]
    return events[0].materialization.metadata


def test_screening_without_a_trained_model_fails_naming_it(smoke_copy: Path) -> None:
    from conftest import materialize

    from matassets.assets.screening import predictions_asset

    result = materialize([predictions_asset(EMBEDDED, EMBEDDED, MODEL)], smoke_copy)
    assert not result.success
    message = _failure(result)
    assert f"{MODEL} [smoke]" in message and "no trained model" in message
    assert not Layout(smoke_copy).model_dir(f"predictions_{MODEL}", "smoke").exists()


@pytest.mark.slow
def test_screening_reports_the_members_mean_and_spread(smoke_copy: Path, monkeypatch) -> None:
    from conftest import materialize, member_predictions

    from matassets import datasets
    from matassets.assets.datasets import dataset_assets
    from matassets.assets.phase1 import cgcnn_asset
    from matassets.assets.screening import predictions_asset, screening_assets
    from matassets.data.embedded import load_embedded
    from matassets.inference.predict import load_model
    from matassets.inference.screening import SCHEMA, training_ids
    from matassets.training.model_folder import manifest_digest, seal

    monkeypatch.setenv("MATASSETS_THREADS", "1")
    layout = Layout(smoke_copy)
    screening = predictions_asset(EMBEDDED, EMBEDDED, MODEL)
    run_config = {"ops": {MODEL: {"config": {"ensemble_size": 2, "epochs": 2, "hidden": 32}}}}
    result = materialize([cgcnn_asset("formation_energy"), screening], smoke_copy, run_config=run_config)
    assert result.success
    folder, out = layout.model_dir(MODEL, "smoke"), layout.model_dir(f"predictions_{MODEL}", "smoke")

    # every clean structure outside the model's training split, once, with the members' spread
    table = pl.read_parquet(out / "predictions.parquet")
    assert table.equals(pl.read_csv(out / "predictions.csv", schema=SCHEMA))
    clean = pl.read_parquet(layout.structures("smoke"))
    trained = training_ids(folder)
    assert trained and not trained & set(table["id"])
    assert sorted(table["id"]) == sorted(set(clean[schema.ID]) - trained)
    assert (table["std"] > 0).all() and (table["ensemble_size"] == 2).all()
    assert (table["unit"] == "eV/atom").all() and (table["property"] == "formation_energy").all()
    assert (table["model_version"] == manifest_digest(folder)).all()

    # the mean and spread are those of the members' own predictions on those structures
    model = load_model(folder)
    sample = clean.filter(pl.col(schema.ID).is_in(table["id"].head(4).to_list()))
    ids = sample[schema.ID].to_list()
    structures = [
        parse_structure(s, f) for s, f in sample.select(schema.STRUCTURE, schema.STRUCTURE_FORMAT).rows()
    ]
    each = member_predictions(model, ids, structures)
    rows = {r["id"]: r for r in table.filter(pl.col("id").is_in(ids)).to_dicts()}
    assert np.allclose([rows[i]["mean"] for i in ids], each.mean(axis=0), atol=1e-5)
    assert np.allclose([rows[i]["std"] for i in ids], each.std(axis=0), atol=1e-5)
    scale = model.sigma_scales["formation_energy"]  # fitted on the model's validation split
    assert scale > 0 and np.allclose(table["sigma"], table["std"] * scale)

    # the UI: the count, the excluded training structures, the top candidates (lowest mean), a histogram
    meta = _meta(result, f"predictions_{MODEL}")
    assert meta["candidates predicted"].value == table.height
    assert meta["excluded (in the model's training split)"].value == clean.height - table.height
    assert meta["ensemble size"].value == 2 and meta["skipped"].value == 0
    assert table.sort("mean")["id"][0] in meta["top candidates"].value
    assert meta["histogram"].value.startswith("![histogram](data:image/png;base64,")

    # identical members: zero spread, the mean is member 0's alone; the model version follows the folder
    shutil.copyfile(folder / "model.pt", folder / "member_1.pt")
    seal(folder)
    assert materialize([screening], smoke_copy).success
    twin = pl.read_parquet(out / "predictions.parquet")
    assert (twin["std"] == 0).all() and (twin["model_version"] == manifest_digest(folder)).all()
    assert twin["model_version"][0] != table["model_version"][0]
    same = {r["id"]: r["mean"] for r in twin.filter(pl.col("id").is_in(ids)).to_dicts()}
    assert np.allclose([same[i] for i in ids], each[0], atol=1e-5)

    # a registered data set of candidates without targets, screened by the embedded model: its own
    # key and folder, the embedded model's training structures (same ids) left out
    cifs = smoke_copy / "candidate_cifs"
    cifs.mkdir()
    for row in load_embedded().head(130).to_dicts():
        structure = parse_structure(row["structure"], "pymatgen_json")
        (cifs / f"{row['id']}.cif").write_text(structure.to(fmt="cif"))
    datasets.add("candidates", cifs, [], root=smoke_copy)
    key = f"candidates/predictions_embedded_{MODEL}"
    assert key in {a.key.to_user_string() for a in screening_assets(smoke_copy)}
    data = [
        a
        for a in dataset_assets("candidates", smoke_copy)
        if a.key.path[-1] in {"raw_structures", "structures"}
    ]
    assert materialize(data, smoke_copy).success
    before = (out / "predictions.parquet").read_bytes()
    foreign = materialize([predictions_asset("candidates", EMBEDDED, MODEL)], smoke_copy)
    assert foreign.success
    theirs = pl.read_parquet(
        layout.for_dataset("candidates").model_dir(f"predictions_embedded_{MODEL}", "smoke")
        / "predictions.parquet"
    )
    candidates = set(pl.read_parquet(layout.for_dataset("candidates").structures("smoke"))[schema.ID])
    assert sorted(theirs["id"]) == sorted(candidates - trained) and candidates & trained
    assert (theirs["std"] == 0).all() and (theirs["unit"] == "eV/atom").all()
    assert _meta(foreign, key)["excluded (in the model's training split)"].value == len(candidates & trained)
    assert (out / "predictions.parquet").read_bytes() == before  # the embedded screening untouched
