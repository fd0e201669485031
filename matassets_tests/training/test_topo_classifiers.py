"""Smoke materializations of the two topological classifiers on the real labels."""

import json
import zipfile

import numpy as np
import polars as pl
import pytest
from conftest import folder_state, materialize
from pymatgen.core import Composition

from matassets.paths import Layout


@pytest.fixture(scope="module")
def topo_db_smoke(smoke_root):
    from matassets.assets.phase4_topo import topo_db

    assert materialize([topo_db], smoke_root).success
    return smoke_root


@pytest.fixture(scope="module")
def rf_smoke(topo_db_smoke):
    from matassets.assets.phase4_topo import topo_classifier_rf

    result = materialize([topo_classifier_rf], topo_db_smoke)
    assert result.success
    return result


@pytest.fixture(scope="module")
def gnn_smoke(topo_db_smoke):
    from matassets.assets.phase4_topo import topo_classifier_gnn

    return materialize([topo_classifier_gnn], topo_db_smoke)


def test_rf_writes_model_metrics_plots_and_record(topo_db_smoke, rf_smoke):
    folder = Layout(topo_db_smoke).model_dir("topo_classifier_rf", "smoke")
    for name in [
        "model.skops",
        "config.json",
        "metrics.json",
        "predictions.csv",
        "roc.png",
        "confusion.png",
        "feature_importance.csv",
        "run_record.json",
    ]:
        assert (folder / name).stat().st_size > 0, name
    assert (folder / "roc.png").read_bytes()[:4] == b"\x89PNG"
    metrics = json.loads((folder / "metrics.json").read_text())
    for split in ("train", "val", "test"):
        m = metrics[split]["topo_label"]
        assert {
            "accuracy",
            "balanced_accuracy",
            "f1",
            "roc_auc",
            "confusion_matrix",
            "baseline_accuracy",
            "threshold",
        } <= set(m)
        assert sum(map(sum, m["confusion_matrix"])) == m["n"] > 0
    # the Magpie forest beats the majority class clearly (smoke: 800 labels, 30 trees)
    for split in ("val", "test"):
        m = metrics[split]["topo_label"]
        assert m["accuracy"] > m["baseline_accuracy"] + 0.1 and m["balanced_accuracy"] > 0.7
        assert m["roc_auc"] > 0.8
    assert len(metrics["selection"]) == 2  # class_weight None / balanced, chosen on val ROC-AUC
    record = json.loads((folder / "run_record.json").read_text())
    assert record["phase"] == "phase4" and record["algorithm"] == "rf"
    assert record["command"] == "matassets run phase4 --algorithm rf --level smoke"
    assert record["dagster_run_id"] == rf_smoke.run_id
    assert record["test_metrics"] == metrics["test"]
    check = rf_smoke.get_asset_check_evaluations()[0]
    assert check.check_name == "beats_majority_baseline" and check.passed
    meta = rf_smoke.get_asset_materialization_events()[0].materialization.metadata
    assert "Topogivity" in meta["published anchors"].value
    assert "| test |" in meta["metrics"].value and meta["roc"].value.startswith("![roc](data:image/png")


def test_rf_split_is_grouped_by_formula_and_model_reloads_without_pickle(topo_db_smoke, rf_smoke):
    from matassets.training.random_forest import load_forest

    folder = Layout(topo_db_smoke).model_dir("topo_classifier_rf", "smoke")
    pred = pl.read_csv(folder / "predictions.csv")
    sides = pred.group_by("formula").agg(pl.col("split").n_unique().alias("n"))
    assert sides["n"].max() == 1  # no formula on two sides
    assert pred.height == 800
    with zipfile.ZipFile(folder / "model.skops") as zf:  # numpy arrays and JSON, no pickle stream
        assert all(n.endswith((".npy", ".json")) for n in zf.namelist())
    model = load_forest(folder)
    test = pred.filter(pl.col("split") == "test")
    prob = model.predict_proba(test["formula"].to_list(), test["spacegroup"].to_list())
    np.testing.assert_allclose(prob, test["topo_label_prob"].to_numpy(), rtol=1e-12)


def test_gnn_smoke_writes_metrics_plots_and_record_beside_baseline(topo_db_smoke, gnn_smoke):
    folder = Layout(topo_db_smoke).model_dir("topo_classifier_gnn", "smoke")
    for name in [
        "model.pt",
        "config.json",
        "metrics.json",
        "predictions.csv",
        "confusion.png",
        "confusion_threshold.png",
        "roc.png",
        "threshold.json",
        "learning_curve.png",
        "run_record.json",
    ]:
        assert (folder / name).stat().st_size > 0, name
    config = json.loads((folder / "config.json").read_text())
    assert config["architecture"]["family"] == "topognn" and config["objective"] == "binary"
    metrics = json.loads((folder / "metrics.json").read_text())
    tuned = json.loads((folder / "threshold.json").read_text())
    for split in ("val", "test"):
        m = metrics[split]["topo_label"]
        assert m["n"] >= 2 and 0.0 <= m["baseline_accuracy"] <= 1.0
        assert tuned[split]["baseline_accuracy"] == m["baseline_accuracy"]
    # the labelled crystals of the smoke partition, and nothing else, were used
    clean = pl.read_parquet(Layout(topo_db_smoke).structures("smoke"))
    n_labelled = clean["topo_label"].is_not_null().sum()
    assert sum(metrics[s]["topo_label"]["n"] for s in ("train", "val", "test")) == n_labelled
    record = json.loads((folder / "run_record.json").read_text())
    assert record["phase"] == "phase4" and record["algorithm"] == "topognn"
    assert "confusion.png" in record["plots"]
    # the check's number, recomputed from the predictions file with scikit-learn (not the code's)
    from sklearn.metrics import balanced_accuracy_score

    val_rows = pl.read_csv(folder / "predictions.csv").filter(pl.col("split") == "val")
    recomputed = balanced_accuracy_score(
        val_rows["topo_label_true"].cast(int), (val_rows["topo_label_pred"] >= 0.5).cast(int)
    )
    assert metrics["val"]["topo_label"]["balanced_accuracy"] == pytest.approx(recomputed)
    check = gnn_smoke.get_asset_check_evaluations()[0]
    assert check.check_name == "beats_majority_baseline"
    # a majority-class predictor's balanced accuracy is 0.5 (the failing case has its own test)
    assert check.passed == (recomputed > 0.5) and gnn_smoke.success == check.passed


