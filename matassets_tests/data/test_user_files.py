"""User files -> canonical table: the real ALIGNN sample folder, and bad inputs in tmp_path."""

from __future__ import annotations

import json
import math
import pickle
import shutil
from pathlib import Path

import pytest
from pymatgen.core import Lattice, Structure

from matassets.data import schema
from matassets.data.errors import DataInputError
from matassets.data.user_files import load_folder, load_table, load_user_source
from matassets.data.validation import validate

SAMPLE = Path(__file__).parents[1] / "fixtures" / "jarvis_samples" / "sample_data"

# Read by hand from the POSCAR count lines and id_prop.csv of the fixture.
NSITES = {"POSCAR-JVASP-10": 3, "POSCAR-JVASP-1996": 2, "POSCAR-JVASP-42300": 22}
BAND_GAP = {"POSCAR-JVASP-1372": 1.681, "POSCAR-JVASP-1996": 3.851, "POSCAR-JVASP-28397": 0.658}


@pytest.fixture
def sample_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "sample_data"
    shutil.copytree(SAMPLE, folder)
    return folder


def _by_id(frame, column: str) -> dict:
    return dict(zip(frame["id"], frame[column], strict=True))


def test_alignn_sample_folder_loads() -> None:
    frame = load_folder(SAMPLE, target="band_gap")  # id_prop.csv is found in the folder
    assert list(frame.columns) == list(schema.COLUMNS)
    assert frame.height == 10
    assert sorted(frame["id"]) == sorted(p.stem for p in SAMPLE.glob("*.vasp"))
    nsites, gap = _by_id(frame, "nsites"), _by_id(frame, "band_gap")
    assert {k: nsites[k] for k in NSITES} == NSITES
    assert {k: gap[k] for k in BAND_GAP} == BAND_GAP
    assert frame["band_gap"].null_count() == 0
    assert frame["formation_energy"].null_count() == 10
    assert frame["formula"].null_count() == 10  # structures are parsed once, by validation
    clean = validate(frame, 0.5, 1000).clean
    assert _by_id(clean, "formula")["POSCAR-JVASP-1996"] == "NaI"
    row = frame.filter(frame["id"] == "POSCAR-JVASP-1372").row(0, named=True)
    poscar = SAMPLE / "POSCAR-JVASP-1372.vasp"
    assert row["structure"] == poscar.read_text() and row["structure_format"] == "poscar"
    assert row["origin"] == f"{poscar}, {SAMPLE / 'id_prop.csv'} row 5"
    assert row["source"] == "user_files"


def test_headerless_values_default_to_formation_energy_and_explicit_csv(tmp_path: Path) -> None:
    frame = load_folder(SAMPLE, targets_csv=SAMPLE / "id_prop.csv")
    assert _by_id(frame, "formation_energy")["POSCAR-JVASP-1996"] == 3.851


def test_header_csv_ids_without_extension_and_unlisted_files(sample_copy: Path) -> None:
    (sample_copy / "id_prop.csv").unlink()
    (sample_copy / "targets.csv").write_text(
        "file,band_gap,K_VRH\nPOSCAR-JVASP-1372,1.5,75.0\nPOSCAR-JVASP-1996.vasp,nan,inf\n"
    )
    frame = load_user_source(sample_copy, None)
    gap, bulk = _by_id(frame, "band_gap"), _by_id(frame, "K_VRH")
    assert gap["POSCAR-JVASP-1372"] == 1.5 and bulk["POSCAR-JVASP-1372"] == 75.0
    assert math.isnan(gap["POSCAR-JVASP-1996"]) and bulk["POSCAR-JVASP-1996"] == math.inf
    assert gap["POSCAR-JVASP-10"] is None  # a structure with no CSV row keeps null targets


def _cif_text() -> str:
    """Synthetic rock-salt NaCl, written by pymatgen: a stand-in for a user's CIF."""
    nacl = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0] * 3, [0.5] * 3])
    return nacl.to(fmt="cif")


