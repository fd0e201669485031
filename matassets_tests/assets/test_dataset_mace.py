"""A data set registered from an extended-XYZ file gets a MACE potential (``D/mace_potential``, the
``mace`` family row's ``dataset_asset``), trained through Dagster at smoke on the file's own
energies and forces, split by the data set's split manifest; a data set of structures does not.
The file holds 40 real mlearn DFT frames of lithium (``data/mlearn``), written as a user would
(ASE's calculator results: energy, forces, stress). Fewer frames may leave the validation split
empty: the data set's split keeps structures StructureMatcher calls identical (snapshots of one
cell) on one side."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from matassets import datasets
from matassets.paths import Layout


def write_user_extxyz(path: Path, element: str = "Li", n: int = 40) -> Path:
    """``n`` real mlearn frames of ``element`` as a user's extended-XYZ file (no REF_ keys)."""
    from ase import Atoms
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.io import write
    from ase.stress import full_3x3_to_voigt_6_stress

    from matassets.data.mlearn import load_configs, source_root
    from matassets.paths import PROJECT_ROOT

    frames = []
    for c in load_configs(source_root(PROJECT_ROOT), element)[:n]:
        atoms = Atoms(symbols=c.symbols, positions=c.positions, cell=c.lattice, pbc=True)
        results = {"energy": c.energy, "forces": c.forces}
        if c.stress is not None:
            results["stress"] = full_3x3_to_voigt_6_stress(c.stress)
        atoms.calc = SinglePointCalculator(atoms, **results)
        frames.append(atoms)
    write(str(path), frames, format="extxyz")
    return path


def test_an_extxyz_data_set_s_mace_trains_on_its_frames_and_its_split(smoke_copy: Path, monkeypatch) -> None:
    from conftest import embedded_state, materialize

    from matassets.assets.datasets import dataset_assets
    from matassets.data.mlearn import read_extxyz
    from matassets.data.pipeline import load_splits

    root = smoke_copy  # beside the embedded set's smoke data
    monkeypatch.setenv("MATASSETS_THREADS", "1")
    datasets.add("lixyz", write_user_extxyz(root / "li_frames.xyz"), [], root=root)
    embedded = embedded_state(root)
    by_name = {a.key.path[-1]: a for a in dataset_assets("lixyz", root)}
    assert "mace_potential" in by_name and "specialist_energy" in by_name
    wanted = ("raw_structures", "structures", "splits", "mace_potential")
    result = materialize([by_name[n] for n in wanted], root)
    assert result.success
    (check,) = [
        c for c in result.get_asset_check_evaluations() if c.asset_key == by_name["mace_potential"].key
    ]
    assert check.check_name == "beats_trivial_baselines"

    layout = Layout(root).for_dataset("lixyz")
    model_dir = layout.model_dir("mace_potential", "smoke")  # promoted: the check does not block
    assert model_dir == root / "models" / "datasets" / "lixyz" / "mace_potential" / "smoke"
    assert (model_dir / "mace_potential.model").is_file()
    metrics = json.loads((model_dir / "metrics.json").read_text())
    split = load_splits(layout, "smoke")
    test = metrics["test"]["Li"]
    assert test["n_configs"] == min(2, len(split.ids("test")))  # smoke's cap per element
    assert test["energy_baseline_mae_meV_per_atom"] > 0  # beside the E0-only baseline

    data = layout.mace_data("smoke")
    assert data == root / "data" / "datasets" / "lixyz" / "mace" / "smoke"
    for name in ("train", "val", "test"):  # each frame where the data set's split put it
        ids = [a.info["uid"] for a in read_extxyz(data / f"{name}.xyz")]
        assert ids and set(ids) <= set(split.ids(name)), name
    first = read_extxyz(data / "train.xyz")[0]
    assert first.arrays["REF_forces"].shape == (len(first), 3)
    record = json.loads((model_dir / "run_record.json").read_text())
    manifest = json.loads((data / "manifest.json").read_text())
    assert record["data_hash"] == manifest["data_hash"]
    assert manifest["dataset_split_hash"] == split.hash
    assert "run phase3 --dataset lixyz --algorithm mace" in record["command"]
    # its caveat and run-record note name the data set, not the mlearn benchmark
    assert metrics["caveat"].startswith("data set lixyz's own frames") and "mlearn" not in metrics["caveat"]
    assert metrics["caveat"] in record["notes"] and not any("mlearn" in n for n in record["notes"])
    assert sorted(p.name for p in (root / "models").iterdir()) == ["datasets"]  # no embedded model
    assert embedded_state(root) == embedded  # the embedded set's files byte-identical


def test_a_frame_without_forces_is_refused_naming_the_file_and_the_frame(tmp_path: Path) -> None:
    from ase import Atoms
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.io import write

    from matassets.data.errors import DataInputError
    from matassets.data.potential_data import read_frames

    path = write_user_extxyz(tmp_path / "li.xyz", n=3)
    atoms = Atoms("Li2", positions=[[0, 0, 0], [1.5, 1.5, 1.5]], cell=[3, 3, 3], pbc=True)
    atoms.calc = SinglePointCalculator(atoms, energy=-3.0)
    write(str(path), [atoms], format="extxyz", append=True)
    with pytest.raises(DataInputError, match=r"li\.xyz.*3.*forces"):
        read_frames([path])


def test_a_data_set_of_structures_gets_no_potential(dataset_smoke: Path) -> None:
    from matassets.assets.datasets import dataset_assets

    names = {a.key.path[-1] for a in dataset_assets("tiny", dataset_smoke)}
    assert {"cgcnn_e_form", "forest_e_form", "specialist_e_form"} <= names
    assert "mace_potential" not in names


def test_a_data_set_s_potential_trains_no_per_element_models_at_std(tmp_path: Path) -> None:
    """The embedded std level also fits one MACE per element (mlearn's benchmark); a data set's
    potential resolves its preset with ``per_element`` false, as its asset does, unless its run
    config asks for them."""
    from matassets.assets.dataset_potential import resolve_preset
    from matassets.assets.phase3_mace import MaceOverrides
    from matassets.families import family
    from matassets.levels import MACE

    assert MACE["std"].per_element  # else this test proves nothing
    for level in MACE:
        preset, overrides, _ = resolve_preset(family("mace"), level, MaceOverrides())
        assert not preset.per_element and overrides == {}, level
    preset, overrides, _ = resolve_preset(family("mace"), "std", MaceOverrides(per_element=True))
    assert preset.per_element and overrides == {"per_element": True}


def test_an_extxyz_data_set_is_screened_by_its_property_models_not_its_potential(tmp_path: Path) -> None:
    """Screening takes a data set's per-property models (its CGCNN, specialist and forest of each
    property); the MACE potential, one per data set, predicts no property of a candidate."""
    from matassets.assets.screening import screening_assets

    datasets.add("lixyz", write_user_extxyz(tmp_path / "li_frames.xyz", n=5), [], root=tmp_path)
    keys = {a.key.to_user_string() for a in screening_assets(tmp_path) if a.key.path[0] == "lixyz"}
    assert "lixyz/predictions_mace_potential" not in keys
    own = {f"lixyz/predictions_{m}_energy" for m in ("cgcnn", "specialist", "forest")}
    assert own <= keys
