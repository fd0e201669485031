"""A prediction for a crystal with an element the model never saw says so (inference/domain.py):
training writes which elements its training crystals held, ``matassets predict`` adds
``unseen_elements`` (and a warning), the screening table a column and its UI a count; a folder
from before this record says nothing rather than guess. A few candidate files registered without
properties can be screened (no split floor for a data set nothing trains on)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from pymatgen.core import Composition, Element, Lattice, Structure

from matassets.data import schema
from matassets.data.parsing import parse_structure
from matassets.paths import EMBEDDED, Layout

MODEL = "cgcnn_formation_energy"
pytestmark = pytest.mark.slow  # the session's smoke CGCNN (phase1_smoke) is trained for it


def rock_salt(cation: str) -> Structure:
    """Synthetic fixture: a rock-salt chloride of ``cation`` (a = 5.64 Å, NaCl's)."""
    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.64), [cation, "Cl"], [[0, 0, 0], [0.5] * 3])


def unseen_metal(seen: dict) -> str:
    """The lightest metal no training crystal held (the smoke split holds about 80 elements)."""
    return next(e.symbol for e in Element if e.is_metal and e.Z < 95 and e.symbol not in seen)


def test_training_records_its_elements_and_predict_names_an_unseen_one(
    smoke_root: Path, phase1_smoke, tmp_path: Path, monkeypatch, capsys
) -> None:
    from matassets.cli import main
    from matassets.training.model_folder import seal

    layout = Layout(smoke_root)
    folder = layout.model_dir(MODEL, "smoke")
    seen = json.loads((folder / "config.json").read_text())["training_elements"]
    # counted from the formulas; here again from the training crystals' structures, independently
    train = pl.read_csv(folder / "predictions.csv").filter(pl.col("split") == "train")["id"]
    clean = pl.read_parquet(layout.structures("smoke")).filter(pl.col(schema.ID).is_in(train.to_list()))
    held = [
        {e.symbol for e in parse_structure(s, f).composition.elements}
        for s, f in clean.select(schema.STRUCTURE, schema.STRUCTURE_FORMAT).rows()
    ]
    expected = {e: sum(e in h for h in held) for e in set().union(*held)}
    assert seen == expected and clean.height == train.len()
    # and drawn on a periodic table, shown on the model's page in the UI
    assert (folder / "training_elements.png").stat().st_size > 20_000
    (event,) = phase1_smoke.get_asset_materialization_events()
    assert "training elements" in event.materialization.metadata

    # summary: how many test crystals hold an element the model never saw (their errors are in its MAE)
    from matassets.cli import main as cli

    rows = pl.read_csv(folder / "predictions.csv").filter(pl.col("split") == "test")
    table = pl.read_parquet(layout.structures("smoke"))
    tested = table.filter(pl.col(schema.ID).is_in(rows["id"].to_list()))[schema.FORMULA]
    novel = [f for f in tested if {e.symbol for e in Composition(f)} - set(seen)]
    monkeypatch.setenv("MATASSETS_ROOT", str(smoke_root))
    capsys.readouterr()
    assert cli(["summary", "--level", "smoke"]) == 0
    lines = capsys.readouterr().out.splitlines()
    at = next(k for k, line in enumerate(lines) if line.startswith(f"model {MODEL}: test "))
    assert lines[at + 1].startswith(
        f"  test crystals holding an element no training crystal held: {len(novel)} of {rows.height}"
    )

    metal = unseen_metal(seen)
    files = []
    for cation in ("Na", metal):
        path = tmp_path / f"{cation}Cl.cif"
        rock_salt(cation).to(filename=str(path))
        files.append(str(path))
    monkeypatch.setenv("MATASSETS_ROOT", str(smoke_root))
    capsys.readouterr()
    assert main(["predict", "--model", MODEL, "--level", "smoke", *files]) == 0
    out, err = capsys.readouterr()
    known, novel = (json.loads(line) for line in out.splitlines())
    assert known["formula"] == "NaCl" and known["unseen_elements"] == []
    assert novel["formula"] == f"{metal}Cl" and novel["unseen_elements"] == [metal]
    assert err.strip() == (
        f"warning: {files[1]}: {metal} in no training crystal of {MODEL}: the prediction extrapolates"
    )

    # a folder stands for its structure files; one without any is an error line, the others go on;
    # the lines come a chunk at a time (here one file each)
    from matassets.inference import screening

    monkeypatch.setattr(screening, "CHUNK", 1)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["predict", "--model", MODEL, "--level", "smoke", str(tmp_path), str(empty)]) == 1
    out, err = capsys.readouterr()
    assert [json.loads(line)["file"] for line in out.splitlines()] == sorted(files)
    assert err.startswith(f"error: {empty}: no *.cif, *.vasp, *.poscar or POSCAR* files in this folder\n")

    # a folder written before training recorded its elements: no claim either way
    old = tmp_path / "old_root"
    shutil.copytree(folder, Layout(old).model_dir(MODEL, "smoke"))
    config_path = Layout(old).model_dir(MODEL, "smoke") / "config.json"
    config = json.loads(config_path.read_text())
    del config["training_elements"]
    config_path.write_text(json.dumps(config))
    seal(config_path.parent)
    monkeypatch.setenv("MATASSETS_ROOT", str(old))
    assert main(["predict", "--model", MODEL, "--level", "smoke", *files]) == 0
    out, err = capsys.readouterr()
    assert all("unseen_elements" not in json.loads(line) for line in out.splitlines()) and err == ""


