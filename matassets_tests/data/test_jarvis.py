"""JARVIS records -> canonical table, on the real ALIGNN sample records in fixtures/."""

from __future__ import annotations

import importlib.util
import json
import math
import zipfile
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from matassets.data import schema
from matassets.data.errors import DataInputError
from matassets.data.jarvis import JARVIS_TARGETS, atoms_to_structure, load_dft_3d, records_to_frame
from matassets.data.parsing import parse_structure

FF_JSON = Path(__file__).parents[1] / "fixtures" / "jarvis_samples" / "sample_data_ff" / "id_prop.json"


@pytest.fixture(scope="module")
def ff_records() -> list[dict]:
    return json.loads(FF_JSON.read_text())


def test_targets_map_onto_canonical_targets() -> None:
    assert set(JARVIS_TARGETS.values()) <= set(schema.TARGETS)
    assert JARVIS_TARGETS["formation_energy_peratom"] == "formation_energy"
    assert JARVIS_TARGETS["optb88vdw_bandgap"] == "band_gap"
    assert JARVIS_TARGETS["spillage"] == "spillage"
    assert schema.COLUMNS["spillage"] == pl.Float64()


def test_ff_records_become_canonical_rows(ff_records: list[dict]) -> None:
    frame = records_to_frame(ff_records, origin="id_prop.json")
    assert list(frame.columns) == list(schema.COLUMNS)
    assert frame.height == 5
    assert frame["id"].to_list() == ["15607"] * 5
    assert frame["nsites"].to_list() == [10] * 5
    assert frame["formula"].to_list() == ["U(NiGe)2"] * 5  # pymatgen's reduced formula of UNi2Ge2
    assert frame["structure_format"].unique().to_list() == ["pymatgen_json"]
    assert frame["source"].unique().to_list() == ["jarvis_dft_3d"]
    assert frame["origin"].to_list() == [f"id_prop.json record {i}" for i in range(5)]
    assert frame["spacegroup"].null_count() == 5  # no spg_number in these records, none computed
    assert frame["formation_energy"].null_count() == 5  # ff records carry no dft_3d targets


def test_first_ff_record_lattice_and_species_by_hand(ff_records: list[dict]) -> None:
    rec = ff_records[0]
    text = records_to_frame(ff_records[:1])["structure"][0]
    structure = parse_structure(text, "pymatgen_json")
    # lattice rows as written in the record: a = (0, 10.078738, 0), b = (4.115225, 0, 0),
    # c = (0, -1.56982, -3.823964), so |c| = sqrt(1.56982^2 + 3.823964^2)
    assert np.allclose(structure.lattice.matrix[1], [4.115225, 0.0, 0.0])
    assert structure.lattice.abc == pytest.approx((10.078738, 4.115225, 4.133643), abs=1e-5)
    # JARVIS's own stored abc / angles for the record agree
    assert structure.lattice.abc == pytest.approx(rec["atoms"]["abc"], abs=1e-5)
    assert structure.lattice.angles == pytest.approx(rec["atoms"]["angles"], abs=1e-3)
    species = [site.specie.symbol for site in structure]
    assert species == ["U", "U", "Ni", "Ni", "Ni", "Ni", "Ge", "Ge", "Ge", "Ge"]
    # site 2 (Ni) at fractional (0.75720672, 0, 0.195579): x = 0.75720672 a + 0.195579 c
    expected = [0.0, 0.75720672 * 10.078738 - 0.195579 * 1.56982, -0.195579 * 3.823964]
    assert np.allclose(structure[2].coords, expected, atol=1e-6)


def test_cartesian_atoms_dict_gives_same_structure(ff_records: list[dict]) -> None:
    atoms = ff_records[0]["atoms"]
    frac = atoms_to_structure(atoms)
    cart = atoms_to_structure({**atoms, "coords": frac.cart_coords.tolist(), "cartesian": True})
    assert np.allclose(cart.frac_coords, frac.frac_coords, atol=1e-8)


# Synthetic records (not JARVIS data): exercise the edge cases one field at a time.
def _synthetic_record(**fields: object) -> dict:
    atoms = {
        "lattice_mat": [[4.0, 0.0, 0.0], [0.0, 4.0, 0.0], [0.0, 0.0, 4.0]],
        "coords": [[0.0, 0.0, 0.0], [0.5, 0.5, 0.5]],
        "elements": ["Cs", "Cl"],
        "cartesian": False,
    }
    return {"jid": "JVASP-synthetic", "atoms": atoms, **fields}


def test_synthetic_records_missing_values_and_bad_atoms() -> None:
    good = _synthetic_record(
        spg_number=221,
        formation_energy_peratom=-2.1,
        optb88vdw_bandgap="na",
        bulk_modulus_kv="",
        shear_modulus_gv=None,
        spillage=0.7,
        ehull="abc",
    )
    mismatched = _synthetic_record(jid="bad-1")
    mismatched["atoms"]["elements"] = ["Cs"]
    unknown_element = _synthetic_record(jid="bad-2")
    unknown_element["atoms"]["elements"] = ["Cs", "Xx"]
    no_atoms = {"jid": "bad-3", "formation_energy_peratom": 1.0}
    frame = records_to_frame([good, mismatched, unknown_element, no_atoms, "not a record"])
    assert frame.height == 5
    first = frame.row(0, named=True)
    assert first["spacegroup"] == 221
    assert first["formula"] == "CsCl"
    assert first["nsites"] == 2
    assert first["formation_energy"] == -2.1
    assert first["spillage"] == 0.7
    assert first["band_gap"] is None and first["K_VRH"] is None and first["G_VRH"] is None
    assert math.isnan(first["e_above_hull"])  # non-numeric: NaN so validation quarantines it
    assert frame["structure"][1:].to_list() == [None] * 4
    assert frame["formula"][1:].to_list() == [None] * 4
    assert frame["id"].to_list() == ["JVASP-synthetic", "bad-1", "bad-2", "bad-3", None]
    assert frame["origin"][4] == "<file> record 4"


def test_load_dft_3d_reads_cached_json_and_zip(tmp_path: Path, ff_records: list[dict]) -> None:
    (tmp_path / "dft_3d.json").write_text(json.dumps(ff_records))
    frame = load_dft_3d(tmp_path)
    assert frame.height == 5 and frame["origin"][0] == "dft_3d.json record 0"

    zipped = tmp_path / "zipped"
    zipped.mkdir()
    with zipfile.ZipFile(zipped / "dft_3d.json.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("d3-12-12-2022.json", json.dumps(ff_records))
    assert load_dft_3d(zipped)["nsites"].to_list() == [10] * 5


def test_load_dft_3d_broken_cache_is_a_data_input_error(tmp_path: Path) -> None:
    (tmp_path / "dft_3d.json").write_text('[{"jid": ')
    with pytest.raises(DataInputError, match="not valid JSON"):
        load_dft_3d(tmp_path)
    (tmp_path / "dft_3d.json").write_text('{"jid": "JVASP-1"}')
    with pytest.raises(DataInputError, match="expected a JSON list"):
        load_dft_3d(tmp_path)


@pytest.mark.skipif(
    importlib.util.find_spec("jarvis") is not None,
    reason="jarvis-tools is installed: this call could start a real dft_3d download",
)
def test_load_dft_3d_offline_gives_one_clear_line(tmp_path: Path) -> None:
    with pytest.raises(DataInputError) as info:
        load_dft_3d(tmp_path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{tmp_path}: JARVIS dft_3d could not be downloaded")
    assert "jarvis-tools is not installed" in message
    for remedy in ("matassets[jarvis]", "dft_3d.json", "embedded"):
        assert remedy in message
