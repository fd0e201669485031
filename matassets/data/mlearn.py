"""The mlearn DFT data set (Zuo et al., J. Phys. Chem. A 124, 731 (2020)) as MACE training files.

Two sources, both under ``data/mlearn/`` (gzipped, byte-identical copies of the originals):

- ``configs/<El>_id_prop.json.gz``: the ALIGNN repository's JARVIS-format copy of all mlearn
  configurations. ``total_energy`` is in eV/atom, ``forces`` in eV/Å, ``stresses`` six numbers
  in kbar with VASP's sign (positive = compressive, i.e. minus the physical stress).
- ``official_test/<El>.json.gz``: the official mlearn test sets (pymatgen structures, ``outputs``
  with total ``energy`` in eV, ``forces`` in eV/Å and ``virial_stress`` in kbar, same sign).

What :func:`check_units` confirms on the real files (``docs/phase3_mace.md`` has the numbers):
every official test configuration appears (twice) in ``configs``; ``total_energy`` × atoms equals the
official total energy and the forces are identical. The ``stresses`` of those test copies are NOT
theirs: the ALIGNN copy pasted the stresses of the first training records onto them. The training
records' own stresses are consistent with their strains (compressed cells have positive diagonal
values, a shear strain ε_ij gives the largest off-diagonal in its own component, with the sign of
-σ). The off-diagonal order differs by element, because the per-element data came from different
projects: Cu, Mo and Ni store (xy, xz, yz), Ge, Li and Si store VASP's OUTCAR order (xy, yz, zx).
``STRESS_OFFDIAGONAL`` holds that fact and a test re-derives it from the strained cells.

This module knows nothing about Dagster or MACE: it reads, checks, deduplicates, splits and writes
extended XYZ with explicit ``REF_energy`` (eV), ``REF_forces`` (eV/Å) and ``REF_stress`` (3×3,
eV/Å³, ASE sign: positive = tensile) keys, which is what ``mace_run_train`` reads.

Long: one data set's quirks and the code that handles them, in reading order (units, the pasted
stresses, the per-element stress order, twins across the official split, E0s, the files MACE reads):
each step relies on facts established in the one before, and the docstring above is their record.
"""

from __future__ import annotations

import gzip
import json
from collections import Counter, defaultdict
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from matassets.io import atomic_write

ELEMENTS: tuple[str, ...] = ("Cu", "Ge", "Li", "Mo", "Ni", "Si")
ATOMIC_NUMBERS = {"Cu": 29, "Ge": 32, "Li": 3, "Mo": 42, "Ni": 28, "Si": 14}

# 1 kbar = 0.1 GPa; 1 eV/Å^3 = 160.21766208 GPa (CODATA e, as in ASE's units).
KBAR_TO_EV_PER_A3 = 0.1 / 160.21766208

# Which tensor component each of the last three stored stress numbers is (first three: xx yy zz).
STRESS_OFFDIAGONAL: dict[str, tuple[tuple[int, int], ...]] = {
    "Cu": ((0, 1), (0, 2), (1, 2)),
    "Mo": ((0, 1), (0, 2), (1, 2)),
    "Ni": ((0, 1), (0, 2), (1, 2)),
    "Ge": ((0, 1), (1, 2), (0, 2)),
    "Li": ((0, 1), (1, 2), (0, 2)),
    "Si": ((0, 1), (1, 2), (0, 2)),
}

REF_ENERGY, REF_FORCES, REF_STRESS = "REF_energy", "REF_forces", "REF_stress"


@dataclass(eq=False)
class Config:
    """One DFT configuration in project units: eV, eV/Å, eV/Å³ (ASE sign), Å."""

    uid: str  # "<El>/<source>/<id>", e.g. "Si/configs/17" or "Si/test/3"
    element: str
    lattice: np.ndarray  # (3, 3), rows are lattice vectors, Å
    symbols: list[str]
    positions: np.ndarray  # (n, 3) Cartesian, Å
    energy: float  # total, eV
    forces: np.ndarray  # (n, 3) eV/Å
    stress: np.ndarray | None  # (3, 3) eV/Å³, positive = tensile; None = unknown
    group: str = ""  # mlearn's group (AIMD-NVT, Elastic, Surface, Vacancy) where known
    description: str = ""
    family: str = ""  # uid of the first member of its symmetry-equivalence family

    @property
    def n_atoms(self) -> int:
        return len(self.symbols)

    @cached_property
    def frac(self) -> np.ndarray:
        """Fractional coordinates (computed once)."""
        return np.linalg.solve(self.lattice.T, self.positions.T).T


