"""A registered data set trains through Dagster under its own asset keys and folders: a property the
platform has never seen (with its unit) and a classification property (majority baseline), on CIF
files written from real embedded structures; the embedded set's files stay byte-identical."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from matassets import datasets
from matassets.data.embedded import load_embedded
from matassets.data.parsing import parse_structure


def _tree_state(folder: Path) -> dict:
    return {
        str(p.relative_to(folder)): (p.stat().st_mtime_ns, p.read_bytes())
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_a_user_data_set_trains_beside_the_embedded_one(smoke_copy: Path) -> None:
    from conftest import materialize

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
    before = _tree_state(root / "data" / "structures") | _tree_state(root / "data" / "raw")

    assets = dataset_assets("oxides", root)
    keys = {a.key.to_user_string() for a in assets}
    assert keys == {
        "oxides/raw_structures",
        "oxides/structures",
        "oxides/splits",
        "oxides/crystal_graphs",
        "oxides/cgcnn_gap_pbe",
        "oxides/cgcnn_is_metal",
    }
    result = materialize(assets, root)
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
    assert (_tree_state(root / "data" / "structures") | _tree_state(root / "data" / "raw")) == before
    assert not (root / "models" / "cgcnn_gap_pbe").exists()
