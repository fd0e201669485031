"""Bad input to the user-file source and to ``matassets predict``: every case gives a clear error
or a quarantined row naming the file, the row and the field, and nothing already stored changes.

Hand-written cases (truncated CIF, singular lattice, NaN/inf, unknown element, empty file, a one-atom
cell, very large cells, duplicate ids, wrong encoding, missing columns) plus hypothesis properties
over mutated structure files, random lattices and random target cells. The structure texts here
are synthetic unit-test inputs, made to be broken.
"""

from __future__ import annotations

import atexit
import csv
import hashlib
import json
import math
import re
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pymatgen.core import Lattice, Structure

from matassets.data.errors import DataInputError
from matassets.data.user_files import load_folder, load_table
from matassets.data.validation import MAX_VOLUME_PER_ATOM, structure_problem, validate
from matassets.graphs.neighbors import DECIMALS, build_graph
from matassets.inference.predict import PredictInputError, load_model, read_structure_file
from matassets.levels import DATA
from matassets.paths import Layout

SAMPLE = Path(__file__).parents[1] / "fixtures" / "jarvis_samples" / "sample_data"
PRESET = DATA["smoke"]
MIN_D, MAX_SITES = PRESET.min_distance, PRESET.max_sites


def poscar(matrix, symbols, counts, coords, scale: str = "1.0") -> str:
    rows = "\n".join(" ".join(str(x) for x in r) for r in matrix)
    atoms = "\n".join(" ".join(str(x) for x in c) for c in coords)
    return f"unit test\n{scale}\n{rows}\n{' '.join(symbols)}\n{' '.join(map(str, counts))}\ndirect\n{atoms}\n"


CUBE = [[4.2, 0, 0], [0, 4.2, 0], [0, 0, 4.2]]
NACL = poscar(CUBE, ["Na", "Cl"], [1, 1], [[0, 0, 0], [0.5, 0.5, 0.5]])
PO_SC = Structure(Lattice.cubic(3.35), ["Po"], [[0, 0, 0]])  # alpha-Po, simple cubic, one atom


def nacl_cif() -> str:
    return Structure.from_str(NACL, fmt="poscar").to(fmt="cif")


