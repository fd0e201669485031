"""An extended-XYZ file (ASE's format: energies, forces, stresses for interatomic potentials) as the
canonical table: one row per frame, the structure as pymatgen JSON, the frame's scalar numbers
(``energy`` from its calculator results, numeric ``info`` keys) as property columns.

Units follow ASE's convention (energy eV, forces eV/Å, stress eV/Å³); ``energy`` is described as
such without a ``--property``. The per-atom arrays (forces) stay in the copied file, which is what
a potential's trainer reads; the table lists the structures and their scalar properties.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from matassets.data import limits, schema
from matassets.data.errors import DataInputError
from matassets.datasets.properties import Property, check_name

SOURCE_NAME = "extxyz"
ENERGY = Property("energy", "eV", "regression", None, "total energy of the frame (ASE extended XYZ)")
_ID_KEYS = ("id", "config_id", "jid", "name")


def frame_id(atoms, path: Path, index: int) -> str:
    """Frame ``index`` of ``path``'s id: its ``info`` id key, else ``<file stem>_<index>``."""
    return next((str(atoms.info[k]) for k in _ID_KEYS if k in atoms.info), f"{Path(path).stem}_{index}")


def load_extxyz(path: Path) -> pl.DataFrame:
    from ase.io import read
    from pymatgen.io.ase import AseAtomsAdaptor

    path = Path(path)
    problem = limits.TABLE_FILE.check_size(path.stat().st_size)
    if problem:
        raise DataInputError(path, problem)
    try:
        frames = read(path, index=":", format="extxyz")
    except Exception as exc:  # noqa: BLE001 - any reader failure names the file
        raise DataInputError(path, f"not a readable extended-XYZ file: {type(exc).__name__}: {exc}") from exc
    if not frames:
        raise DataInputError(path, "no frames")
    rows, names = [], []
    for i, atoms in enumerate(frames):
        values: dict[str, float] = {}
        calc = atoms.calc
        if calc is not None and "energy" in getattr(calc, "results", {}):
            values["energy"] = float(calc.results["energy"])
        for key, value in atoms.info.items():
            if key in _ID_KEYS or isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            try:
                check_name(key)
            except ValueError:
                continue
            values.setdefault(key, float(value))
        rid = frame_id(atoms, path, i)
        try:
            text = (
                json.dumps(AseAtomsAdaptor.get_structure(atoms).as_dict()) if atoms.cell.rank == 3 else None
            )
        except Exception:  # noqa: BLE001 - validation quarantines a null structure with its origin
            text = None
        rows.append(
            {
                schema.ID: rid,
                schema.STRUCTURE: text,
                schema.STRUCTURE_FORMAT: "pymatgen_json",
                schema.NSITES: len(atoms),
                schema.SOURCE: SOURCE_NAME,
                schema.ORIGIN: f"{path} frame {i}",
                **values,
            }
        )
        names.extend(k for k in values if k not in names)
    return schema.canonical_frame(rows, properties=names)
