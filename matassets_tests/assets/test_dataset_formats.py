"""Every structure format `matassets dataset add` reads trains through Dagster beside the embedded set
(the CIF folder in test_dataset_assets.py, extended XYZ's MACE in test_dataset_mace.py): a folder of
POSCAR files with a targets CSV, an ALIGNN folder (id_prop.csv, no header), a CSV table of CIF text
and a JSON table of pymatgen dicts. Each holds 100 real embedded crystals written by pymatgen, their
formation energy under a property name the platform has never seen, in a unit of the case's own;
its data assets and its CGCNN train at smoke, and the embedded set's files and model stay
byte-identical."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest

from matassets import datasets
from matassets.data.embedded import load_embedded
from matassets.data.parsing import parse_structure

# 100 crystals: 10 validate the CGCNN (its blocking check, the mean baseline); at 40 (4 validating,
# above the 20 smoke scales down to: levels.dataset_data_preset) 3 epochs did not beat that baseline
ROWS = 100


def _structure(row: dict):
    return parse_structure(row["structure"], "pymatgen_json")


def _poscar_files(folder: Path, rows: list[dict], values: list[float], csv_name: str, header: str | None):
    """POSCAR files and a CSV naming each file with its value: ``targets.csv`` with a header, or
    ALIGNN's ``id_prop.csv`` of ``file name,value`` with none (the property is named on add)."""
    folder.mkdir()
    lines = [header] if header else []
    for row, value in zip(rows, values, strict=True):
        (folder / f"{row['id']}.vasp").write_text(_structure(row).to(fmt="poscar"))
        lines.append(f"{row['id']}{'' if header else '.vasp'},{value}")
    (folder / csv_name).write_text("\n".join(lines) + "\n")
    return folder


def _poscar_folder(folder: Path, rows: list[dict], name: str, values: list[float]) -> Path:
    return _poscar_files(folder, rows, values, "targets.csv", f"file,{name}")


def _alignn_folder(folder: Path, rows: list[dict], name: str, values: list[float]) -> Path:
    return _poscar_files(folder, rows, values, "id_prop.csv", None)


def _csv_table(folder: Path, rows: list[dict], name: str, values: list[float]) -> Path:
    folder.mkdir()
    path = folder / "crystals.csv"
    with path.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["id", "structure", name])
        for row, value in zip(rows, values, strict=True):
            writer.writerow([row["id"], _structure(row).to(fmt="cif"), value])
    return path


def _json_table(folder: Path, rows: list[dict], name: str, values: list[float]) -> Path:
    folder.mkdir()
    path = folder / "crystals.json"
    records = [
        {"id": row["id"], "structure": _structure(row).as_dict(), name: value}
        for row, value in zip(rows, values, strict=True)
    ]
    path.write_text(json.dumps(records))
    return path


# case: (writer, property name, unit, factor from the embedded formation energy in eV/atom)
Writer = Callable[[Path, list[dict], str, list[float]], Path]
CASES: dict[str, tuple[Writer, str, str, float]] = {
    "poscar_folder": (_poscar_folder, "h_mix", "eV/atom", 1.0),
    "alignn_folder": (_alignn_folder, "dh_form", "meV/atom", 1000.0),
    "csv_table": (_csv_table, "e_user", "eV/atom", 1.0),
    "json_table": (_json_table, "h_form", "kJ/mol", 96.485),
}


@pytest.fixture
def embedded_root(smoke_root: Path, phase1_smoke, tmp_path: Path) -> Path:
    """A private copy of the embedded set's smoke data and its trained CGCNN."""
    import shutil

    root = tmp_path / "root"
    for folder in ("data", "models"):
        shutil.copytree(smoke_root / folder, root / folder)
    return root


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES)
def test_each_input_format_trains_a_cgcnn_beside_the_embedded_set(
    case: str, embedded_root: Path, tmp_path: Path, monkeypatch
) -> None:
    from conftest import data_and_cgcnn, embedded_state, materialize

    from matassets.assets.datasets import dataset_assets

    monkeypatch.setenv("MATASSETS_THREADS", "1")
    write, prop, unit, factor = CASES[case]
    rows = load_embedded().filter(pl.col("formation_energy").is_not_null()).head(ROWS).to_dicts()
    values = [row["formation_energy"] * factor for row in rows]
    source = write(tmp_path / "input", rows, prop, values)
    root = embedded_root
    name = case.replace("_", "")
    manifest = datasets.add(name, source, [f"{prop}:{unit}"], root=root)
    assert [(p.name, p.unit) for p in manifest.properties] == [(prop, unit)]
    embedded = embedded_state(root)
    assert any(k.startswith("models/cgcnn_formation_energy/") for k in embedded)  # else this proves little

    result = materialize(data_and_cgcnn(dataset_assets(name, root)), root)
    assert result.success
    clean = pl.read_parquet(root / "data" / "datasets" / name / "structures" / "smoke" / "structures.parquet")
    assert clean.height == ROWS and set(clean["source"]) == {name}
    # every value read under its crystal's id
    read = dict(zip(clean["id"], clean[prop], strict=True))
    assert read == pytest.approx({r["id"]: v for r, v in zip(rows, values, strict=True)})

    model = root / "models" / "datasets" / name / f"cgcnn_{prop}" / "smoke"
    metrics = json.loads((model / "metrics.json").read_text())
    assert metrics["test"][prop]["mae"] >= 0 and metrics["val"][prop]["baseline_mad"] > 0
    (event,) = [
        e for e in result.get_asset_materialization_events() if e.asset_key.path == [name, f"cgcnn_{prop}"]
    ]
    meta = event.materialization.metadata
    assert meta["property"].value == f"{prop} ({unit}, regression)"  # its unit, from the manifest
    assert meta["metrics"].value["test"][prop] == metrics["test"][prop]
    command = json.loads((model / "run_record.json").read_text())["command"]
    assert f"dataset train {name} " in command and f"--property {prop}" in command
    assert embedded_state(root) == embedded
