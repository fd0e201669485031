"""A registered data set's random forest on composition (``D/forest_<property>``), trained through
Dagster on the data set's own split: a regressor judged against the mean predictor, a classifier
against the majority class; ``run phase1 --dataset D --algorithm rf`` selects it. On a copy of
``dataset_smoke`` (120 real crystals written as CIF, ``e_form`` in eV/atom)."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from matassets import datasets
from matassets.paths import Layout


@pytest.fixture
def root(dataset_smoke: Path, tmp_path: Path) -> Path:
    out = tmp_path / "root"
    shutil.copytree(dataset_smoke, out)
    return out


def _only(assets, *names: str):
    return [a for a in assets if a.key.path[-1] in names]


def test_a_data_set_s_forest_trains_on_its_split_with_its_run_config(root: Path, monkeypatch) -> None:
    from conftest import materialize

    from matassets.assets.datasets import dataset_assets
    from matassets.data.pipeline import load_splits
    from matassets.training.random_forest import load_forest

    monkeypatch.setenv("MATASSETS_THREADS", "1")
    config = {"ops": {"tiny__forest_e_form": {"config": {"n_estimators": 20}}}}
    result = materialize(_only(dataset_assets("tiny", root), "forest_e_form"), root, run_config=config)
    assert result.success
    (check,) = result.get_asset_check_evaluations()
    assert check.check_name == "beats_mean_baseline" and check.passed
    layout = Layout(root).for_dataset("tiny")
    model_dir = layout.model_dir("forest_e_form", "smoke")  # promoted under models/datasets/tiny/
    assert model_dir == root / "models" / "datasets" / "tiny" / "forest_e_form" / "smoke"
    val = json.loads((model_dir / "metrics.json").read_text())["val"]["e_form"]
    assert val["mae"] < val["baseline_mad"]  # what the check judged
    record = json.loads((model_dir / "run_record.json").read_text())
    manifest = load_splits(layout, "smoke")
    assert (record["split_hash"], record["data_hash"]) == (manifest.hash, manifest.data_version)
    assert record["overrides"] == {"n_estimators": 20}
    assert "--dataset tiny --algorithm rf" in record["command"]
    assert record["command"].endswith(" --set n_estimators=20")  # the command retrains alike
    with open(model_dir / "predictions.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["id"] for r in rows if r["split"] == "test"} == set(manifest.ids("test"))  # D's split
    assert load_forest(model_dir).model.n_estimators == 20
    # the CGCNN beside it is untouched
    assert (layout.model_dir("cgcnn_e_form", "smoke") / "run_record.json").is_file()


def test_a_classification_property_s_forest_is_judged_against_the_majority_class(
    root: Path, monkeypatch
) -> None:
    from conftest import cif_dataset, materialize

    from matassets.assets.datasets import dataset_assets
    from matassets.data.embedded import load_embedded

    monkeypatch.setenv("MATASSETS_THREADS", "1")
    rows = load_embedded().filter(pl.col("band_gap").is_not_null()).head(120).to_dicts()
    cif_dataset(root / "metals_cifs", rows, {"is_metal": lambda r: int(r["band_gap"] == 0)})
    datasets.add("metals", root / "metals_cifs", ["is_metal:-:classification"], root=root)
    assets = _only(
        dataset_assets("metals", root), "raw_structures", "structures", "splits", "forest_is_metal"
    )
    result = materialize(assets, root)  # no graphs: the forest reads composition only
    assert result.success
    (check,) = [c for c in result.get_asset_check_evaluations() if c.check_name == "beats_majority_baseline"]
    model_dir = Layout(root).for_dataset("metals").model_dir("forest_is_metal", "smoke")
    metrics = json.loads((model_dir / "metrics.json").read_text())
    val = metrics["val"]["is_metal"]
    assert {"accuracy", "baseline_accuracy", "confusion_matrix", "threshold"} <= set(val)
    assert check.passed and val["balanced_accuracy"] > 0.5
    assert not (root / "data" / "datasets" / "metals" / "graphs").exists()


def test_run_phase1_with_a_data_set_selects_its_forest(root: Path, monkeypatch, capsys) -> None:
    from matassets.cli import main

    monkeypatch.setenv("MATASSETS_ROOT", str(root))
    argv = ["run", "phase1", "--dataset", "tiny", "--level", "smoke", "--dry-run"]
    assert main([*argv, "--algorithm", "rf", "--set", "n_estimators=5"]) == 0
    out = capsys.readouterr().out
    assert "assets (4): tiny/raw_structures, tiny/structures, tiny/splits, tiny/forest_e_form" in out
    assert '{"ops": {"tiny__forest_e_form": {"config": {"n_estimators": 5}}}}' in out
    assert main(argv) == 0  # without --algorithm: phase1's own family, CGCNN, as before
    out = capsys.readouterr().out
    assert "assets (5): " in out and "tiny/cgcnn_e_form" in out and "forest" not in out
    assert main([*argv, "--algorithm", "schnet"]) == 2
    err = capsys.readouterr().err
    assert "phase1 --algorithm schnet is not generated per data set" in err and "phase4 --algorithm rf" in err


def test_dataset_train_trains_the_forest_beside_the_cgcnn(root: Path, monkeypatch, capsys) -> None:
    from matassets.cli import main

    monkeypatch.setenv("MATASSETS_ROOT", str(root))
    monkeypatch.setenv("MATASSETS_THREADS", "1")
    layout = Layout(root).for_dataset("tiny")
    forest_dir = layout.model_dir("forest_e_form", "smoke")
    assert not forest_dir.exists()  # dataset_smoke leaves it untrained
    assert main(["dataset", "train", "tiny", "--level", "smoke"]) == 0
    out = capsys.readouterr().out
    assert "tiny/forest_e_form" in out and "tiny/cgcnn_e_form" in out
    assert (forest_dir / "model.skops").is_file()
    record = json.loads((forest_dir / "run_record.json").read_text())
    assert "--dataset tiny --algorithm rf" in record["command"]
    assert (layout.model_dir("cgcnn_e_form", "smoke") / "model.pt").is_file()


def test_a_data_set_s_forest_screens_its_candidates(root: Path, monkeypatch) -> None:
    """``tiny/predictions_forest_e_form``: the forest predicts every clean structure outside its
    training split, each value the one its own predictions.csv holds for that crystal."""
    from conftest import materialize

    from matassets.assets.datasets import dataset_assets
    from matassets.assets.screening import predictions_asset, screening_assets
    from matassets.inference.screening import training_ids
    from matassets.training.model_folder import manifest_digest

    monkeypatch.setenv("MATASSETS_THREADS", "1")
    assert "tiny/predictions_forest_e_form" in {a.key.to_user_string() for a in screening_assets(root)}
    forest = _only(dataset_assets("tiny", root), "forest_e_form")
    screening = predictions_asset("tiny", "tiny", "forest_e_form")
    result = materialize([*forest, screening], root)
    assert result.success
    layout = Layout(root).for_dataset("tiny")
    model_dir = layout.model_dir("forest_e_form", "smoke")
    table = pl.read_parquet(layout.model_dir("predictions_forest_e_form", "smoke") / "predictions.parquet")
    clean = pl.read_parquet(layout.structures("smoke"))
    trained = training_ids(model_dir)
    assert trained and sorted(table["id"]) == sorted(set(clean["id"]) - trained)
    own = pl.read_csv(model_dir / "predictions.csv").filter(pl.col("split") != "train")
    expected = dict(zip(own["id"], own["e_form_pred"], strict=True))
    assert np.allclose(table["mean"].to_numpy(), [expected[i] for i in table["id"]])
    assert (table["std"] == 0).all() and (table["ensemble_size"] == 1).all()
    assert (table["unit"] == "eV/atom").all() and (table["model_version"] == manifest_digest(model_dir)).all()
    # the elements the forest saw (config.json), and each candidate's that it did not (inference/domain)
    from pymatgen.core import Composition

    train = pl.read_csv(model_dir / "predictions.csv").filter(pl.col("split") == "train")["formula"]
    held = [{e.symbol for e in Composition(f)} for f in train]
    seen = json.loads((model_dir / "config.json").read_text())["training_elements"]
    assert seen == {e: sum(e in h for h in held) for e in set().union(*held)}
    for formula, cell in table.select("formula", "unseen_elements").rows():
        assert cell == ", ".join(sorted({e.symbol for e in Composition(formula)} - set(seen)))


def test_predict_takes_a_data_set_s_forest(root: Path, monkeypatch, capsys) -> None:
    """``matassets predict --dataset tiny --model forest_e_form`` on the data set's own CIF files
    gives what the forest predicted for those crystals in training (predictions.csv): the same
    formula and space group, read from the file."""
    from conftest import materialize

    from matassets.assets.datasets import dataset_assets
    from matassets.cli import main

    monkeypatch.setenv("MATASSETS_THREADS", "1")
    monkeypatch.setenv("MATASSETS_ROOT", str(root))
    assert materialize(_only(dataset_assets("tiny", root), "forest_e_form"), root).success
    model_dir = Layout(root).for_dataset("tiny").model_dir("forest_e_form", "smoke")
    saved = pl.read_csv(model_dir / "predictions.csv").filter(pl.col("split") == "test").head(4)
    files = [str(root / "cifs" / f"{i}.cif") for i in saved["id"]]
    capsys.readouterr()
    assert main(["predict", "--dataset", "tiny", "--model", "forest_e_form", *files]) == 0
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [p["file"] for p in printed] == files and [p["formula"] for p in printed] == saved[
        "formula"
    ].to_list()
    assert np.allclose([p["e_form"] for p in printed], saved["e_form_pred"].to_numpy(), rtol=1e-9)
    assert all(isinstance(p["unseen_elements"], list) for p in printed)
    # the potential is not a property model: relax uses it; an unknown name lists the models predict takes
    assert main(["predict", "--dataset", "tiny", "--model", "mace_potential", *files]) == 2
    assert "mace_potential is an interatomic potential" in capsys.readouterr().err
    assert main(["predict", "--dataset", "tiny", "--model", "forest_x", *files]) == 2
    assert "choose from cgcnn_e_form, specialist_e_form, forest_e_form" in capsys.readouterr().err
