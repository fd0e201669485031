"""Issue #19's parsing defects and issue #16's parse-once, one test each (each failed on the code
before the fix). Real structures from the embedded snapshot and the ALIGNN samples; the hostile
inputs (a sparse 30 MB file, a 100k-deep JSON, a module that must never be imported) are synthetic
by necessity and named so."""

from __future__ import annotations

import json
import os
import shutil
import sys
import unicodedata
from pathlib import Path

import polars as pl
import pytest

from matassets.data import schema
from matassets.data.embedded import load_embedded
from matassets.data.errors import DataInputError
from matassets.data.parsing import parse_structure
from matassets.data.user_files import load_folder, load_table
from matassets.data.validation import validate

SAMPLE = Path(__file__).parents[1] / "fixtures" / "jarvis_samples" / "sample_data"


@pytest.fixture(scope="module")
def mp() -> pl.DataFrame:
    return load_embedded().head(450)


def _cif(row: dict) -> str:
    return parse_structure(row["structure"], "pymatgen_json").to(fmt="cif")


def _reasons(result) -> dict[str, str]:
    return {r["id"]: r["reason"] for r in result.quarantine.to_dicts()}


def test_oversized_structure_file_is_refused_before_it_is_read(tmp_path: Path, monkeypatch) -> None:
    shutil.copy(SAMPLE / "POSCAR-JVASP-10.vasp", tmp_path / "POSCAR-JVASP-10.vasp")
    with open(tmp_path / "huge.cif", "wb") as fh:  # synthetic: a sparse 30 MB file
        fh.truncate(30_000_000)
    read = Path.read_bytes
    monkeypatch.setattr(
        Path, "read_bytes", lambda self: pytest.fail("read") if self.name == "huge.cif" else read(self)
    )
    with pytest.raises(DataInputError) as info:
        load_folder(tmp_path)
    message = str(info.value)
    assert message.startswith(str(tmp_path / "huge.cif"))
    assert "30.0 MB, over the limit of 20 MB; raise it with MATASSETS_MAX_STRUCTURE_MB" in message


def test_site_count_is_checked_before_parsing(tmp_path: Path, mp, monkeypatch) -> None:
    poscar = (SAMPLE / "POSCAR-JVASP-10.vasp").read_text().splitlines()
    counts = poscar[6].split()
    poscar[6] = " ".join(["5000"] * len(counts))  # the count line claims 5000 atoms per element
    rows = [
        dict(mp.row(0, named=True), id="big_poscar", structure="\n".join(poscar), structure_format="poscar")
    ]
    row = mp.row(1, named=True)
    cif = _cif(row).splitlines()
    site = next(line for line in cif if line.strip().endswith(tuple("0123456789")) and line.startswith("  "))
    cif += [site] * 1001  # an atom-site loop of 1000+ rows
    rows.append(dict(row, id="big_cif", structure="\n".join(cif), structure_format="cif"))
    from pymatgen.core import Structure

    monkeypatch.setattr(Structure, "from_str", lambda *a, **k: pytest.fail("parsed before the site count"))
    result = validate(schema.canonical_frame(rows), 0.5, 1000, workers=1)
    reasons = _reasons(result)
    assert "counted before parsing" in reasons["big_poscar"] and "max_sites is 1000" in reasons["big_poscar"]
    assert "sites in its atom-site loop (counted before parsing)" in reasons["big_cif"]


def test_deeply_nested_json_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "table.json"
    path.write_text("[" * 100_000 + "]" * 100_000)  # synthetic: 100k levels
    with pytest.raises(DataInputError) as info:
        load_table(path)
    assert str(info.value) == (
        f"{path}: the JSON document is nested 100000 levels deep, over the limit of 64; "
        "raise it with MATASSETS_MAX_JSON_DEPTH=<larger> if this input is meant"
    )


def test_multi_block_cif_is_refused_not_cut_to_its_first_block(tmp_path: Path, mp) -> None:
    a, b = mp.row(0, named=True), mp.row(1, named=True)
    (tmp_path / "two.cif").write_text(_cif(a) + "\n" + _cif(b))
    (tmp_path / "one.cif").write_text(_cif(a))
    result = validate(load_folder(tmp_path), 0.5, 1000)
    assert result.clean["id"].to_list() == ["one"]
    assert (
        "the CIF holds 2 structures" in _reasons(result)["two"]
        and "one file per block" in _reasons(result)["two"]
    )