def stress_from_kbar(values, element: str) -> np.ndarray:
    """Six stored numbers (kbar, VASP sign, per-element order) → 3×3 eV/Å³ with ASE's sign."""
    v = np.asarray(values, dtype=float)
    if v.shape != (6,):
        raise ValueError(f"{element}: a stress needs 6 numbers, got shape {v.shape}")
    m = np.diag(v[:3])
    for value, (i, j) in zip(v[3:], STRESS_OFFDIAGONAL[element], strict=True):
        m[i, j] = m[j, i] = value
    return -m * KBAR_TO_EV_PER_A3


def same_structure(a: Config, b: Config, tol: float = 1e-3) -> bool:
    """Identical cells: same lattice and, up to atom order and periodic images, same sites (Å)."""
    if a.n_atoms != b.n_atoms or sorted(a.symbols) != sorted(b.symbols):
        return False
    if not np.allclose(a.lattice, b.lattice, atol=tol):
        return False
    return _atom_order(a, b, tol) is not None


def _atom_order(a: Config, b: Config, tol: float = 1e-3) -> np.ndarray | None:
    """Index into ``a`` listing its atoms in ``b``'s order, or None when the sites differ."""
    if a.symbols == b.symbols and np.allclose(a.positions, b.positions, atol=tol):
        return np.arange(a.n_atoms)
    probe = b.frac[:1, None, :] - a.frac[None, :, :]  # cheap reject: b's first atom must be in a
    probe -= np.round(probe)
    if np.linalg.norm(probe @ b.lattice, axis=2).min() >= tol:
        return None
    diff = b.frac[:, None, :] - a.frac[None, :, :]
    diff -= np.round(diff)
    dist = np.linalg.norm(diff @ b.lattice, axis=2)
    order = np.argmin(dist, axis=1)
    ok = (
        np.all(dist[np.arange(b.n_atoms), order] < tol)
        and len(set(order.tolist())) == a.n_atoms
        and all(a.symbols[i] == s for i, s in zip(order, b.symbols, strict=True))
    )
    return order if ok else None


def _signature(c: Config) -> np.ndarray:
    """Lattice plus Σcos/Σsin(2π·frac) per axis: equal for identical cells, whatever the atom order."""
    angle = 2 * np.pi * c.frac
    return np.concatenate([c.lattice.ravel(), np.cos(angle).sum(0), np.sin(angle).sum(0)])


def group_identical(configs: list[Config], tol: float = 1e-3) -> list[list[Config]]:
    """Groups of identical structures (first-seen order).

    Candidates are found by comparing signatures (cheap, vectorised), then confirmed site by site.
    """
    buckets: dict[tuple, tuple[list[list[Config]], list[np.ndarray]]] = defaultdict(lambda: ([], []))
    groups: list[list[Config]] = []
    for c in configs:
        bucket, sigs = buckets[(c.n_atoms, tuple(sorted(Counter(c.symbols).items())))]
        sig = _signature(c)
        match = None
        if sigs:
            delta = np.abs(np.asarray(sigs) - sig)
            # a site moved by tol Å moves its angle by at most 2π·tol/|L| (shortest lattice vector)
            trig_tol = 2 * np.pi * c.n_atoms * tol / np.linalg.norm(c.lattice, axis=1).min() + 1e-9
            near = np.flatnonzero((delta[:, :9].max(1) < tol) & (delta[:, 9:].max(1) < trig_tol))
            match = next((k for k in near if same_structure(bucket[k][0], c, tol)), None)
        if match is None:
            bucket.append([c])
            sigs.append(sig)
            groups.append(bucket[-1])
        else:
            bucket[match].append(c)
    return groups


def _read_json(path: Path):
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:
        return json.load(fh)


def _find(folder: Path, name: str) -> Path:
    for candidate in (folder / f"{name}.gz", folder / name):
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"{folder / name}(.gz) is missing; see data/mlearn/README.md")


