"""MACE never trains on the official mlearn test: the training and validation files the
``mace_training_data`` asset writes hold no copy of an official test configuration and no
symmetry twin of one (a rotated or mirrored copy), re-derived here with pymatgen's StructureMatcher,
not with the code's own fingerprint and ``family`` value."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from conftest import materialize
from pymatgen.analysis.structure_matcher import StructureMatcher
from pymatgen.core import Lattice, Structure

from matassets.data import mlearn
from matassets.levels import MACE
from matassets.paths import PROJECT_ROOT

pytestmark = pytest.mark.slow  # ~1.5 min on 2 cores: the whole training pool against the official test

SOURCE = PROJECT_ROOT / "data" / "mlearn"
LEVEL = "std"  # the first level without caps: its training file is the whole training pool
# one structure up to rotation, reflection and atom order; strained copies (0.5 % and up) and AIMD
# snapshots are different structures
MATCHER = StructureMatcher(
    ltol=1e-3, stol=1e-2, angle_tol=0.05, primitive_cell=False, scale=False, attempt_supercell=False
)


def structure(c: mlearn.Config) -> Structure:
    return Structure(Lattice(c.lattice), c.symbols, c.positions, coords_are_cartesian=True)


def same(a: Structure, b: Structure) -> bool:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return MATCHER.fit(a, b)


@pytest.fixture(scope="module")
def mace_files(tmp_path_factory):
    from matassets.assets.phase3_mace import mace_training_data

    assert all(getattr(MACE[LEVEL], f) is None for f in ("max_train_per_element", "max_val_per_element"))
    root = tmp_path_factory.mktemp("mace_data")
    assert materialize([mace_training_data], root, partition=LEVEL).success
    (folder,) = root.glob(f"data/mace/{LEVEL}")
    return folder


def training_structures(folder) -> list[tuple[str, Structure, float]]:
    out = []
    for name in ("train", "val"):
        for atoms in mlearn.read_extxyz(folder / f"{name}.xyz"):
            s = Structure(Lattice(atoms.cell[:]), atoms.get_chemical_symbols(), atoms.positions,
                          coords_are_cartesian=True)  # fmt: skip
            out.append((atoms.info["uid"], s, float(atoms.info[mlearn.REF_ENERGY]) / len(atoms)))
    return out


def distances(s: Structure) -> np.ndarray:
    """Every minimum-image interatomic distance, sorted: unchanged by a rotation, a reflection or a
    relabelling of the atoms (a necessary condition of "the same structure", unlike the code's
    fingerprint not cut at 4 Å)."""
    d = s.distance_matrix
    return np.sort(d[np.triu_indices(len(s), 1)])


def test_no_official_test_configuration_or_twin_in_the_mace_training_files(mace_files):
    train = training_structures(mace_files)
    manifest = json.loads((mace_files / "manifest.json").read_text())
    assert len(train) == sum(sum(manifest["sizes"][s].values()) for s in ("train", "val"))
    cached: dict[str, np.ndarray] = {}
    candidates = compared = 0
    for element in MACE[LEVEL].elements:
        for t in mlearn.load_official_test(SOURCE, element):
            test = Structure(Lattice(t.lattice), t.symbols, t.positions, coords_are_cartesian=True)
            test_distances = distances(test)
            for uid, s, energy in train:
                # cheap necessary conditions first: composition, size, volume, DFT energy (2 meV/atom,
                # twice the code's tolerance; mirror copies differ by 0.5 meV/atom), the distances
                if len(s) != len(test) or s.composition != test.composition:
                    continue
                if abs(s.volume - test.volume) > 1e-3 * test.volume:
                    continue
                if abs(energy - t.energy / len(test)) > 2e-3:
                    continue
                candidates += 1
                if uid not in cached:
                    cached[uid] = distances(s)
                if np.abs(cached[uid] - test_distances).max() > 1e-2:
                    continue
                compared += 1
                assert not same(s, test), f"{uid} in MACE's training files is official test {t.uid}"
    assert candidates > 0  # the filters do not leave nothing to compare


def test_the_code_s_symmetry_twins_are_twins_by_structure_matcher():
    """Each training configuration the code drops as a symmetry twin of an official test config is
    the same structure as some test config by StructureMatcher (no false removals either)."""
    element = "Cu"  # the element whose twins are documented (sheared copies of elastic strains)
    data = mlearn.load_element(SOURCE, element)
    twins = [d["uid"] for d in data.dropped if d["reason"].startswith("symmetry-equivalent")]
    assert twins
    configs = {c.uid: c for c in mlearn.load_configs(SOURCE, element)}
    tests = [(structure(t), t.energy / t.n_atoms) for t in data.test]
    for uid in twins:
        c = configs[uid]
        s = structure(c)
        near = [  # a twin has the DFT energy of its test cell (within the 2 meV/atom used above)
            t for t, energy in tests if len(t) == len(s) and abs(energy - c.energy / c.n_atoms) < 2e-3
        ]
        assert any(np.abs(distances(s) - distances(t)).max() < 1e-2 and same(s, t) for t in near), uid
    assert np.isfinite([configs[u].energy for u in twins]).all()