def test_pymatgen_json_cannot_import_a_module(tmp_path: Path, mp, monkeypatch) -> None:
    marker = tmp_path / "imported"
    (tmp_path / "matassets_probe_module.py").write_text(  # synthetic: records that it was imported
        f"open({str(marker)!r}, 'w').close()\nclass Probe:\n    @classmethod\n    def from_dict(cls, d):\n"
        "        return cls()\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    data = json.loads(mp.row(0, named=True)["structure"])
    data["sites"][0]["properties"]["probe"] = {"@module": "matassets_probe_module", "@class": "Probe"}
    rows = [dict(mp.row(0, named=True), structure=json.dumps(data))]
    result = validate(schema.canonical_frame(rows), 0.5, 1000, workers=1)
    assert result.clean.height == 0
    reason = result.quarantine["reason"][0]
    assert "names the module 'matassets_probe_module'; only pymatgen classes are decoded" in reason
    assert not marker.exists() and "matassets_probe_module" not in sys.modules


def test_a_table_names_structure_files_only_in_its_folder(tmp_path: Path) -> None:
    folder = tmp_path / "table"
    folder.mkdir()
    shutil.copy(SAMPLE / "POSCAR-JVASP-10.vasp", tmp_path / "outside.vasp")
    shutil.copy(SAMPLE / "POSCAR-JVASP-10.vasp", folder / "inside.vasp")
    table = folder / "t.csv"
    table.write_text("id,structure\na,inside.vasp\n")
    assert load_table(table)["nsites"].to_list() == [3]
    for name in ("../outside.vasp", str(tmp_path / "outside.vasp")):
        table.write_text(f"id,structure\na,{name}\n")
        with pytest.raises(DataInputError, match="is outside the table's folder") as info:
            load_table(table)
        assert (info.value.row, info.value.field) == (2, "structure")


@pytest.mark.parametrize("cell", ["1_000", "١٢٣", "１.５", "0x10"])
def test_numbers_are_ascii_decimals(tmp_path: Path, cell: str) -> None:
    shutil.copy(SAMPLE / "POSCAR-JVASP-10.vasp", tmp_path / "a.vasp")
    (tmp_path / "targets.csv").write_text(f"file,band_gap\na,{cell}\n", encoding="utf-8")
    with pytest.raises(DataInputError, match=r"row 2 field 'band_gap': not a number"):
        load_folder(tmp_path)


def test_ids_are_nfc_and_control_characters_are_refused(mp) -> None:
    rows = [dict(r) for r in mp.head(4).to_dicts()]
    rows[0]["id"] = unicodedata.normalize("NFC", "Fé-1")
    rows[1]["id"] = unicodedata.normalize("NFD", "Fé-1")  # the same id, decomposed
    rows[2]["id"] = "mp-2\nid=3"
    rows[3]["id"] = "mp-\x1b[31m"
    result = validate(schema.canonical_frame(rows), 0.5, 1000)
    assert result.clean["id"].to_list() == [unicodedata.normalize("NFC", "Fé-1")]
    reasons = [r["reason"] for r in result.quarantine.to_dicts()]
    assert reasons[0].startswith("duplicate id")
    assert reasons[1] == "id contains control or invisible character(s) U+000A"
    assert reasons[2] == "id contains control or invisible character(s) U+001B"


def test_level_cap_applies_after_validation(tmp_path: Path, mp) -> None:
    from matassets.data.pipeline import build_structures
    from matassets.data.tables import write_table
    from matassets.levels import DATA
    from matassets.paths import Layout

    rows = mp.head(400).to_dicts()
    for row in rows[::8]:  # 50 rows with a truncated structure
        row["structure"] = row["structure"][:100]
    layout = Layout(tmp_path)
    write_table(schema.canonical_frame(rows), layout.raw("smoke"))
    result, reused = build_structures(layout, "smoke", DATA["smoke"])
    assert DATA["smoke"].max_structures == 200 and not reused
    clean = result.clean.collect()
    assert clean.height == 200  # the cap counts clean rows
    counts = result.counts
    assert counts["raw rows"] == 400 and counts["cap"] == 200 and counts["clean"] == 200
    assert counts["structures parsed"] == counts["structure problems"] + 200 + counts["clean beyond the cap"]
    assert counts["structures parsed"] + counts["not read (cap reached)"] == 400
    assert result.quarantine.height == counts["structure problems"] > 0
    assert clean["id"].to_list() == sorted(clean["id"].to_list())
    again, reused = build_structures(layout, "smoke", DATA["smoke"])
    assert reused and again.counts == json.loads(json.dumps(counts))


def test_each_structure_is_parsed_once_from_files_to_the_clean_table(tmp_path: Path, mp, monkeypatch) -> None:
    for row in mp.head(5).to_dicts():
        (tmp_path / f"{row['id']}.cif").write_text(_cif(row))
    from pymatgen.core import Structure

    calls: list[str] = []
    original = Structure.from_str.__func__

    def counting(cls, text, fmt, *args, **kwargs):
        calls.append(fmt)
        return original(cls, text, fmt, *args, **kwargs)

    monkeypatch.setattr(Structure, "from_str", classmethod(counting))
    from matassets.data import parsing

    direct = parsing.read_p1_cif
    monkeypatch.setattr(parsing, "read_p1_cif", lambda text: calls.append("p1 cif") or direct(text))
    result = validate(load_folder(tmp_path), 0.5, 1000, workers=1)
    assert result.clean.height == 5 and calls == ["p1 cif"] * 5  # one read each, no pymatgen re-parse
    assert set(result.clean["structure_format"]) == {"pymatgen_json"}


def test_worker_processes_give_the_same_tables(mp) -> None:
    if (os.cpu_count() or 1) < 2:
        pytest.skip("one core")
    one = validate(mp, 0.5, 1000, workers=1)
    two = validate(mp, 0.5, 1000, workers=2, chunk=64)
    assert one.clean.equals(two.clean) and one.quarantine.equals(two.quarantine)


def test_p1_cif_reader_equals_pymatgens_parser(mp) -> None:
    """The direct P1 reader gives exactly pymatgen's structure (all 6,317 embedded structures were
    compared once; 150 here), and leaves what it does not read to pymatgen."""
    import warnings

    from pymatgen.core import Lattice, Structure

    from matassets.data.parsing import read_p1_cif

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for row in mp.head(150).to_dicts():
            text = _cif(row)
            assert read_p1_cif(text).as_dict() == Structure.from_str(text, fmt="cif").as_dict(), row["id"]
        nacl = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0] * 3, [0.5] * 3])
        from pymatgen.io.cif import CifWriter

        symmetric = str(CifWriter(nacl, symprec=0.1))  # synthetic NaCl with its 192 operations
        assert read_p1_cif(symmetric) is None
        assert len(parse_structure(symmetric, "cif")) == 8
        disordered = _cif(mp.row(0, named=True)).replace("  1\n", "  0.5\n")
        assert read_p1_cif(disordered) is None