def load_configs(root: Path, element: str) -> list[Config]:
    """All records of ``configs/<El>_id_prop.json`` (duplicates included), in file order."""
    path = _find(root / "configs", f"{element}_id_prop.json")
    out = []
    for k, rec in enumerate(_read_json(path)):
        atoms = rec["atoms"]
        lattice = np.asarray(atoms["lattice_mat"], float)
        coords = np.asarray(atoms["coords"], float)
        cartesian = atoms.get("cartesian") in (True, "True", "true")
        positions = coords if cartesian else coords @ lattice
        symbols = list(atoms["elements"])
        n = len(symbols)
        forces = np.asarray(rec["forces"], float)
        if forces.shape != (n, 3):
            raise ValueError(f"{path} record {k}: forces shape {forces.shape} for {n} atoms")
        cfg = Config(
            uid=f"{element}/configs/{rec.get('jid', k)}",
            element=element,
            lattice=lattice,
            symbols=symbols,
            positions=positions,
            energy=float(rec["total_energy"]) * n,  # stored per atom
            forces=forces,
            stress=stress_from_kbar(rec["stresses"], element),
        )
        out.append(cfg)
    return out


def load_official_test(root: Path, element: str) -> list[Config]:
    """The official mlearn test set of one element, in file order."""
    path = _find(root / "official_test", f"{element}.json")
    out = []
    for k, rec in enumerate(_read_json(path)):
        struct = rec["structure"]
        lattice = np.asarray(struct["lattice"]["matrix"], float)
        sites = struct["sites"]
        symbols = [s["species"][0]["element"] for s in sites]
        frac = np.asarray([s["abc"] for s in sites], float)
        outputs = rec["outputs"]
        cfg = Config(
            uid=f"{element}/test/{k}",
            element=element,
            lattice=lattice,
            symbols=symbols,
            positions=frac @ lattice,
            energy=float(outputs["energy"]),
            forces=np.asarray(outputs["forces"], float),
            stress=stress_from_kbar(outputs["virial_stress"], element),
            group=str(rec.get("group", "")),
            description=str(rec.get("description", "")),
        )
        out.append(cfg)
    return out


def _fingerprint(c: Config, cutoff: float = 4.0) -> np.ndarray:
    """Rotation- and order-free description of a cell: metric eigenvalues + sorted distances ≤ cutoff."""
    from pymatgen.core import Lattice, Structure

    struct = Structure(Lattice(c.lattice), c.symbols, c.positions, coords_are_cartesian=True)
    *_, dist = struct.get_neighbor_list(cutoff)
    metric = np.linalg.eigvalsh(c.lattice @ c.lattice.T)
    return np.concatenate([np.sqrt(metric), np.sort(dist)])


def symmetry_families(configs: list[Config], tol: float = 1e-3, energy_tol: float = 1e-3) -> None:
    """Set ``family`` on each config: equal for cells that are the same structure up to a rotation,
    reflection or atom relabelling (e.g. the xy-, yz- and zx-sheared copies of one elastic strain).

    Such cells have the same DFT energy up to numerical noise (mirror-related sheared Cu cells here
    differ by 0.5 meV/atom), so candidates are cells of equal size and composition whose energies
    agree to ``energy_tol`` eV/atom; a pair is equivalent when the cell-metric eigenvalues and the
    sorted interatomic distances up to 4 Å agree to ``tol`` Å. Families are the connected groups of
    equivalent pairs; each is named by its first member in input order. An invariant model sees such
    cells as one input, so they must share a split.
    """
    prints: dict[int, np.ndarray] = {}

    def fingerprint(c: Config) -> np.ndarray:
        if id(c) not in prints:
            prints[id(c)] = _fingerprint(c)
        return prints[id(c)]

    order = {id(c): k for k, c in enumerate(configs)}
    parent = list(range(len(configs)))

    def root(k: int) -> int:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    ordered = sorted(configs, key=lambda c: (c.n_atoms, c.energy / c.n_atoms))
    for i, c in enumerate(ordered):
        for prev in reversed(ordered[:i]):
            if prev.n_atoms != c.n_atoms or (c.energy - prev.energy) / c.n_atoms > energy_tol:
                break
            if sorted(prev.symbols) != sorted(c.symbols):
                continue
            a, b = fingerprint(prev), fingerprint(c)
            if a.shape == b.shape and np.abs(a - b).max() < tol:
                ra, rb = root(order[id(prev)]), root(order[id(c)])
                parent[max(ra, rb)] = min(ra, rb)
    for k, c in enumerate(configs):
        c.family = configs[root(k)].uid


