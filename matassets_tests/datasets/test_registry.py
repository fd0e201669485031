"""The data-set registry on real data: the ALIGNN sample folder, CIF files written from the embedded
Materials Project structures, a CSV table, and an extended-XYZ file of mlearn DFT configurations."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from matassets import datasets
from matassets.data import schema
from matassets.data.embedded import load_embedded
from matassets.data.errors import DataInputError
from matassets.data.parsing import parse_structure
from matassets.data.validation import validate
from matassets.datasets.manifest import MANIFEST
from matassets.datasets.properties import BUILTIN_DIR, Property, parse_spec
from matassets.paths import PROJECT_ROOT

SAMPLE = Path(__file__).parents[1] / "fixtures" / "jarvis_samples" / "sample_data"


@pytest.fixture(scope="module")
def mp_rows() -> list[dict]:
    """40 real embedded crystals with a band gap."""
    frame = load_embedded().filter(pl.col("band_gap").is_not_null()).head(40)
    return frame.to_dicts()


def cif_folder(folder: Path, rows: list[dict], header: str = "file,is_metal,gap_pbe") -> Path:
    """Real MP structures written as CIF files, with a targets CSV of two properties the platform
    has no name for: is_metal (band gap == 0, a class) and gap_pbe (the band gap, eV)."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = [header]
    for row in rows:
        structure = parse_structure(row["structure"], "pymatgen_json")
        (folder / f"{row['id']}.cif").write_text(structure.to(fmt="cif"))
        lines.append(f"{row['id']}.cif,{int(row['band_gap'] == 0)},{row['band_gap']}")
    (folder / "targets.csv").write_text("\n".join(lines) + "\n")
    return folder


def test_builtin_sets_describe_the_shipped_files_and_the_canonical_facts_live_once() -> None:
    manifests = {m.name: m for m in datasets.list_datasets(Path("/nonexistent"))}
    assert {"embedded", "mlearn", "topo_labels"} <= set(manifests)
    for name in ("embedded", "mlearn", "topo_labels"):
        assert datasets.verify(name) == []  # every shipped file matches its SHA-256
    assert manifests["embedded"].rows == load_embedded().height == 6317
    # the canonical properties' units/ranges are written in properties.json only
    raw = json.loads((BUILTIN_DIR / "embedded.json").read_text())
    assert all(isinstance(p, str) for p in raw["properties"])
    assert schema.TARGETS == datasets.canonical_properties()
    assert schema.TARGETS["band_gap"].unit == "eV" and schema.TARGETS["band_gap"].plausible == (0.0, 30.0)
    assert schema.TARGETS["topo_label"].task == "classification"
    assert manifests["embedded"].property("K_VRH") is schema.TARGETS["K_VRH"]


def test_property_specs() -> None:
    assert parse_spec("kappa:W/mK") == Property("kappa", "W/mK", "regression")
    assert parse_spec("is_metal:-:classification") == Property("is_metal", "", "classification")
    assert parse_spec("dH:eV/atom:regression:-5,5").plausible == (-5.0, 5.0)
    assert parse_spec("band_gap") is schema.TARGETS["band_gap"]
    with pytest.raises(ValueError, match="canonical property; unit 'meV'"):
        parse_spec("band_gap:meV")
    with pytest.raises(ValueError, match="task 'ordinal' is not one of"):
        parse_spec("x:eV:ordinal")
    with pytest.raises(ValueError, match="cannot name a property"):
        parse_spec("gap (eV)")


def test_add_id_prop_folder_show_remove(tmp_path: Path) -> None:
    with pytest.raises(DataInputError, match="id_prop.csv: has no header row.*--property"):
        datasets.add("jv", SAMPLE, root=tmp_path)
    manifest = datasets.add(
        "jv", SAMPLE, ["opt_gap:eV"], licence="NIST", citation="Choudhary 2020", root=tmp_path
    )
    assert manifest.format == "id_prop_folder" and manifest.version == 1 and manifest.rows == 10
    assert [p.to_json() for p in manifest.properties] == [
        {"name": "opt_gap", "unit": "eV", "task": "regression"}
    ]
    folder = tmp_path / "data" / "datasets" / "jv"
    stored = json.loads((folder / MANIFEST).read_text())
    assert stored["licence"] == "NIST" and stored["table_sha256"] == manifest.table_sha256
    copied = {f["path"] for f in stored["files"]}
    assert "files/v1/id_prop.csv" in copied and "files/v1/POSCAR-JVASP-1996.vasp" in copied
    assert datasets.verify("jv", tmp_path) == []
    table = datasets.load_table("jv", tmp_path)
    assert dict(zip(table["id"], table["opt_gap"], strict=True))["POSCAR-JVASP-1996"] == 3.851
    assert set(table["source"]) == {"jv"}
    assert [m.name for m in datasets.list_datasets(tmp_path)][-1] == "jv"
    with pytest.raises(datasets.DatasetError, match="already exists"):
        datasets.add("jv", SAMPLE, ["opt_gap:eV"], root=tmp_path)
    with pytest.raises(datasets.DatasetError, match="built-in"):
        datasets.remove("embedded", tmp_path)
    datasets.remove("jv", tmp_path)
    assert not folder.exists()
    with pytest.raises(datasets.DatasetError, match="no data set 'jv'"):
        datasets.get("jv", tmp_path)


