"""``matassets dataset ...`` on the real ALIGNN sample folder: add, list, show, append, remove, and
errors that name the file, the row and the field."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from matassets.cli import main

SAMPLE = Path(__file__).parents[1] / "fixtures" / "jarvis_samples" / "sample_data"


@pytest.fixture
def root(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setenv("MATASSETS_ROOT", str(tmp_path))
    return tmp_path


def test_add_list_show_append_remove(root: Path, capsys) -> None:
    assert main(["dataset", "add", "jv", str(SAMPLE), "--property", "opt_gap:eV", "--licence", "NIST"]) == 0
    assert "added data set jv version 1: 10 rows (id_prop_folder)" in capsys.readouterr().out
    assert (root / "data" / "datasets" / "jv" / "manifest.json").is_file()
    assert main(["dataset", "list"]) == 0
    out = capsys.readouterr().out
    assert "embedded" in out and "jv" in out and "opt_gap" in out
    assert main(["dataset", "show", "jv", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["properties"] == [{"name": "opt_gap", "unit": "eV", "task": "regression"}]
    assert shown["licence"] == "NIST" and shown["version"] == 1
    more = root / "more"
    more.mkdir()
    shutil.copy(SAMPLE / "POSCAR-JVASP-1996.vasp", more / "POSCAR-JVASP-1996.vasp")
    (more / "id_prop.csv").write_text("POSCAR-JVASP-1996.vasp,4.0\n")
    assert main(["dataset", "append", "jv", str(more)]) == 2
    err = capsys.readouterr().err
    assert "1 id(s) already in data set 'jv'" in err and "POSCAR-JVASP-1996 (opt_gap)" in err
    assert main(["dataset", "append", "jv", str(more), "--replace"]) == 0
    assert "version 2: 0 rows added, 1 replaced" in capsys.readouterr().out
    assert main(["dataset", "remove", "jv"]) == 0
    assert not (root / "data" / "datasets" / "jv").exists()
    assert main(["dataset", "show", "jv"]) == 2


def test_errors_name_file_row_and_field(root: Path, capsys) -> None:
    folder = root / "in"
    shutil.copytree(SAMPLE, folder)
    (folder / "id_prop.csv").unlink()
    (folder / "targets.csv").write_text("file,kappa\nPOSCAR-JVASP-10,1_000\n")
    assert main(["dataset", "add", "k", str(folder), "--property", "kappa:W/mK"]) == 2
    err = capsys.readouterr().err
    assert f"error: {folder / 'targets.csv'} row 2 field 'kappa': not a number ('1_000')" in err
    (folder / "targets.csv").write_text("file,kappa\nPOSCAR-JVASP-10,1.5\n")
    assert main(["dataset", "add", "k", str(folder)]) == 2
    assert "['kappa'] are not canonical properties: describe each with --property kappa:UNIT" in (
        capsys.readouterr().err
    )
    assert main(["dataset", "add", "k", str(folder), "--property", "band_gap:meV"]) == 2
    assert "band_gap is a canonical property; unit 'meV'" in capsys.readouterr().err
    assert main(["dataset", "add", "embedded", str(folder), "--property", "kappa:W/mK"]) == 2
    assert "built-in" in capsys.readouterr().err
    assert not (root / "data" / "datasets").exists() or not any((root / "data" / "datasets").iterdir())


def test_registered_data_set_appears_in_the_code_location(root: Path, capsys) -> None:
    from matassets.assets.catalog import all_assets

    assert main(["dataset", "add", "jv", str(SAMPLE), "--property", "opt_gap:eV"]) == 0
    keys = {k.to_user_string() for a in all_assets() for k in a.keys}
    assert {
        "jv/raw_structures",
        "jv/structures",
        "jv/splits",
        "jv/crystal_graphs",
        "jv/cgcnn_opt_gap",
    } <= keys
    assert {"raw_structures", "cgcnn_band_gap"} <= keys  # the embedded set's names are unchanged
    assert main(["dataset", "train", "jv", "--property", "band_gap"]) == 2
    assert "data set jv has no property ['band_gap']; it has ['opt_gap']" in capsys.readouterr().err
    assert main(["dataset", "train", "embedded"]) == 2


def test_run_phase1_dataset_selects_the_data_sets_assets(root: Path, capsys) -> None:
    assert main(["dataset", "add", "jv", str(SAMPLE), "--property", "opt_gap:eV"]) == 0
    capsys.readouterr()
    assert main(["run", "phase1", "--dataset", "jv", "--level", "smoke", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert (
        "assets (5): jv/raw_structures, jv/structures, jv/crystal_graphs, jv/splits, jv/cgcnn_opt_gap" in out
    )
    # the data set's own data assets are named as data, the model as what follows them
    assert "  data: jv/raw_structures, jv/structures, jv/crystal_graphs, jv/splits\n" in out
    assert "  then: jv/cgcnn_opt_gap\n" in out
    assert main(["run", "phase2", "--dataset", "jv", "--dry-run"]) == 2
    assert "phase2 is not generated per data set; choose phase1 --algorithm cgcnn" in capsys.readouterr().err
    assert main(["run", "phase1", "--dataset", "nope", "--dry-run"]) == 2
    assert "no data set 'nope'" in capsys.readouterr().err


def test_dataset_train_selects_every_family_s_model_of_each_property(root: Path, capsys) -> None:
    assert main(["dataset", "add", "jv", str(SAMPLE), "--property", "opt_gap:eV"]) == 0
    capsys.readouterr()
    assert main(["dataset", "train", "jv", "--level", "smoke", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "partition: smoke" in out
    assert (
        "assets (7): jv/raw_structures, jv/structures, jv/crystal_graphs, jv/splits, jv/cgcnn_opt_gap, "
        "jv/forest_opt_gap, jv/specialist_opt_gap" in out
    )