@pytest.mark.slow
def test_a_majority_class_topognn_fails_the_check_and_is_not_promoted(topo_db_smoke, tmp_path, monkeypatch):
    """A TopoGNN that outputs one constant (so predicts one class for every crystal) must fail the
    blocking beats_majority_baseline check, and its candidate must not become the current model."""
    import shutil

    from matassets.assets.phase4_topo import topo_classifier_gnn
    from matassets.models.topognn import TopoGNN

    shutil.copytree(topo_db_smoke / "data", tmp_path / "data")
    forward = TopoGNN.forward
    monkeypatch.setattr(TopoGNN, "forward", lambda self, batch: forward(self, batch) * 0.0)
    config = {"ops": {"topo_classifier_gnn": {"config": {"epochs": 1}}}}
    result = materialize([topo_classifier_gnn], tmp_path, run_config=config)
    (check,) = result.get_asset_check_evaluations()
    assert check.check_name == "beats_majority_baseline" and not check.passed
    assert not result.success
    assert not (Layout(tmp_path).model_dir("topo_classifier_gnn", "smoke") / "model.pt").exists()


def test_topognn_pools_mean_and_max():
    import torch

    from matassets.models.registry import build_model
    from matassets.models.topognn import max_pool

    x = torch.tensor([[1.0, -2.0], [3.0, -1.0], [0.5, 0.5]])
    out = max_pool(x, torch.tensor([0, 0, 1]), 2)
    assert out.tolist() == [[3.0, -1.0], [0.5, 0.5]]
    model = build_model(
        {"family": "topognn", "hidden": 8, "n_layers": 1, "cutoff": 4.0, "gaussian_step": 0.5}
    )
    assert model.head[0].in_features == 16


def test_presets_cover_every_partition_with_the_runbook_std_rows():
    from matassets.levels import PARTITIONS, TOPO_GNN, TOPO_RF

    assert tuple(TOPO_RF) == PARTITIONS and tuple(TOPO_GNN) == PARTITIONS
    rf, gnn = TOPO_RF["std"], TOPO_GNN["std"]
    assert (rf.n_estimators, rf.max_depth, rf.min_samples_leaf, rf.max_labels) == (600, 24, 2, None)
    assert (gnn.epochs, gnn.hidden, gnn.n_layers, gnn.dropout) == (100, 128, 3, 0.2)
    assert TOPO_RF["smoke"].n_estimators <= 50 and TOPO_GNN["smoke"].epochs <= 5


def test_unchanged_rematerialization_reuses_both_classifiers(topo_db_smoke, rf_smoke, gnn_smoke):
    """Same labels, split, preset and code: both folders are returned untouched, the threshold
    report of TopoGNN included (``training.incremental``)."""
    from matassets.assets.phase4_topo import topo_classifier_gnn, topo_classifier_rf

    layout = Layout(topo_db_smoke)
    folders = [layout.model_dir(a, "smoke") for a in ("topo_classifier_rf", "topo_classifier_gnn")]
    before = [folder_state(f) for f in folders]
    again = materialize([topo_classifier_rf, topo_classifier_gnn], topo_db_smoke)
    assert again.success
    events = again.get_asset_materialization_events()
    assert len(events) == 2
    for event in events:
        assert event.materialization.metadata["training"].value.startswith("up to date, training skipped")
    assert [folder_state(f) for f in folders] == before
    gnn = next(e for e in events if e.asset_key.to_user_string() == "topo_classifier_gnn")
    first = gnn_smoke.get_asset_materialization_events()[0].materialization.metadata
    key = "metrics (threshold chosen on val)"
    assert gnn.materialization.metadata[key] == first[key]


def test_predict_takes_the_forest_from_a_structure_file(
    topo_db_smoke, rf_smoke, tmp_path, monkeypatch, capsys
):
    """``matassets predict --model topo_classifier_rf``: the probability the loaded forest gives the
    file's formula and space group (synthetic fixture: rock-salt NaCl, Fm-3m, 225); the elements the
    training formulas held are recorded."""
    from pymatgen.core import Lattice, Structure

    from matassets.cli import main
    from matassets.training.random_forest import load_forest

    folder = Layout(topo_db_smoke).model_dir("topo_classifier_rf", "smoke")
    path = tmp_path / "NaCl.cif"
    Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5] * 3]).to(
        filename=str(path)
    )
    monkeypatch.setenv("MATASSETS_ROOT", str(topo_db_smoke))
    capsys.readouterr()
    assert main(["predict", "--model", "topo_classifier_rf", str(path)]) == 0
    (printed,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    expected = load_forest(folder).predict_proba(["NaCl"], [225])[0]
    assert printed["formula"] == "NaCl" and printed["topo_label"] == pytest.approx(expected, rel=1e-12)
    train = pl.read_csv(folder / "predictions.csv").filter(pl.col("split") == "train")["formula"]
    seen = json.loads((folder / "config.json").read_text())["training_elements"]
    assert set(seen) == {e.symbol for f in train for e in Composition(f)}
    assert printed["unseen_elements"] == sorted({"Na", "Cl"} - set(seen))