def test_cif_folder_with_unseen_properties_validates_with_the_manifest(tmp_path: Path, mp_rows) -> None:
    folder = cif_folder(tmp_path / "cifs", mp_rows)
    with pytest.raises(DataInputError, match=r"column\(s\) \['is_metal', 'gap_pbe'\] are not canonical"):
        datasets.add("oxides", folder, root=tmp_path)
    manifest = datasets.add(
        "oxides", folder, ["is_metal:-:classification", "gap_pbe:eV:regression:0,20"], root=tmp_path
    )
    assert manifest.format == "structure_folder"
    assert manifest.property("is_metal").kind == "binary"
    table = datasets.load_table("oxides", tmp_path)
    assert table.height == 40 and set(table["structure_format"]) == {"cif"}
    # validation takes the manifest's range: an implausible gap is quarantined, the row stays
    table = table.with_columns(
        pl.when(pl.col("id") == mp_rows[0]["id"]).then(99.0).otherwise(pl.col("gap_pbe")).alias("gap_pbe")
    )
    result = validate(table, 0.5, 1000, {p.name: p for p in manifest.properties})
    assert result.clean.height == 40
    (entry,) = result.quarantine.to_dicts()
    assert (entry["id"], entry["field"]) == (mp_rows[0]["id"], "gap_pbe")
    assert entry["reason"] == "outside the plausible range [0, 20] eV"
    expected = {r["id"]: int(r["band_gap"] == 0) for r in mp_rows}
    assert dict(zip(result.clean["id"], result.clean["is_metal"], strict=True)) == expected


def test_classification_values_must_be_labels(tmp_path: Path, mp_rows) -> None:
    folder = cif_folder(tmp_path / "cifs", mp_rows[:5], header="file,gap_class,gap_pbe")
    with pytest.raises(DataInputError, match="gap_pbe is a classification property but ids"):
        datasets.add(
            "bad", folder, ["gap_class:-:classification", "gap_pbe:eV:classification"], root=tmp_path
        )


def test_csv_table_with_a_canonical_and_an_own_property(tmp_path: Path, mp_rows) -> None:
    table = tmp_path / "table.csv"
    pl.DataFrame(
        {
            "id": [r["id"] for r in mp_rows[:10]],
            "structure": [r["structure"] for r in mp_rows[:10]],
            "band_gap": [r["band_gap"] for r in mp_rows[:10]],
            "density_g_cm3": [parse_structure(r["structure"], "pymatgen_json").density for r in mp_rows[:10]],
        }
    ).write_csv(table)
    manifest = datasets.add("dens", table, ["density_g_cm3:g/cm^3"], root=tmp_path)
    assert manifest.format == "table" and manifest.property_names() == ["band_gap", "density_g_cm3"]
    assert manifest.property("band_gap") == schema.TARGETS["band_gap"]
    result = validate(datasets.load_table("dens", tmp_path), 0.5, 1000)
    assert result.clean.height == 10 and result.quarantine.height == 0