@dataclass
class ElementData:
    """One element after checks: unique training-pool configs, official test, and what was dropped."""

    element: str
    pool: list[Config]  # configs minus official test, deduplicated
    test: list[Config]
    report: dict
    dropped: list[dict]  # uid and reason of every record kept out of the training pool


def check_and_dedupe(configs: list[Config], test: list[Config], element: str) -> ElementData:
    """Confirm units against the official test, drop duplicates and the test copies.

    Raises ``ValueError`` when a test configuration has no copy in ``configs`` or when energies or
    forces disagree: that would mean the files are not what the docs say.
    """
    groups = group_identical(configs)
    max_de = max_df = 0.0
    stress_mismatch = n_test_copies = 0
    test_groups: set[int] = set()
    index = {id(g[0]): k for k, g in enumerate(groups)}
    joint = group_identical([g[0] for g in groups] + list(test))
    hits_of = {
        id(t): [index[id(x)] for x in grp if id(x) in index]
        for grp in joint
        for t in grp
        if id(t) not in index
    }
    for t in test:
        hits = hits_of.get(id(t), [])
        if not hits:
            raise ValueError(f"{element}: official test {t.uid} has no copy in configs")
        for k in hits:
            test_groups.add(k)
            for c in groups[k]:
                n_test_copies += 1
                order = _atom_order(c, t)
                max_de = max(max_de, abs(c.energy - t.energy) / t.n_atoms)
                max_df = max(max_df, float(np.abs(c.forces[order] - t.forces).max()))
                if not np.allclose(c.stress, t.stress, atol=1e-5):
                    stress_mismatch += 1
    if max_de > 1e-6 or max_df > 1e-6:
        raise ValueError(
            f"{element}: configs disagree with the official test (max |ΔE| {max_de:.3g} eV/atom, "
            f"max |ΔF| {max_df:.3g} eV/Å); units or records are not as documented"
        )
    pool, dropped = [], []
    for k, group in enumerate(groups):
        first = group[0]
        if k in test_groups:
            dropped += [{"uid": c.uid, "reason": "copy of an official test config"} for c in group]
            continue
        dropped += [{"uid": c.uid, "reason": f"duplicate of {first.uid}"} for c in group[1:]]
        if any(
            abs(c.energy - first.energy) > 1e-6 or not np.allclose(c.stress, first.stress, atol=1e-5)
            for c in group[1:]
        ):
            dropped.append({"uid": first.uid, "reason": "duplicates carry different labels"})
            continue  # one structure, two different labels: neither can be trusted
        pool.append(first)
    symmetry_families(pool + list(test))
    test_families = {t.family for t in test}
    twins = [c for c in pool if c.family in test_families]
    dropped += [{"uid": c.uid, "reason": f"symmetry-equivalent to official test {c.family}"} for c in twins]
    pool = [c for c in pool if c.family not in test_families]
    report = {
        "records": len(configs),
        "unique_structures": len(groups),
        "duplicate_records": len(configs) - len(groups),
        "official_test": len(test),
        "test_copies_removed": n_test_copies,
        "inconsistent_duplicates_dropped": sum(
            d["reason"] == "duplicates carry different labels" for d in dropped
        ),
        "test_twins_removed": len(twins),
        "test_configs_with_training_twin": sum(t.family in {c.family for c in twins} for t in test),
        "training_pool": len(pool),
        "max_energy_diff_eV_per_atom": max_de,
        "max_force_diff_eV_per_A": max_df,
        "test_copies_with_foreign_stress": stress_mismatch,
    }
    return ElementData(element, pool, test, report, dropped)


def load_element(root: Path, element: str) -> ElementData:
    return check_and_dedupe(load_configs(root, element), load_official_test(root, element), element)


@dataclass
class MaceSplits:
    train: list[Config]
    val: list[Config]
    test: list[Config]
    reports: dict[str, dict]

    def sizes(self) -> dict[str, dict[str, int]]:
        return {
            name: dict(Counter(c.element for c in getattr(self, name))) for name in ("train", "val", "test")
        }


