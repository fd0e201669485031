"""docs/reliability.md and docs/data.md: a structure with disordered (partially occupied) sites is
quarantined with its file, field and reason, never silently dropped, and its neighbours are kept."""

from __future__ import annotations

from pymatgen.core import Lattice, Structure
from pymatgen.io.cif import CifWriter

from matassets.data.user_files import load_folder
from matassets.data.validation import validate


def test_a_disordered_cif_is_quarantined_by_name(tmp_path):
    fcc = Lattice.cubic(3.56)
    sites = [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]]
    ordered = Structure(fcc, ["Ni"] * 4, sites)
    alloy = Structure(fcc, [{"Fe": 0.5, "Ni": 0.5}] * 4, sites)  # a random FeNi alloy
    assert not alloy.is_ordered
    CifWriter(ordered).write_file(tmp_path / "ni.cif")
    CifWriter(alloy).write_file(tmp_path / "feni.cif")
    (tmp_path / "targets.csv").write_text("id,formation_energy\nni.cif,0.0\nfeni.cif,-0.05\n")

    raw = load_folder(tmp_path)
    assert raw.height == 2  # the file was read, not skipped
    result = validate(raw, 0.5, 1000, workers=1)
    assert result.clean["id"].to_list() == ["ni"]
    (row,) = result.quarantine.to_dicts()
    assert row["id"] == "feni" and row["field"] == "structure"
    assert "feni.cif" in row["origin"]
    assert "disordered" in row["reason"]