def test_extxyz_of_mlearn_configurations(tmp_path: Path) -> None:
    from ase import Atoms
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.io import write

    records = json.loads(
        gzip.open(PROJECT_ROOT / "data" / "mlearn" / "configs" / "Si_id_prop.json.gz", "rt").read()
    )
    frames = []
    for rec in records[:6]:
        a = rec["atoms"]
        atoms = Atoms(a["elements"], positions=a["coords"], cell=a["lattice_mat"], pbc=True)
        if not a.get("cartesian", True):
            atoms.set_scaled_positions(a["coords"])
        energy = rec["total_energy"] * len(atoms)  # eV/atom in the file, eV in extended XYZ
        atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=np.array(rec["forces"]))
        atoms.info["config_id"] = f"Si-{rec['jid']}"
        frames.append(atoms)
    path = tmp_path / "si.extxyz"
    write(path, frames, format="extxyz")
    manifest = datasets.add("si_dft", path, root=tmp_path)
    assert manifest.format == "extxyz" and manifest.property("energy").unit == "eV"
    table = datasets.load_table("si_dft", tmp_path)
    assert table["id"].to_list() == [f"Si-{r['jid']}" for r in records[:6]]
    assert np.allclose(
        table["energy"].to_numpy(), [r["total_energy"] * len(r["atoms"]["elements"]) for r in records[:6]]
    )
    assert validate(table, 0.5, 1000).clean.height == 6


def test_append_makes_a_version_refuses_conflicts_and_replaces_on_request(tmp_path: Path, mp_rows) -> None:
    specs = ["is_metal:-:classification", "gap_pbe:eV"]
    datasets.add("ox", cif_folder(tmp_path / "a", mp_rows[:20]), specs, root=tmp_path)
    more = cif_folder(tmp_path / "b", mp_rows[15:30])  # 5 ids overlap, identical
    manifest = datasets.append("ox", more, root=tmp_path)
    assert manifest.version == 2 and manifest.rows == 30
    assert manifest.history[-1]["rows added"] == 10 and manifest.history[-1]["rows unchanged"] == 5
    assert any(f["path"].startswith("files/v2/") for f in manifest.files)
    # the same files again: nothing new, no new version
    assert datasets.append("ox", more, root=tmp_path).version == 2
    # a changed value and a changed structure for ids already present
    changed = [dict(r) for r in mp_rows[:3]]
    changed[0]["band_gap"] = changed[0]["band_gap"] + 1.0
    other = parse_structure(mp_rows[5]["structure"], "pymatgen_json")
    conflict = cif_folder(tmp_path / "c", changed)
    (conflict / f"{changed[1]['id']}.cif").write_text(other.to(fmt="cif"))
    with pytest.raises(datasets.DatasetError) as info:
        datasets.append("ox", conflict, root=tmp_path)
    message = str(info.value)
    assert "2 id(s) already in data set 'ox'" in message and "--replace" in message
    differ = "is_metal, gap_pbe" if mp_rows[0]["band_gap"] == 0 else "gap_pbe"  # is_metal = (gap == 0)
    assert f"{changed[0]['id']} ({differ})" in message and f"{changed[1]['id']} (structure)" in message
    assert datasets.get("ox", tmp_path).version == 2  # nothing written
    before = datasets.load_table("ox", tmp_path)
    manifest = datasets.append("ox", conflict, replace=True, root=tmp_path)
    assert manifest.version == 3 and manifest.rows == 30 and manifest.history[-1]["rows replaced"] == 2
    table = datasets.load_table("ox", tmp_path)
    # a replaced row keeps its place, so a capped level (here 10 of 30) draws the same crystals
    assert table["id"].to_list() == before["id"].to_list()
    capped = [set(validate(t, 0.5, 1000, max_clean=10).clean["id"]) for t in (before, table)]
    assert capped[0] == capped[1]
    gap = dict(zip(table["id"], table["gap_pbe"], strict=True))
    assert gap[changed[0]["id"]] == pytest.approx(mp_rows[0]["band_gap"] + 1.0)


def test_a_table_edited_behind_the_registry_is_refused(tmp_path: Path) -> None:
    datasets.add("jv", SAMPLE, ["opt_gap:eV"], root=tmp_path)
    path = tmp_path / "data" / "datasets" / "jv" / "table.parquet"
    frame = pl.read_parquet(path)
    frame.with_columns(pl.col("opt_gap") * 2).write_parquet(path)
    with pytest.raises(datasets.DatasetError, match="differs from the manifest"):
        datasets.load_table("jv", tmp_path)


def test_a_copied_folder_keeps_its_files(tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(SAMPLE, src)
    datasets.add("jv", src, ["opt_gap:eV"], root=tmp_path)
    shutil.rmtree(src)  # the user's folder goes away; the data set does not
    assert datasets.verify("jv", tmp_path) == [] and datasets.load_table("jv", tmp_path).height == 10