def make_splits(
    elements: list[ElementData],
    *,
    val_fraction: float,
    seed: int,
    max_train_per_element: int | None = None,
    max_val_per_element: int | None = None,
    max_test_per_element: int | None = None,
) -> MaceSplits:
    """Per element: validation carved at random (seeded) from the pool, train = the rest.

    Caps (smoke/lite) take a seeded random subset of each side; the test set is the official one
    (capped only when ``max_test_per_element`` is set, for the quickest partitions).
    """
    train, val, test = [], [], []
    for data in elements:
        # one generator per element: adding or removing an element leaves the others' splits alone
        rng = np.random.default_rng([seed, ATOMIC_NUMBERS[data.element]])
        families = sorted({c.family or c.uid for c in data.pool})
        order = [families[i] for i in rng.permutation(len(families))]
        n_val = max(1, int(round(val_fraction * len(data.pool))))
        val_families: set[str] = set()
        for fam in order:  # whole families to validation until it holds n_val configs
            if sum((c.family or c.uid) in val_families for c in data.pool) >= n_val:
                break
            val_families.add(fam)
        v = [c for c in data.pool if (c.family or c.uid) in val_families]
        t = [c for c in data.pool if (c.family or c.uid) not in val_families]
        v = [v[i] for i in rng.permutation(len(v))]
        t = [t[i] for i in rng.permutation(len(t))]
        train += t[:max_train_per_element] if max_train_per_element else t
        val += v[:max_val_per_element] if max_val_per_element else v
        tt = data.test
        if max_test_per_element:
            tt = [tt[i] for i in sorted(rng.permutation(len(tt))[:max_test_per_element])]
        test += tt
    if straddling(train + val, test) or straddling(train, val):
        raise AssertionError("an identical structure straddles two splits")
    return MaceSplits(train, val, test, {d.element: d.report for d in elements})


def straddling(a: list[Config], b: list[Config]) -> list[tuple[str, str]]:
    """Pairs (uid in a, uid in b) of identical structures: the leakage check between two splits."""
    in_a, in_b = {id(x) for x in a}, {id(y) for y in b}
    return [
        (x.uid, y.uid)
        for group in group_identical(a + b)
        for x in group
        for y in group
        if id(x) in in_a and id(y) in in_b and x is not y
    ]


def least_squares_e0s(configs: list[Config]) -> dict[str, float]:
    """E0 per element (eV) minimising Σ (E − Σ_el n_el E0_el)² over the training configs.

    mlearn configurations are elemental, so for each element this is Σ nᵢEᵢ / Σ nᵢ²: the per-atom
    energies Eᵢ/nᵢ averaged with weights nᵢ² (large cells count more). The general form is kept so
    that mixed data would work unchanged.
    """
    elements = sorted({s for c in configs for s in c.symbols})
    a = np.array([[c.symbols.count(el) for el in elements] for c in configs], float)
    e = np.array([c.energy for c in configs])
    solution, *_ = np.linalg.lstsq(a, e, rcond=None)
    return {el: float(x) for el, x in zip(elements, solution, strict=True)}


def to_atoms(c: Config, split: str):
    from ase import Atoms

    atoms = Atoms(symbols=c.symbols, positions=c.positions, cell=c.lattice, pbc=True)
    atoms.info[REF_ENERGY] = c.energy
    if c.stress is not None:
        atoms.info[REF_STRESS] = np.asarray(c.stress).reshape(9)
    atoms.info["config_type"] = c.element
    atoms.info["uid"] = c.uid
    atoms.info["split"] = split
    if c.group:
        atoms.info["mlearn_group"] = c.group
    atoms.arrays[REF_FORCES] = np.asarray(c.forces, float)
    return atoms


def write_extxyz(configs: list[Config], path: Path, split: str) -> Path:
    """Extended XYZ with REF_energy (eV), REF_forces (eV/Å), REF_stress (9 numbers, eV/Å³)."""
    from ase.io import write

    frames = [to_atoms(c, split) for c in configs]
    return atomic_write(path, lambda tmp: write(str(tmp), frames, format="extxyz"))


