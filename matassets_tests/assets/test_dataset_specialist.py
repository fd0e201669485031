"""A registered data set's e3nn specialist (``D/specialist_<property>``), generated from the
specialist family's row and trained through Dagster from scratch (no warm start: no data set has a
``multitask_e3nn``) on the data set's own split, judged against the mean predictor, its files under
``models/datasets/D/`` and the embedded set's left alone. On a copy of ``dataset_smoke`` (120 real
crystals written as CIF, ``e_form`` in eV/atom)."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from matassets.paths import Layout


@pytest.fixture
def root(dataset_smoke: Path, tmp_path: Path) -> Path:
    out = tmp_path / "root"
    shutil.copytree(dataset_smoke, out)
    return out


def _files(folder: Path) -> dict[str, int]:
    return {p.relative_to(folder).as_posix(): p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


def test_a_data_set_s_e3nn_specialist_trains_from_scratch_on_its_split(root: Path, monkeypatch) -> None:
    from conftest import materialize

    from matassets.assets.datasets import dataset_assets
    from matassets.data.pipeline import load_splits

    monkeypatch.setenv("MATASSETS_THREADS", "1")
    (asset,) = [a for a in dataset_assets("tiny", root) if a.key.path[-1] == "specialist_e_form"]
    assert "no warm start" in asset.descriptions_by_key[asset.key]
    outside = {p.name for p in root.iterdir()} - {"models"}
    before = {name: _files(root / name) for name in outside if (root / name).is_dir()}
    config = {"ops": {"tiny__specialist_e_form": {"config": {"epochs": 2}}}}
    result = materialize([asset], root, run_config=config)
    assert result.success
    (check,) = result.get_asset_check_evaluations()
    assert check.check_name == "beats_mean_baseline"
    (materialization,) = result.asset_materializations_for_node("tiny__specialist_e_form")
    # the embedded specialist's metadata builder (phase2.e3nn_metadata): its per-task table
    assert "| e_form | eV/atom |" in materialization.metadata["tasks"].value

    layout = Layout(root).for_dataset("tiny")
    folder = root / "models" / "datasets" / "tiny" / "specialist_e_form"
    model_dir = layout.model_dir("specialist_e_form", "smoke")
    assert model_dir == folder / "smoke"
    # promoted when it beats the mean predictor on validation, else kept as a candidate
    decided = model_dir if check.passed else next((folder / "candidates").iterdir())
    val = json.loads((decided / "metrics.json").read_text())["val"]["e_form"]
    assert check.passed == (val["mae"] < val["baseline_mad"])
    assert model_dir.is_dir() == check.passed
    record = json.loads((decided / "run_record.json").read_text())
    manifest = load_splits(layout, "smoke")
    assert (record["split_hash"], record["data_hash"]) == (manifest.hash, manifest.data_version)
    assert "warm_start" not in record and record["overrides"] == {"epochs": 2}
    assert record["algorithm"] == "equivariant"
    assert "--dataset tiny --algorithm equivariant" in record["command"]
    config_json = json.loads((decided / "config.json").read_text())
    assert config_json["architecture"]["family"] == "e3nn"
    with open(decided / "predictions.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["id"] for r in rows if r["split"] == "test"} == set(manifest.ids("test"))  # D's split

    # screening: tiny/predictions_specialist_e_form predicts every clean crystal outside its training
    # split, each value the specialist's own predictions.csv value (one model: no spread)
    import polars as pl

    from matassets.assets.screening import predictions_asset, screening_assets

    assert "tiny/predictions_specialist_e_form" in {a.key.to_user_string() for a in screening_assets(root)}
    assert check.passed  # seeded; a candidate kept by its check has no current model to screen with
    assert materialize([predictions_asset("tiny", "tiny", "specialist_e_form")], root).success
    table = pl.read_parquet(
        layout.model_dir("predictions_specialist_e_form", "smoke") / "predictions.parquet"
    )
    trained = {r["id"] for r in rows if r["split"] == "train"}
    assert sorted(table["id"]) == sorted(set(pl.read_parquet(layout.structures("smoke"))["id"]) - trained)
    own = {r["id"]: float(r["e_form_pred"]) for r in rows if r["split"] != "train"}
    assert np.allclose(table["mean"].to_numpy(), [own[i] for i in table["id"]], atol=1e-4)
    assert (table["std"] == 0).all() and (table["unit"] == "eV/atom").all()

    # only the data set's model folders changed: no embedded model, its data untouched
    assert sorted(p.name for p in (root / "models").iterdir()) == ["datasets"]
    assert {name: _files(root / name) for name in before} == before
    assert (layout.model_dir("cgcnn_e_form", "smoke") / "run_record.json").is_file()


def test_a_classification_property_s_specialist_is_judged_against_the_majority_class(
    root: Path, monkeypatch
) -> None:
    import polars as pl
    from conftest import cif_dataset, materialize

    from matassets import datasets
    from matassets.assets.datasets import dataset_assets
    from matassets.data.embedded import load_embedded

    monkeypatch.setenv("MATASSETS_THREADS", "1")
    rows = load_embedded().filter(pl.col("band_gap").is_not_null()).head(60).to_dicts()
    cif_dataset(root / "metals_cifs", rows, {"is_metal": lambda r: int(r["band_gap"] == 0)})
    datasets.add("metals", root / "metals_cifs", ["is_metal:-:classification"], root=root)
    wanted = ("raw_structures", "structures", "splits", "crystal_graphs", "specialist_is_metal")
    result = materialize([a for a in dataset_assets("metals", root) if a.key.path[-1] in wanted], root)
    (check,) = [
        c for c in result.get_asset_check_evaluations() if c.asset_key.path[-1] == "specialist_is_metal"
    ]
    assert check.check_name == "beats_majority_baseline"
    folder = root / "models" / "datasets" / "metals" / "specialist_is_metal"
    decided = folder / "smoke" if check.passed else next((folder / "candidates").iterdir())
    val = json.loads((decided / "metrics.json").read_text())["val"]["is_metal"]
    assert {"accuracy", "baseline_accuracy", "balanced_accuracy"} <= set(val)  # a classifier
    assert check.passed == (val["balanced_accuracy"] > 0.5)
    assert result.success == check.passed  # a blocking check: a failed one fails the run
    assert (folder / "smoke").is_dir() == check.passed  # promoted only when it passed
