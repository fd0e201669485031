"""A registered extended-XYZ data set's frames as MACE training data.

The frames (energies, forces, stresses where given) of the data set's copied files are split by the
data set's own split manifest (``D/splits``: the same train/validation/test as its other models,
from the data set's split seed), capped per level as the mlearn data is (``MacePreset``'s
``max_*_per_element``, per element or chemical system, a seeded subset), and written as
``mace_training_data`` writes the mlearn data: ``train/val/test.xyz`` with ``REF_energy``,
``REF_forces``, ``REF_stress`` and a ``manifest.json`` with sizes, least-squares E0s and hashes, so
``training.potential`` trains on either.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np

from matassets.data.errors import DataInputError
from matassets.data.mlearn import Config, least_squares_e0s, write_extxyz
from matassets.datasets.extxyz import frame_id

SPLITS = ("train", "val", "test")
UNITS = {
    "REF_energy": "eV (total energy of the frame, as ASE reads the file)",
    "REF_forces": "eV/Å",
    "REF_stress": "eV/Å³, 3×3, ASE sign (positive = tensile)",
    "positions": "Å (Cartesian)",
}


def group_of(symbols: list[str]) -> str:
    """The label a frame's errors are reported under: its element, or its chemical system."""
    return "-".join(sorted(set(symbols)))


def read_frames(files: list[Path]) -> dict[str, Config]:
    """Every frame of ``files`` by its id (``datasets.extxyz.frame_id``; a later file's frame
    replaces an earlier one's, as ``dataset append --replace`` does). A frame without an energy or
    forces is refused, naming the file, the frame and the field."""
    from ase.io import read
    from ase.stress import voigt_6_to_full_3x3_stress

    out: dict[str, Config] = {}
    for path in files:
        for i, atoms in enumerate(read(path, index=":", format="extxyz")):
            rid = frame_id(atoms, path, i)
            results = getattr(atoms.calc, "results", {}) if atoms.calc is not None else {}
            for key in ("energy", "forces"):
                if key not in results:
                    raise DataInputError(
                        path,
                        f"frame {rid}: no {key}; a potential trains on energies and forces",
                        row=i,
                        field=key,
                    )
            stress = results.get("stress")
            if stress is not None:
                stress = np.asarray(stress, float)
                stress = voigt_6_to_full_3x3_stress(stress) if stress.shape == (6,) else stress.reshape(3, 3)
            symbols = atoms.get_chemical_symbols()
            out[rid] = Config(
                uid=rid,
                element=group_of(symbols),
                lattice=np.asarray(atoms.cell[:], float),
                symbols=symbols,
                positions=atoms.get_positions(),
                energy=float(results["energy"]),
                forces=np.asarray(results["forces"], float),
                stress=stress,
            )
    return out


def _capped(configs: list[Config], cap: int | None, rng: np.random.Generator) -> list[Config]:
    """At most ``cap`` configurations of each group, a seeded subset (all when ``cap`` is None)."""
    if not cap:
        return configs
    out = []
    for group in sorted({c.element for c in configs}):
        members = [c for c in configs if c.element == group]
        out += [members[i] for i in sorted(rng.permutation(len(members))[:cap])]
    return out


def build_dataset_mace_data(
    dataset: str,
    files: list[Path],
    split_ids: dict[str, list[str]],
    out_dir: Path,
    *,
    seed: int,
    caps: dict[str, int | None],
    dataset_split_hash: str,
) -> dict:
    """Write ``out_dir``'s ``train/val/test.xyz`` and ``manifest.json`` (which names ``dataset``, the
    source ``training.potential``'s caveat reads) from the frames of ``files`` that ``split_ids``
    (the data set's split manifest) places; ``caps``: ``max_train_per_element``,
    ``max_val_per_element``, ``max_test_per_element``. Every element of validation and test must be
    in training (MACE needs its E0)."""
    import shutil

    from matassets.io import replace_dir, sha256_file, sha256_text, write_json

    frames = read_frames(files)
    rng = np.random.default_rng(seed)
    splits: dict[str, list[Config]] = {}
    for name in SPLITS:
        placed = [frames[i] for i in split_ids[name] if i in frames]
        splits[name] = _capped(placed, caps[f"max_{name}_per_element"], rng)
        if not splits[name]:
            raise ValueError(
                f"the data set's {name} split holds no frame ({len(split_ids[name])} ids): too few "
                "distinct structures (identical ones share a split) for a potential at this level"
            )
    trained = {s for c in splits["train"] for s in c.symbols}
    unseen = sorted({s for name in ("val", "test") for c in splits[name] for s in c.symbols} - trained)
    if unseen:
        raise ValueError(f"elements {unseen} are in validation or test but in no training frame")
    e0s = least_squares_e0s(splits["train"])
    out_dir = Path(out_dir)
    staging = out_dir.with_name(out_dir.name + ".staging")
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    written = {name: write_extxyz(splits[name], staging / f"{name}.xyz", name) for name in SPLITS}
    file_hashes = {name: sha256_file(path) for name, path in written.items()}
    used = {name: sorted(c.uid for c in splits[name]) for name in SPLITS}
    manifest = {
        "dataset": dataset,
        "source_files": {str(p): sha256_file(p) for p in files},
        "elements": sorted(trained),
        "seed": seed,
        "caps": caps,
        "sizes": {name: dict(Counter(c.element for c in splits[name])) for name in SPLITS},
        "e0s_eV": e0s,
        "e0s_method": "least squares of total energy on per-element atom counts over the training split",
        "units": UNITS,
        "dataset_split_hash": dataset_split_hash,
        "frames_not_in_split": len(set(frames) - {i for ids in split_ids.values() for i in ids}),
        "dropped": [],
        "files": {name: f"{name}.xyz" for name in SPLITS},
        "file_hashes": file_hashes,
        "data_hash": sha256_text("".join(file_hashes[n] for n in SPLITS)),
        "split_hash": sha256_text(json.dumps(used, sort_keys=True)),
        "split_ids": used,
    }
    write_json(staging / "manifest.json", manifest)
    replace_dir(staging, out_dir)
    return manifest