def read_extxyz(path: Path) -> list:
    from ase.io import read

    return read(str(path), index=":", format="extxyz")


UNITS = {
    "REF_energy": "eV (total energy of the cell; configs store eV/atom, multiplied by the atom count)",
    "REF_forces": "eV/Å",
    "REF_stress": "eV/Å³, 3×3, ASE sign (positive = tensile); source kbar with VASP's sign, ×(−0.1/160.2177)",
    "positions": "Å (Cartesian)",
}


def source_root(root: Path) -> Path:
    """``<root>/data/mlearn`` if present, else the copy shipped in the project checkout."""
    from matassets.paths import PROJECT_ROOT

    for candidate in (Path(root) / "data" / "mlearn", PROJECT_ROOT / "data" / "mlearn"):
        if (candidate / "configs").is_dir():
            return candidate
    raise FileNotFoundError(f"no mlearn data under {root}/data/mlearn or {PROJECT_ROOT}/data/mlearn")


def build_mace_data(
    source: Path,
    out_dir: Path,
    *,
    elements: tuple[str, ...],
    val_fraction: float,
    seed: int,
    max_train_per_element: int | None = None,
    max_val_per_element: int | None = None,
    max_test_per_element: int | None = None,
) -> dict:
    """Load, check, deduplicate and split the mlearn data; write train/val/test extended XYZ and a
    manifest (sizes, E0s, units, dedupe report, dropped records, hashes) into ``out_dir``.

    The folder is written beside ``out_dir`` and swapped in only when complete.
    """
    import shutil

    from matassets.io import replace_dir, sha256_file, sha256_text, write_json

    unknown = sorted(set(elements) - set(ELEMENTS))
    if unknown:
        raise ValueError(f"no mlearn data for {unknown}; choose from {', '.join(ELEMENTS)}")
    data = [load_element(source, el) for el in elements]
    splits = make_splits(
        data,
        val_fraction=val_fraction,
        seed=seed,
        max_train_per_element=max_train_per_element,
        max_val_per_element=max_val_per_element,
        max_test_per_element=max_test_per_element,
    )
    e0s = least_squares_e0s(splits.train)
    out_dir = Path(out_dir)
    staging = out_dir.with_name(out_dir.name + ".staging")
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    files = {}
    for name in ("train", "val", "test"):
        files[name] = write_extxyz(getattr(splits, name), staging / f"{name}.xyz", name)
    split_ids = {name: sorted(c.uid for c in getattr(splits, name)) for name in ("train", "val", "test")}
    file_hashes = {name: sha256_file(path) for name, path in files.items()}
    manifest = {
        "source": str(source),
        "source_files": {
            p.relative_to(source).as_posix(): sha256_file(p)
            for p in sorted(source.glob("*/*.json*"))
            if p.name.split("_")[0].split(".")[0] in elements
        },
        "elements": list(elements),
        "seed": seed,
        "val_fraction": val_fraction,
        "caps": {
            "max_train_per_element": max_train_per_element,
            "max_val_per_element": max_val_per_element,
            "max_test_per_element": max_test_per_element,
        },
        "sizes": splits.sizes(),
        "e0s_eV": e0s,
        "e0s_method": "least squares of total energy on per-element atom counts over the training "
        "split; mlearn cells are elemental, so E0 = sum(n_i E_i) / sum(n_i^2) per element",
        "units": UNITS,
        "stress_offdiagonal_order": {
            el: [f"{'xyz'[i]}{'xyz'[j]}" for i, j in STRESS_OFFDIAGONAL[el]] for el in elements
        },
        "dedupe": splits.reports,
        "dropped": [d for el in data for d in el.dropped],
        "files": {name: f"{name}.xyz" for name in files},
        "file_hashes": file_hashes,
        "data_hash": sha256_text("".join(file_hashes[n] for n in ("train", "val", "test"))),
        "split_hash": sha256_text(json.dumps(split_ids, sort_keys=True)),
        "split_ids": split_ids,
    }
    write_json(staging / "manifest.json", manifest)
    replace_dir(staging, out_dir)
    return manifest


def read_manifest(out_dir: Path) -> dict:
    path = Path(out_dir) / "manifest.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: materialize mace_training_data first")
    return json.loads(path.read_text(encoding="utf-8"))