def test_screening_flags_candidates_with_an_unseen_element(
    smoke_root: Path, phase1_smoke, smoke_copy: Path, monkeypatch
):
    from conftest import materialize

    from matassets import datasets
    from matassets.assets.datasets import dataset_assets
    from matassets.assets.screening import predictions_asset

    layout = Layout(smoke_copy)
    folder = layout.model_dir(MODEL, "smoke")
    shutil.copytree(Layout(smoke_root).model_dir(MODEL, "smoke"), folder)
    seen = json.loads((folder / "config.json").read_text())["training_elements"]
    metal = unseen_metal(seen)
    cifs = smoke_copy / "candidate_cifs"
    cifs.mkdir()
    for cation in ("Na", "K", metal):
        rock_salt(cation).to(filename=str(cifs / f"{cation}Cl.cif"))
    datasets.add("salts", cifs, [], root=smoke_copy)
    data = [
        a for a in dataset_assets("salts", smoke_copy) if a.key.path[-1] in {"raw_structures", "structures"}
    ]
    # three candidates without properties: no split to fill, so the level's split floor (20 at
    # smoke) does not refuse them (levels.dataset_data_preset), nor is there a split warning
    loaded = materialize(data, smoke_copy)
    (check,) = loaded.get_asset_check_evaluations()
    assert loaded.success and check.passed and "warning" not in check.description
    assert check.description.startswith("3 clean structures; the smoke level needs at least 2 (")
    result = materialize([predictions_asset("salts", EMBEDDED, MODEL)], smoke_copy)
    assert result.success
    out = layout.for_dataset("salts").model_dir(f"predictions_embedded_{MODEL}", "smoke")
    table = pl.read_parquet(out / "predictions.parquet")
    flags = dict(zip(table["formula"], table["unseen_elements"], strict=True))
    assert flags == {"NaCl": "", "KCl": "", f"{metal}Cl": metal}
    assert json.loads((out / "screening.json").read_text())["with an element unseen in training"] == 1
    (event,) = result.get_asset_materialization_events()
    meta = event.materialization.metadata
    assert meta["with an element unseen in training"].value.startswith("1 ")
    assert f"| {metal}Cl |" in meta["top candidates"].value

    # progress a person can follow on a long screen: the candidates, the structures read, each chunk
    from matassets.inference import screening

    lines: list[str] = []
    monkeypatch.setattr(screening, "CHUNK", 2)
    candidates = pl.read_parquet(layout.for_dataset("salts").structures("smoke"))
    again = screening.screen(folder, candidates, lambda p: "eV/atom", lines.append)
    chunked, whole = again.table.sort("id"), table.sort("id")
    assert chunked.drop("mean").equals(whole.drop("mean"))
    assert np.allclose(chunked["mean"], whole["mean"], atol=1e-5)  # batches of 2 sum in another order
    assert lines[0] == "3 candidates (0 in the training split left out)"
    assert lines[1].startswith("3 structures read, 0 skipped, in ")
    assert [line.split(" (")[0] for line in lines[2:]] == [
        "predicted 2/3 candidates",
        "predicted 3/3 candidates",
    ]