# name -> (file text, words the error must contain)
BAD_FILES: dict[str, tuple[str, str]] = {
    "truncated.cif": (nacl_cif()[: len(nacl_cif()) // 2], "unparsable cif"),
    "singular.vasp": (
        poscar([[4, 0, 0], [8, 0, 0], [0, 0, 4]], ["Na", "Cl"], [1, 1], [[0, 0, 0], [0.5] * 3]),
        "degenerate lattice",
    ),
    "nan_coord.vasp": (
        poscar(CUBE, ["Na", "Cl"], [1, 1], [[0, 0, 0], ["nan", 0.5, 0.5]]),
        "not finite",
    ),
    "inf_lattice.vasp": (
        poscar([[4, 0, 0], [0, "inf", 0], [0, 0, 4]], ["Na", "Cl"], [1, 1], [[0, 0, 0], [0.5] * 3]),
        "not finite",
    ),
    "nan_scale.vasp": (NACL.replace("\n1.0\n", "\nnan\n", 1), "not finite"),
    "unknown_element.vasp": (
        poscar(CUBE, ["Xx", "Cl"], [1, 1], [[0, 0, 0], [0.5] * 3]),
        "unknown element symbol(s) ['Xx']",
    ),
    "unknown_element.cif": (nacl_cif().replace(" Na ", " Qq "), "unknown element"),
    "empty.cif": ("", "empty file"),
    "blank.vasp": ("  \n\n", "empty file"),
    "vacuum.vasp": (
        poscar([[1000, 0, 0], [0, 1000, 0], [0, 0, 1000]], ["Na", "Cl"], [1, 1], [[0, 0, 0], [0.5] * 3]),
        "cell too large",
    ),
    "flat.vasp": (
        poscar([[10, 0, 0], [0, 10, 0], [1e5, 1e5, 10]], ["Na", "Cl"], [1, 1], [[0, 0, 0], [0.5] * 3]),
        "cell too flat",
    ),
    "overlap.vasp": (poscar(CUBE, ["Na", "Cl"], [1, 1], [[0, 0, 0], [0, 0, 0]]), "atoms closer"),
}


def tree_bytes(root: Path) -> dict[str, str]:
    """sha256 of every stored file under ``root`` (relative path -> digest); a run's lock file says
    which run holds the level, not what is stored, and each run rewrites it."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.suffix != ".lock"
    }


@pytest.fixture(scope="module")
def model_dir(smoke_root, phase1_smoke) -> Path:
    return Layout(smoke_root).model_dir("cgcnn_formation_energy", "smoke")


# ---------------------------------------------------------------- matassets predict


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_predict_names_the_file_and_the_reason(tmp_path, name):
    text, words = BAD_FILES[name]
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PredictInputError) as info:
        read_structure_file(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and words in message and "\n" not in message


def test_predict_wrong_encoding_names_the_line(tmp_path):
    path = tmp_path / "latin1.cif"
    path.write_bytes(nacl_cif().replace("# generated", "# Ångström", 1).encode("latin-1"))
    with pytest.raises(PredictInputError, match=r"latin1.cif: not UTF-8 text .* line 1\)"):
        read_structure_file(path)
    path = tmp_path / "utf16.vasp"
    path.write_text(NACL, encoding="utf-16")
    with pytest.raises(PredictInputError, match="utf16.vasp: not UTF-8 text"):
        read_structure_file(path)
    bom = tmp_path / "bom.vasp"  # a UTF-8 byte-order mark is fine
    bom.write_bytes(b"\xef\xbb\xbf" + NACL.encode())
    assert read_structure_file(bom).composition.reduced_formula == "NaCl"


def test_very_large_cells(tmp_path, model_dir):
    big = Structure.from_str(NACL, fmt="poscar") * (9, 9, 8)  # 1296 sites
    path = tmp_path / "supercell.vasp"
    big.to(filename=str(path), fmt="poscar")
    with pytest.raises(
        PredictInputError, match=f"1296 sites \\(counted before parsing\\) exceeds the limit of {MAX_SITES}"
    ):
        read_structure_file(path)
    # a big but legal cell (500 sites) is predicted like its primitive cell
    ok = Structure.from_str(NACL, fmt="poscar") * (5, 5, 10)
    ok.to(filename=str(tmp_path / "ok.vasp"), fmt="poscar")
    model = load_model(model_dir)
    values = model.predict_structures(
        ["big", "small"],
        [read_structure_file(tmp_path / "ok.vasp"), Structure.from_str(NACL, fmt="poscar")],
    )
    np.testing.assert_allclose(values[0], values[1], rtol=1e-4, atol=1e-5)


def test_isolated_atoms_are_refused_by_the_model(model_dir):
    model = load_model(model_dir)
    lonely = Structure(Lattice.cubic(9.0), ["Na"], [[0, 0, 0]])  # 729 A^3: passes validation
    assert structure_problem(lonely, MIN_D, MAX_SITES) is None
    with pytest.raises(PredictInputError, match=r"lonely.cif: atom 0 \(Na\) has no neighbour within"):
        model.predict_structures(["lonely.cif"], [lonely])


def test_one_atom_cell_works_with_self_image_neighbours(tmp_path, model_dir):
    graph = build_graph(PO_SC, PRESET.cutoff, PRESET.max_neighbors)
    # every edge joins the only atom to one of its own periodic images
    assert graph.edge_index.shape == (2, PRESET.max_neighbors)
    assert (graph.edge_index == 0).all()
    a, rounding = 3.35, 10.0**-DECIMALS  # distances and vectors are rounded to DECIMALS decimals
    np.testing.assert_allclose(graph.edge_dist[:6], a, atol=rounding)  # 6 faces
    np.testing.assert_allclose(graph.edge_dist[6:], a * math.sqrt(2), atol=rounding)  # 12 edges, cut
    np.testing.assert_allclose(np.linalg.norm(graph.edge_vec, axis=1), graph.edge_dist, atol=2 * rounding)
    np.testing.assert_allclose(graph.edge_vec[:6].sum(axis=0), 0, atol=1e-5)  # +-a along x, y, z
    path = tmp_path / "Po.cif"
    PO_SC.to(filename=str(path))
    structure = read_structure_file(path)
    assert len(structure) == 1
    value = load_model(model_dir).predict_structures(["Po"], [structure])
    assert value.shape == (1, 1) and np.isfinite(value).all()
    frame = load_table(_table(tmp_path, [("po", path.name, "0.0")]))
    assert validate(frame, MIN_D, MAX_SITES).clean["id"].to_list() == ["po"]


def test_cli_predict_reports_each_bad_file_and_changes_nothing(
    tmp_path, smoke_root, model_dir, monkeypatch, capsys
):
    from matassets.cli import main

    monkeypatch.setenv("MATASSETS_ROOT", str(smoke_root))
    files = []
    for name, (text, _) in sorted(BAD_FILES.items()):
        (tmp_path / name).write_text(text, encoding="utf-8")
        files.append(str(tmp_path / name))
    good = tmp_path / "NaCl.vasp"
    good.write_text(NACL)
    before = tree_bytes(model_dir)
    assert main(["predict", "--model", "cgcnn_formation_energy", str(good), *files]) == 1
    out, err = capsys.readouterr()
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line["file"] for line in lines] == [str(good)]
    assert math.isfinite(lines[0]["formation_energy"])
    errors = err.strip().splitlines()
    assert len(errors) == len(files)
    for line, f in zip(errors, files, strict=True):
        assert line.startswith(f"error: {f}: ")
    assert tree_bytes(model_dir) == before
    assert main(["predict", "--model", "cgcnn_nothing", str(good)]) == 2
    assert "cgcnn_nothing is not a model of this installation: choose from" in capsys.readouterr().err


# ---------------------------------------------------------------- the user-file source


def _table(folder: Path, rows: list[tuple[str, str, str]], name: str = "table.csv") -> Path:
    path = folder / name
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "structure", "formation_energy"])
        writer.writerows(rows)
    return path


def test_bad_rows_are_quarantined_with_file_row_and_field(tmp_path):
    rows = [("good", NACL, "-1.5")]
    rows += [(name, text, "0.1") for name, (text, _) in sorted(BAD_FILES.items()) if text.strip()]
    rows += [("nan_target", NACL.replace("4.2", "4.3"), "nan")]
    rows += [("inf_target", NACL.replace("4.2", "4.4"), "inf")]
    rows += [("absurd_target", NACL.replace("4.2", "4.5"), "-1e9")]
    rows += [("good", NACL.replace("4.2", "4.6"), "-1.0")]  # a duplicate id
    table = _table(tmp_path, rows)
    result = validate(load_table(table), MIN_D, MAX_SITES)
    assert result.clean["id"].to_list() == ["good", "nan_target", "inf_target", "absurd_target"]
    assert result.clean["formation_energy"].to_list() == [-1.5, None, None, None]
    q = {(r["id"], r["field"]): r for r in result.quarantine.to_dicts()}
    for n, (rid, _, _) in enumerate(rows, start=2):
        if rid in BAD_FILES:
            entry = q[(rid, "structure")]
            assert entry["origin"] == f"{table} row {n}"
            assert BAD_FILES[rid][1].split("(")[0].strip() in entry["reason"], entry
    assert q[("nan_target", "formation_energy")]["reason"] == "not a finite number"
    assert q[("inf_target", "formation_energy")]["origin"] == f"{table} row {len(rows) - 1}"
    assert "plausible range" in q[("absurd_target", "formation_energy")]["reason"]
    dup = q[("good", "id")]
    assert dup["origin"] == f"{table} row {len(rows) + 1}"
    assert dup["reason"] == f"duplicate id (first seen at {table} row 2)"
    assert result.quarantine.height == len(rows) - 5 + 3 + 1


def test_folder_duplicate_ids_and_bad_files(tmp_path):
    folder = tmp_path / "crystals"
    folder.mkdir()
    (folder / "nacl.vasp").write_text(NACL)
    (folder / "nacl.cif").write_text(nacl_cif())  # the same id from two files
    (folder / "flat.vasp").write_text(BAD_FILES["flat.vasp"][0])
    result = validate(load_folder(folder), MIN_D, MAX_SITES)
    assert result.clean["id"].to_list() == ["nacl"]
    q = {r["id"]: r for r in result.quarantine.to_dicts()}
    assert q["nacl"]["field"] == "id" and str(folder / "nacl.cif") in q["nacl"]["reason"]
    assert q["flat"]["origin"] == str(folder / "flat.vasp") and q["flat"]["field"] == "structure"
    (folder / "empty.cif").write_text("")
    with pytest.raises(DataInputError, match=r"empty.cif: empty file"):
        load_folder(folder)


def _failure_message(result) -> str:
    failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert failures, "the run should have failed"
    return failures[0].step_failure_data.error.cause.message


def test_whole_file_errors_name_the_file_and_leave_stored_data_alone(tmp_path):
    """Materialize a good user folder, then feed raw_structures broken files: each run fails with a
    one-line message naming file (and row/field where there is one), and every stored byte stays."""
    from conftest import materialize

    from matassets.assets.data import raw_structures, structures

    root = tmp_path / "project"
    good = tmp_path / "good"
    shutil.copytree(SAMPLE, good)

    def config(path: Path, targets: str = "") -> dict:
        cfg = {"source": "files", "path": str(path), "targets": targets, "target": "band_gap"}
        return {"ops": {"raw_structures": {"config": cfg}}}

    # the stored tables: the embedded smoke data (ten good user files are too few for smoke's
    # min_clean, and a refused data set writes nothing since #21)
    materialize([raw_structures, structures], root)
    assert Layout(root).structures("smoke").exists()
    before = tree_bytes(root)
    assert len(before) >= 3
    bad = tmp_path / "bad"
    bad.mkdir()
    cases = {
        "missing_columns.csv": ("id,band_gap\nx,1.0\n", r"missing required column\(s\) \['structure'\]"),
        "short_row.csv": (
            "id,structure,band_gap\na,POSCAR-JVASP-10.vasp\n",
            r"row 2: fewer cells than the 3 columns",
        ),
        "not_a_number.csv": (
            "id,structure,band_gap\na,POSCAR-JVASP-10.vasp,abc\n",
            r"row 2 field 'band_gap': not a number \('abc'\)",
        ),
        "header_only.csv": ("id,structure,band_gap\n", "no data rows"),
        "empty.csv": ("", "empty file"),
        "broken.json": ('[{"id": "a", "structure": ', "not valid JSON"),
    }
    for name, (text, _) in cases.items():
        (bad / name).write_text(text, encoding="utf-8")
    shutil.copy(SAMPLE / "POSCAR-JVASP-10.vasp", bad)
    (bad / "utf16.csv").write_text("id,structure\na,POSCAR-JVASP-10.vasp\n", encoding="utf-16")
    cases["utf16.csv"] = ("", r"not UTF-8 text \(byte 0xff on line 1\)")
    wrong_targets = bad / "targets.csv"
    wrong_targets.write_text("file,band_gap\nPOSCAR-JVASP-10.vasp,1.0,2.0\n")
    for name, (_, words) in cases.items():
        result = materialize([raw_structures], root, run_config=config(bad / name))
        assert not result.success
        message = _failure_message(result)
        assert f"{bad / name}" in message and "\n" not in message.strip(), message
        assert re.search(words, message), message
        assert tree_bytes(root) == before, name
    result = materialize([raw_structures], root, run_config=config(good, str(wrong_targets)))
    assert f"{wrong_targets} row 2: expected 2 cells, found 3" in _failure_message(result)
    assert tree_bytes(root) == before


# ---------------------------------------------------------------- properties (hypothesis)

_SCRATCH = Path(tempfile.mkdtemp(prefix="matassets-bad-input-"))  # hypothesis reuses one folder
atexit.register(shutil.rmtree, _SCRATCH, True)
_TOKENS = ["nan", "inf", "-inf", "1e308", "0", "-0", "", "abc", "Xx", "1e-300", "\x00", "Ö"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    fmt=st.sampled_from(["cif", "vasp"]),
    cut=st.floats(0.0, 1.0),
    edits=st.lists(st.tuples(st.floats(0.0, 1.0), st.sampled_from(_TOKENS)), max_size=3),
)
def test_mutated_files_parse_or_fail_by_name(fmt, cut, edits):
    """Any truncation/token replacement of a real file either reads as a usable structure or
    raises ``PredictInputError`` starting with the file's path, never anything else."""
    text = nacl_cif() if fmt == "cif" else NACL
    words = text.split(" ")
    for where, token in edits:
        words[int(where * (len(words) - 1))] = token
    text = " ".join(words)
    text = text[: max(1, int(cut * len(text)))] if cut < 1.0 else text
    path = _SCRATCH / f"mutant.{fmt}"
    path.write_text(text, encoding="utf-8")
    try:
        structure = read_structure_file(path)
    except PredictInputError as exc:
        assert str(exc).startswith(f"{path}: ")
        return
    assert structure_problem(structure, MIN_D, MAX_SITES) is None
    graph = build_graph(structure, PRESET.cutoff, PRESET.max_neighbors)
    assert np.isfinite(graph.edge_dist).all() and (graph.edge_dist >= MIN_D).all()


_lengths = st.one_of(
    st.floats(0.5, 60.0),
    st.sampled_from([0.0, 1e-9, 1e4, 1e12, math.nan, math.inf, -math.inf]),
)


@settings(max_examples=80, deadline=None)
@given(
    abc=st.tuples(_lengths, _lengths, _lengths),
    angles=st.tuples(*[st.floats(0.0, 180.0)] * 3),
    coords=st.lists(st.tuples(*[st.floats(-2.0, 2.0, allow_nan=False)] * 3), min_size=1, max_size=4),
    species=st.sampled_from(["Na", "Po", "Og", "Fe"]),
)
def test_any_lattice_is_refused_or_gives_a_sane_graph(abc, angles, coords, species):
    """Random (also singular, NaN, inf, flat, huge) cells: validation names a problem or the graph
    builder gives finite edges no shorter than the minimum distance; nothing crashes or hangs."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            structure = Structure(Lattice.from_parameters(*abc, *angles), [species] * len(coords), coords)
        except (ValueError, ZeroDivisionError, np.linalg.LinAlgError):
            assume(False)
    problem = structure_problem(structure, MIN_D, MAX_SITES)
    if species == "Og":  # Z = 118 has no CGCNN features
        assert problem is not None
    if not all(map(math.isfinite, abc)):
        assert problem is not None
    if problem is None:
        assert structure.volume <= MAX_VOLUME_PER_ATOM * len(structure)
        graph = build_graph(structure, PRESET.cutoff, PRESET.max_neighbors)
        assert np.isfinite(graph.edge_dist).all() and np.isfinite(graph.edge_vec).all()
        assert (graph.edge_dist >= MIN_D - 1e-6).all()
        assert (graph.edge_dist <= PRESET.cutoff + 1e-6).all()
    else:
        assert isinstance(problem, str) and problem


_cells = st.one_of(
    st.sampled_from(["nan", "inf", "-inf", "NaN", "", "na", "1e400", "-1e9", "0.5", "1,5", "true"]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(max_size=6),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cells=st.lists(_cells, min_size=1, max_size=5))
def test_any_target_cell_is_kept_quarantined_or_named(cells):
    """Whatever text a target cell holds, the table loads with it (finite values kept, NaN/inf/
    absurd ones quarantined by field) or the error names file, row and field."""
    path = _SCRATCH / "targets_table.csv"
    rows = [(f"c{i}", NACL.replace("4.2", f"{4.2 + 0.1 * i:.1f}"), c) for i, c in enumerate(cells)]
    _table(_SCRATCH, rows, name=path.name)
    try:
        frame = load_table(path)
    except DataInputError as exc:
        assert exc.file == str(path) and exc.field == "formation_energy" and exc.row >= 2
        assert "not a number" in str(exc)
        return
    result = validate(frame, MIN_D, MAX_SITES)
    assert result.clean.height == len(cells)  # a target never removes its crystal
    values = result.clean["formation_energy"].to_list()
    quarantined = {r["id"] for r in result.quarantine.to_dicts()}
    for i, value in enumerate(values):
        if value is None:
            continue
        assert math.isfinite(value) and -10 <= value <= 10 and f"c{i}" not in quarantined
    for r in result.quarantine.to_dicts():
        assert r["field"] == "formation_energy" and r["origin"].startswith(f"{path} row ")
    assert pl.Series(values).null_count() >= len(quarantined)
