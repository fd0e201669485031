"""A registered data set trains through Dagster under its own asset keys and folders: a property the
platform has never seen (with its unit) and a classification property (majority baseline), on CIF
files written from real embedded structures; the embedded set's files stay byte-identical."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from matassets import datasets
from matassets.data.embedded import load_embedded
from matassets.data.parsing import parse_structure


def test_a_user_data_set_trains_beside_the_embedded_one(smoke_copy: Path) -> None:
    from conftest import data_and_cgcnn, embedded_state, materialize

    from matassets.assets.datasets import dataset_assets

    root = smoke_copy
    cifs = root / "incoming_cifs"
    cifs.mkdir()
    rows = load_embedded().filter(pl.col("band_gap").is_not_null()).head(150).to_dicts()
    lines = ["file,gap_pbe,is_metal"]
    for row in rows:
        (cifs / f"{row['id']}.cif").write_text(
            parse_structure(row["structure"], "pymatgen_json").to(fmt="cif")
        )
        lines.append(f"{row['id']},{row['band_gap']},{int(row['band_gap'] == 0)}")
    (cifs / "targets.csv").write_text("\n".join(lines) + "\n")
    datasets.add("oxides", cifs, ["gap_pbe:eV", "is_metal:-:classification"], root=root)
    before = embedded_state(root)

    assets = dataset_assets("oxides", root)
    keys = {a.key.to_user_string() for a in assets}
    assert keys == {
        "oxides/raw_structures",
        "oxides/structures",
        "oxides/splits",
        "oxides/crystal_graphs",
        "oxides/cgcnn_gap_pbe",
        "oxides/cgcnn_is_metal",
        "oxides/forest_gap_pbe",
        "oxides/forest_is_metal",
        "oxides/specialist_gap_pbe",
        "oxides/specialist_is_metal",
    }
    result = materialize(data_and_cgcnn(assets), root)
    assert result.success
    base = root / "models" / "datasets" / "oxides"
    gap = json.loads((base / "cgcnn_gap_pbe" / "smoke" / "metrics.json").read_text())
    assert gap["test"]["gap_pbe"]["mae"] >= 0 and "baseline_mad" in gap["val"]["gap_pbe"]
    record = json.loads((base / "cgcnn_gap_pbe" / "smoke" / "run_record.json").read_text())
    assert "oxides" in record["command"]
    metal = json.loads((base / "cgcnn_is_metal" / "smoke" / "metrics.json").read_text())
    # a classifier, judged against the majority class
    assert {"accuracy", "baseline_accuracy", "confusion_matrix"} <= set(metal["val"]["is_metal"])
    clean = pl.read_parquet(
        root / "data" / "datasets" / "oxides" / "structures" / "smoke" / "structures.parquet"
    )
    assert clean.height == 150 and set(clean["source"]) == {"oxides"}
    # the embedded set's tables and models are untouched
    assert embedded_state(root) == before
    assert not (root / "models" / "cgcnn_gap_pbe").exists()


@pytest.mark.slow
def test_a_small_data_set_trains_at_smoke_and_one_too_small_to_split_is_refused(tmp_path: Path) -> None:
    """A data set's blocking minimum scales to its size (levels.dataset_data_preset): 20 real crystals
    (refused by the embedded set's 100) train a CGCNN at smoke, with a warning, in batches of 8 where
    the level's row says 16 (levels.dataset_train_preset: its 16 training crystals; the run record
    and the UI say why); 19 cannot give train, validation and test 8/2/2 crystals and are refused,
    saying why, with nothing written."""
    from conftest import cif_dataset, data_and_cgcnn, materialize

    from matassets.assets.datasets import dataset_assets

    rows = load_embedded().filter(pl.col("formation_energy").is_not_null()).head(20).to_dicts()
    for name, n in (("twenty", 20), ("nineteen", 19)):
        cif_dataset(tmp_path / name, rows[:n], {"e_form": lambda r: r["formation_energy"]})
        datasets.add(name, tmp_path / name, ["e_form:eV/atom"], root=tmp_path)

    result = materialize(data_and_cgcnn(dataset_assets("twenty", tmp_path)), tmp_path)
    (check,) = [c for c in result.get_asset_check_evaluations() if c.check_name == "enough_clean_structures"]
    assert check.passed and "20 clean structures; the smoke level needs at least 20" in check.description
    assert "warning: under the smoke level's 100" in check.description
    base = tmp_path / "models" / "datasets" / "twenty" / "cgcnn_e_form"
    (record,) = base.rglob("run_record.json")  # trained: promoted, or kept as a candidate by its check
    metrics = json.loads((record.parent / "metrics.json").read_text())
    assert (metrics["val"]["e_form"]["n"], metrics["test"]["e_form"]["n"]) == (2, 2)
    why = (
        "batch size 8, not the level's 16: for 16 training crystals the batch is capped at 16 // 8 for "
        "at least 8 optimizer steps an epoch, never below 8 (--set batch_size=N wins)"
    )
    assert json.loads((record.parent / "config.json").read_text())["preset"]["batch_size"] == 8
    saved = json.loads(record.read_text())
    assert why in saved["notes"] and saved["overrides"] == {}
    assert {"field": "batch_size", "runbook": 16, "ours": 8, "why": why} in saved["runbook"]["deviations"]
    events = result.get_asset_materialization_events()
    (event,) = [e for e in events if e.asset_key.path == ["twenty", "cgcnn_e_form"]]
    meta = event.materialization.metadata
    assert meta["preset"].value["batch_size"] == 8 and why in meta["runbook deviations"].value

    assets = [
        a for a in dataset_assets("nineteen", tmp_path) if a.key.path[-1] in ("raw_structures", "structures")
    ]
    result = materialize(assets, tmp_path)
    (check,) = [c for c in result.get_asset_check_evaluations() if c.check_name == "enough_clean_structures"]
    assert not check.passed
    assert (
        "19 clean structures; the smoke level needs at least 20 (for a data set of 19 rows"
        in check.description
    )
    assert "fewer cannot give train, validation and test 8/2/2 structures" in check.description
    assert not (tmp_path / "data" / "datasets" / "nineteen" / "structures").exists()
    assert not (tmp_path / "data" / "raw").exists()  # nothing of the embedded set's paths
