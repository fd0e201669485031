"""The model_leaderboard asset and the gathering behind it (matassets/reports/leaderboard.py)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from conftest import materialize


def _synthetic_model(
    root: Path, asset: str, partition: str, mae: float, mad: float, split_hash: str = "split-a"
) -> None:
    """Synthetic fixture: a hand-written metrics.json of a regression model (no real training)."""
    folder = root / "models" / asset / partition
    folder.mkdir(parents=True)
    task = {"n": 10, "mae": mae, "rmse": mae * 1.3, "baseline_mad": mad}
    metrics = {"train": {"band_gap": task}, "val": {"band_gap": task}, "test": {"band_gap": task}}
    (folder / "metrics.json").write_text(json.dumps(metrics))
    (folder / "run_record.json").write_text(
        json.dumps({"duration_s": 12.5, "finished_at": "2026-11-25T00:00:00+00:00", "split_hash": split_hash})
    )


def test_gather_picks_the_best_model_per_property_on_synthetic_metrics(tmp_path):
    from matassets.reports.leaderboard import best_per_property, gather, rows_from_metrics

    _synthetic_model(tmp_path, "synthetic_worse", "smoke", mae=0.8, mad=1.0)
    _synthetic_model(tmp_path, "synthetic_better", "smoke", mae=0.3, mad=1.0)
    # skipped: working state, a tuning candidate, a folder without metrics.json
    _synthetic_model(tmp_path, "synthetic_better", "tuning", mae=0.01, mad=1.0)
    _synthetic_model(tmp_path, "synthetic_better", ".work", mae=0.01, mad=1.0)
    (tmp_path / "models" / "synthetic_empty" / "smoke").mkdir(parents=True)

    rows = gather(tmp_path)
    assert [(r["asset"], r["best"]) for r in rows] == [
        ("synthetic_better", True),
        ("synthetic_worse", False),
    ]
    assert rows[0]["test"] == 0.3 and rows[0]["baseline"] == 1.0 and rows[0]["ratio"] == 1.0 / 0.3
    assert rows[0]["duration_s"] == 12.5 and rows[0]["finished_at"].startswith("2026-11-25")
    assert best_per_property(rows)["band_gap"]["asset"] == "synthetic_better"

    # the other shapes: a classifier (higher is better) and the MACE potential (per element + "all")
    clf = {"n": 20, "balanced_accuracy": 0.75, "roc_auc": 0.8, "baseline_accuracy": 0.6}
    (row,) = rows_from_metrics({"val": {"topo_label": clf}, "test": {"topo_label": clf}, "threshold": 0.4})
    assert row["kind"] == "classification" and row["relative_error"] == 0.5 and row["roc_auc"] == 0.8
    mace = {
        "energy_mae_meV_per_atom": 5.0,
        "energy_baseline_mae_meV_per_atom": 50.0,
        "force_mae_meV_per_A": 100.0,
        "force_baseline_mae_meV_per_A": 400.0,
    }
    rows = rows_from_metrics({"val": {"all": mace}, "test": {"all": mace, "Cu": mace}, "units": {}})
    assert [(r["property"], r["ratio"], r["unit"]) for r in rows] == [
        ("energy (meV/atom)", 10.0, "meV/atom"),
        ("forces (meV/Å)", 4.0, "meV/Å"),
    ]
    assert rows_from_metrics({"test": "not a dict"}) == [] and rows_from_metrics({}) == []


def test_ratio_is_metrics_json_mad_mae_ratio_and_a_row_worse_than_its_baseline_is_never_best(tmp_path):
    """Synthetic fixture (issue #21): the MACE smoke stress row was 1.589 times its baseline and
    still starred best, and the ratio column was MAE / MAD while metrics.json says MAD / MAE."""
    from matassets.reports.leaderboard import best_per_property, gather, rows_from_metrics

    _synthetic_model(tmp_path, "synthetic_worse", "smoke", mae=1.589, mad=1.0)
    (row,) = gather(tmp_path)
    assert row["ratio"] == 1.0 / 1.589 and row["ratio"] < 1  # worse than the baseline: below 1
    assert row["best"] is False and best_per_property([row]) == {}
    stress = {"stress_mae_GPa": 1.589, "stress_baseline_mae_GPa": 1.0}
    (row,) = rows_from_metrics({"test": {"all": stress}})
    assert row["property"] == "stress (GPa)" and row["ratio"] == 1.0 / 1.589 and row["unit"] == "GPa"
    # a regression model's ratio is metrics.json's mad_mae_ratio (MAD / MAE, higher is better)
    task = {"n": 5, "mae": 0.25, "baseline_mad": 1.0, "mad_mae_ratio": 4.0}
    (row,) = rows_from_metrics({"test": {"formation_energy": task}})
    assert row["ratio"] == task["mad_mae_ratio"] and row["unit"] == "eV/atom"


def test_models_on_different_test_sets_are_never_ranked_against_each_other(tmp_path):
    """Synthetic fixture (issue #17): the forest (its own formula-grouped split) and TopoGNN (the
    partition's crystal split) were starred against each other. Each test set is ranked apart."""
    from matassets.reports.leaderboard import best_per_property, gather, markdown

    _synthetic_model(tmp_path, "synthetic_a1", "smoke", mae=0.5, mad=1.0, split_hash="aaaaaaaa11")
    _synthetic_model(tmp_path, "synthetic_a2", "smoke", mae=0.4, mad=1.0, split_hash="aaaaaaaa11")
    _synthetic_model(tmp_path, "synthetic_own_split", "smoke", mae=0.1, mad=1.0, split_hash="bbbbbbbb22")
    rows = {r["asset"]: r for r in gather(tmp_path)}
    assert (
        rows["synthetic_a1"]["test_set"] == "aaaaaaaa"
        and rows["synthetic_own_split"]["test_set"] == "bbbbbbbb"
    )
    # the lowest error overall is on another test set: it does not take the star from synthetic_a2
    assert rows["synthetic_a2"]["best"] and not rows["synthetic_a1"]["best"]
    assert rows["synthetic_own_split"]["best"]  # best of its own test set, alone there
    # the property's headline is the test set most models share, not the lowest number
    assert best_per_property(list(rows.values()))["band_gap"]["asset"] == "synthetic_a2"
    assert "same test set" in markdown(list(rows.values()))


def test_leaderboard_asset_shows_the_smoke_cgcnn_model(smoke_root, phase1_smoke):
    from matassets.assets.leaderboard import model_leaderboard

    result = materialize([model_leaderboard], smoke_root, partition=None)
    assert result.success
    metrics = json.loads(
        (smoke_root / "models/cgcnn_formation_energy/smoke/metrics.json").read_text(encoding="utf-8")
    )
    test = metrics["test"]["formation_energy"]

    out = smoke_root / "models" / "leaderboard"
    with open(out / "leaderboard.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    (row,) = [r for r in rows if r["asset"] == "cgcnn_formation_energy" and r["partition"] == "smoke"]
    assert row["property"] == "formation_energy" and row["kind"] == "regression"
    assert float(row["test"]) == test["mae"]
    assert float(row["baseline"]) == test["baseline_mad"]
    assert abs(float(row["ratio"]) - test["mad_mae_ratio"]) < 1e-9
    assert float(row["val"]) == metrics["val"]["formation_energy"]["mae"]
    assert float(row["duration_s"]) > 0 and row["finished_at"]
    assert (out / "leaderboard.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    (materialization,) = result.asset_materializations_for_node("model_leaderboard")
    table = materialization.metadata["leaderboard"].value
    assert "cgcnn_formation_energy" in table and f"{test['mae']:.4g}" in table
    assert "data:image/png;base64" in materialization.metadata["plot"].value
