"""The mlearn data as MACE reads it: units, stress convention, dedupe, splits, E0s, extended XYZ.

Everything here runs on the real mlearn files shipped in data/mlearn/ (no MACE import, ~5 s).
"""

from __future__ import annotations

import numpy as np
import pytest

from matassets.data import mlearn
from matassets.paths import PROJECT_ROOT

SOURCE = PROJECT_ROOT / "data" / "mlearn"
# mlearn (Zuo et al. 2020): training / official test configurations per element.
MLEARN_SIZES = {
    "Cu": (262, 31),
    "Ge": (228, 25),
    "Li": (241, 29),
    "Mo": (194, 23),
    "Ni": (263, 31),
    "Si": (214, 25),
}


@pytest.fixture(scope="module")
def loaded():
    return {el: mlearn.load_element(SOURCE, el) for el in mlearn.ELEMENTS}


@pytest.fixture(scope="module")
def splits(loaded):
    return mlearn.make_splits(list(loaded.values()), val_fraction=0.1, seed=42)


def test_licences_ship_with_the_data():
    assert (SOURCE / "LICENSE-alignn.rst").exists() and (SOURCE / "LICENSE-mlearn").exists()


def test_units_agree_with_the_official_test_and_sizes_match_mlearn(loaded):
    for el, data in loaded.items():
        r = data.report
        n_train, n_test = MLEARN_SIZES[el]
        # configs hold each official test config twice; total eV = eV/atom x atoms, forces identical
        assert r["official_test"] == n_test and r["test_copies_removed"] == 2 * n_test
        assert r["max_energy_diff_eV_per_atom"] < 1e-6 and r["max_force_diff_eV_per_A"] < 1e-6
        assert r["unique_structures"] == n_train + n_test
        assert r["duplicate_records"] == n_test and r["inconsistent_duplicates_dropped"] == 0
        # the ALIGNN copy pasted training stresses onto the test copies: we never use those
        assert r["test_copies_with_foreign_stress"] == 2 * n_test
        assert r["training_pool"] == n_train - r["test_twins_removed"]


def test_units_check_refuses_energies_that_are_not_per_atom(loaded):
    configs = mlearn.load_configs(SOURCE, "Si")
    test = mlearn.load_official_test(SOURCE, "Si")
    for c in configs:
        c.energy = c.energy / c.n_atoms  # as if total_energy were already the cell's energy
    with pytest.raises(ValueError, match="disagree with the official test"):
        mlearn.check_and_dedupe(configs, test, "Si")


def _shear_configs(data):
    """Sheared cubic supercells (one off-diagonal lattice entry): (i, j, strain sign, σ).

    From the official test and every configs record except the test copies (whose stresses are
    foreign), symmetry twins included.
    """
    copies = {d["uid"] for d in data.dropped if d["reason"] == "copy of an official test config"}
    records = [c for c in mlearn.load_configs(SOURCE, data.element) if c.uid not in copies]
    for c in records + data.test:
        off = np.abs(c.lattice - np.diag(np.diag(c.lattice)))
        diag = np.diag(c.lattice)
        if off.max() < 0.02 or diag.max() > 1.05 * diag.min():
            continue
        i, j = np.unravel_index(off.argmax(), off.shape)
        if np.sort(off.ravel())[-2] > 0.05 * off.max():
            continue
        yield i, j, np.sign(c.lattice[i, j]), c.stress


def test_stress_component_order_and_sign_follow_the_strain(loaded):
    """A shear strain ε_ij of a cubic crystal gives a stress σ_ij of the same sign (C44 > 0): this
    is what STRESS_OFFDIAGONAL and the sign flip in stress_from_kbar must reproduce."""
    for el, data in loaded.items():
        checked = same_sign = 0
        for i, j, strain_sign, stress in _shear_configs(data):
            off = np.abs(stress - np.diag(np.diag(stress)))
            if off.max() < 3 * np.sort(off.ravel())[-3] or off.max() * 160.2 < 0.02:  # GPa
                continue  # no clearly dominant shear component
            k, m = np.unravel_index(off.argmax(), off.shape)
            assert {k, m} == {i, j}, f"{el}: strain {i}{j} but largest stress {k}{m}"
            checked += 1
            same_sign += int(np.sign(stress[i, j]) == strain_sign)
        assert checked >= 6, el
        if el != "Li":  # Li's shear stresses are < 0.1 GPa and their signs are noise
            assert same_sign >= 0.9 * checked, f"{el}: {same_sign}/{checked} signs agree"


def test_compressed_cells_have_compressive_ase_stress(loaded):
    si = loaded["Si"]
    perfect = [c for c in si.pool if np.abs(c.forces).max() < 1e-3 and c.n_atoms == 64]
    a0 = np.median([np.diag(c.lattice) for c in perfect])
    squeezed = [
        c for c in perfect if np.diag(c.lattice).max() <= a0 + 1e-3 and np.diag(c.lattice).min() < a0 - 0.05
    ]
    assert squeezed
    for c in squeezed:
        axis = int(np.argmin(np.diag(c.lattice)))
        assert c.stress[axis, axis] < 0  # ASE sign: compression is negative