def test_synthetic_truncated_cif_is_stored_with_null_formula(tmp_path: Path) -> None:
    text = _cif_text()
    (tmp_path / "nacl.cif").write_text(text)
    (tmp_path / "broken.cif").write_text(text[: len(text) // 3])
    frame = load_folder(tmp_path)
    broken, good = frame.row(0, named=True), frame.row(1, named=True)
    assert (broken["id"], good["id"]) == ("broken", "nacl")
    assert broken["structure"] == text[: len(text) // 3] and broken["structure_format"] == "cif"
    assert broken["formula"] is None and good["formula"] is None  # not parsed before validation
    result = validate(frame, min_distance=0.5, max_sites=200)
    assert result.clean["id"].to_list() == ["nacl"]
    assert (result.clean["formula"][0], result.clean["nsites"][0]) == ("NaCl", 8)
    assert result.quarantine.row(0, named=True)["origin"] == str(tmp_path / "broken.cif")


def test_non_numeric_target_names_row_and_field(sample_copy: Path) -> None:
    csv_path = sample_copy / "id_prop.csv"
    lines = csv_path.read_text().splitlines()
    lines[2] = "POSCAR-JVASP-22556.vasp,abc"
    csv_path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataInputError) as info:
        load_folder(sample_copy, target="band_gap")
    assert (info.value.row, info.value.field) == (3, "band_gap")
    assert str(info.value) == f"{csv_path} row 3 field 'band_gap': not a number ('abc')"


def test_missing_structure_file_names_the_row(sample_copy: Path) -> None:
    (sample_copy / "POSCAR-JVASP-1996.vasp").unlink()
    with pytest.raises(DataInputError, match="'POSCAR-JVASP-1996.vasp' not found") as info:
        load_folder(sample_copy)
    assert info.value.row == 8


def test_any_property_name_is_a_column_and_a_bad_name_is_refused(sample_copy: Path) -> None:
    (sample_copy / "id_prop.csv").write_text("file,ionic_conductivity\nPOSCAR-JVASP-10,0.1\n")
    frame = load_folder(sample_copy)
    assert _by_id(frame, "ionic_conductivity")["POSCAR-JVASP-10"] == 0.1
    assert frame.schema["ionic_conductivity"] == schema.COLUMNS["band_gap"]
    (sample_copy / "id_prop.csv").write_text("file,Ionic conductivity (S/cm)\nPOSCAR-JVASP-10,0.1\n")
    with pytest.raises(DataInputError, match=r"column 'Ionic conductivity \(S/cm\)'.*letters, digits"):
        load_folder(sample_copy)


def test_alignn_multi_value_file_is_refused_clearly(sample_copy: Path) -> None:
    (sample_copy / "id_prop.csv").write_text("POSCAR-JVASP-10.vasp,0.1,0.2,0.3\n")
    with pytest.raises(DataInputError, match="3 values and no column names") as info:
        load_folder(sample_copy)
    assert info.value.row == 1


def test_empty_files_and_folders(tmp_path: Path, sample_copy: Path) -> None:
    (sample_copy / "id_prop.csv").write_text("")
    with pytest.raises(DataInputError, match="empty file"):
        load_folder(sample_copy)
    (sample_copy / "id_prop.csv").write_text("file,band_gap\n")
    with pytest.raises(DataInputError, match="no data rows"):
        load_folder(sample_copy)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataInputError, match="no \\*.cif"):
        load_folder(empty)
    (tmp_path / "table.json").write_text("[]")
    with pytest.raises(DataInputError, match="empty"):
        load_table(tmp_path / "table.json")


def test_latin1_file_is_refused_with_its_line(sample_copy: Path) -> None:
    csv_path = sample_copy / "id_prop.csv"
    csv_path.write_bytes("file,band_gap\nPOSCAR-JVASP-10,1.0 # Müller\n".encode("latin-1"))
    with pytest.raises(DataInputError, match="not UTF-8 text \\(byte 0xfc on line 2\\)"):
        load_folder(sample_copy)


def test_table_csv_and_json_hold_every_structure_kind(tmp_path: Path) -> None:
    cif = _cif_text()
    poscar = (SAMPLE / "POSCAR-JVASP-1996.vasp").read_text()
    pmg = Structure.from_str(poscar, fmt="poscar").as_dict()
    (tmp_path / "si.vasp").write_text((SAMPLE / "POSCAR-JVASP-1372.vasp").read_text())
    records = [
        {"id": "a", "structure": cif, "band_gap": 5.0},
        {"id": "b", "structure": poscar, "band_gap": "3.851"},
        {"id": "c", "structure": pmg, "band_gap": None, "reference_split": "test"},
        {"id": "d", "structure": json.dumps(pmg), "spacegroup": 225},
        {"id": 5, "structure": "si.vasp", "band_gap": 1.681},
    ]
    (tmp_path / "table.json").write_text(json.dumps(records))
    frame = load_table(tmp_path / "table.json")
    assert frame["id"].to_list() == ["a", "b", "c", "d", "5"]
    formats = ["cif", "poscar", "pymatgen_json", "pymatgen_json", "poscar"]
    assert frame["structure_format"].to_list() == formats
    clean = validate(frame, 0.5, 1000).clean
    assert clean["formula"].to_list() == ["NaCl", "NaI", "NaI", "NaI", "AlAs"]
    assert frame["band_gap"].to_list() == [5.0, 3.851, None, None, 1.681]
    assert frame["reference_split"][2] == "test" and frame["spacegroup"][3] == 225
    assert frame["origin"][4] == f"{tmp_path / 'table.json'} record 4 ({tmp_path / 'si.vasp'})"

    csv_text = 'id,structure,band_gap\nb,"' + poscar + '",3.851\n'
    (tmp_path / "table.csv").write_text(csv_text)
    row = load_table(tmp_path / "table.csv").row(0, named=True)
    assert (row["nsites"], row["band_gap"]) == (2, 3.851)  # POSCAR count line, read unparsed
    assert row["origin"] == f"{tmp_path / 'table.csv'} row 2"


def test_table_errors(tmp_path: Path) -> None:
    table = tmp_path / "table.csv"
    table.write_text("id,band_gap\nx,1.0\n")
    with pytest.raises(
        DataInputError,
        match=r"missing required column\(s\) \['structure'\]; "
        r"found \['id', 'band_gap'\]",
    ):
        load_table(table)
    table.write_text("id,structure,band_gap\nx,missing.cif,1.0\n")
    with pytest.raises(DataInputError, match="'missing.cif' not found") as info:
        load_table(table)
    assert (info.value.row, info.value.field) == (2, "structure")
    table.write_text("id,structure,gap [eV]\nx,missing.cif,1.0\n")
    with pytest.raises(DataInputError, match=r"column 'gap \[eV\]': 'gap \[eV\]' cannot name a property"):
        load_table(table)
    with pytest.raises(DataInputError, match="does not exist"):
        load_user_source(tmp_path / "nowhere", None)
    with pytest.raises(DataInputError, match="targets CSV goes with a folder"):
        load_user_source(table, SAMPLE / "id_prop.csv")


def test_error_is_one_line_and_picklable() -> None:
    err = DataInputError("data/x.csv", "not a\nnumber ('abc')", row=7, field="band_gap")
    assert str(err) == "data/x.csv row 7 field 'band_gap': not a number ('abc')"
    assert str(DataInputError("x.cif", "empty file")) == "x.cif: empty file"
    assert isinstance(err, ValueError)
    copy = pickle.loads(pickle.dumps(err))
    assert (copy.file, copy.row, copy.field, str(copy)) == (err.file, 7, "band_gap", str(err))