def test_splits_are_disjoint_by_structure_and_by_symmetry(loaded, splits):
    assert not mlearn.straddling(splits.train + splits.val, splits.test)
    assert not mlearn.straddling(splits.train, splits.val)
    families = {name: {c.family for c in getattr(splits, name)} for name in ("train", "val", "test")}
    assert not families["train"] & families["test"] and not families["val"] & families["test"]
    assert not families["train"] & families["val"]
    sizes = splits.sizes()
    for el, (_, n_test) in MLEARN_SIZES.items():
        assert sizes["test"][el] == n_test  # the official test, untouched
        pool = loaded[el].report["training_pool"]
        assert sizes["train"][el] + sizes["val"][el] == pool
        assert 0.08 * pool <= sizes["val"][el] <= 0.15 * pool


def test_symmetry_twins_of_test_configs_are_kept_out_of_training(loaded):
    # Cu and Ni elastic test cells have rotated copies (same energy, permuted stress) in configs
    assert loaded["Cu"].report["test_twins_removed"] > 0
    reasons = [d["reason"] for d in loaded["Cu"].dropped]
    assert any(r.startswith("symmetry-equivalent to official test") for r in reasons)
    test_families = {t.family for t in loaded["Cu"].test}
    assert not any(c.family in test_families for c in loaded["Cu"].pool)


def test_least_squares_e0s_recover_known_reference_energies():
    """Synthetic configurations (a unit-test fixture, not data): E = Σ n_el E0_el exactly."""
    truth = {"Cu": -3.7, "Si": -5.4}
    rng = np.random.default_rng(0)
    configs = []
    for k in range(12):
        n_cu, n_si = int(rng.integers(1, 9)), int(rng.integers(0, 9))
        symbols = ["Cu"] * n_cu + ["Si"] * n_si
        n = len(symbols)
        configs.append(
            mlearn.Config(
                uid=f"synthetic/{k}", element="CuSi", lattice=np.eye(3) * 10, symbols=symbols,
                positions=rng.random((n, 3)) * 10, energy=n_cu * truth["Cu"] + n_si * truth["Si"],
                forces=np.zeros((n, 3)), stress=None,
            )
        )  # fmt: skip
    e0s = mlearn.least_squares_e0s(configs)
    assert e0s == pytest.approx(truth, abs=1e-9)


def test_e0s_of_elemental_data_have_the_closed_form(splits):
    e0s = mlearn.least_squares_e0s(splits.train)
    for el in mlearn.ELEMENTS:
        mine = [c for c in splits.train if c.element == el]
        closed = sum(c.energy * c.n_atoms for c in mine) / sum(c.n_atoms**2 for c in mine)
        assert e0s[el] == pytest.approx(closed, abs=1e-9)
    assert -11 < e0s["Mo"] < e0s["Ni"] < e0s["Cu"] < e0s["Li"] < -1  # eV/atom, physical ordering


def test_extxyz_has_explicit_reference_keys_in_project_units(tmp_path, loaded):
    t = loaded["Si"].test[0]
    path = mlearn.write_extxyz([t], tmp_path / "x.xyz", "test")
    text = path.read_text()
    assert "REF_energy=" in text and "REF_stress=" in text and "REF_forces:R:3" in text
    (atoms,) = mlearn.read_extxyz(path)
    raw = mlearn._read_json(mlearn._find(SOURCE / "official_test", "Si.json"))[0]["outputs"]
    assert atoms.info["REF_energy"] == pytest.approx(raw["energy"])  # total eV
    np.testing.assert_allclose(atoms.arrays["REF_forces"], raw["forces"])
    stress = np.reshape(atoms.info["REF_stress"], (3, 3))
    kbar_to_ev_a3 = 0.1 / 160.21766208
    assert stress[0, 0] == pytest.approx(-raw["virial_stress"][0] * kbar_to_ev_a3)
    np.testing.assert_allclose(stress, stress.T)
    assert atoms.info["config_type"] == "Si" and atoms.info["split"] == "test"


def test_build_mace_data_is_deterministic(tmp_path):
    kwargs = dict(elements=("Si", "Li"), val_fraction=0.1, seed=7, max_train_per_element=5,
                  max_val_per_element=2, max_test_per_element=3)  # fmt: skip
    first = mlearn.build_mace_data(SOURCE, tmp_path / "a", **kwargs)
    second = mlearn.build_mace_data(SOURCE, tmp_path / "b", **kwargs)
    assert first["data_hash"] == second["data_hash"] and first["split_hash"] == second["split_hash"]
    assert first["sizes"] == {
        "train": {"Li": 5, "Si": 5},
        "val": {"Li": 2, "Si": 2},
        "test": {"Li": 3, "Si": 3},
    }
    assert set(first["e0s_eV"]) == {"Li", "Si"}
    assert {p.name for p in (tmp_path / "a").iterdir()} == {
        "train.xyz",
        "val.xyz",
        "test.xyz",
        "manifest.json",
    }
    with pytest.raises(ValueError, match="no mlearn data"):
        mlearn.build_mace_data(SOURCE, tmp_path / "c", **{**kwargs, "elements": ("Fe",)})
