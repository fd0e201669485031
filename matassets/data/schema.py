"""The canonical table every source produces, and the targets it can carry.

One row per crystal. ``structure`` holds the structure as text in ``structure_format``
(``pymatgen_json``, ``cif`` or ``poscar``); it is parsed once, by validation, so an unreadable
structure becomes a quarantined row that names where it came from (``origin``) instead of a crash.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

ID = "id"
STRUCTURE = "structure"
STRUCTURE_FORMAT = "structure_format"
FORMULA = "formula"
SPACEGROUP = "spacegroup"
NSITES = "nsites"
SOURCE = "source"
ORIGIN = "origin"
REFERENCE_SPLIT = "reference_split"

STRUCTURE_FORMATS = ("pymatgen_json", "cif", "poscar")


@dataclass(frozen=True)
class Target:
    """A property a model can learn: its unit and the widest physically plausible range.

    Values outside ``plausible`` are quarantined as absurd (never silently dropped).
    """

    name: str
    unit: str
    description: str
    plausible: tuple[float, float]
    kind: str = "regression"


TARGETS: dict[str, Target] = {
    t.name: t
    for t in [
        Target("formation_energy", "eV/atom", "formation energy per atom", (-10.0, 10.0)),
        Target("band_gap", "eV", "PBE band gap", (0.0, 30.0)),
        Target("K_VRH", "GPa", "Voigt-Reuss-Hill bulk modulus", (0.0, 1000.0)),
        Target("G_VRH", "GPa", "Voigt-Reuss-Hill shear modulus", (0.0, 1000.0)),
        Target("refractive_index", "", "refractive index n", (1.0, 20.0)),
        Target("dielectric_total", "", "total (poly) dielectric constant", (1.0, 5000.0)),
        Target("piezo_eij_max", "C/m^2", "max piezoelectric coefficient", (0.0, 100.0)),
        Target("e_above_hull", "eV/atom", "energy above the convex hull", (0.0, 10.0)),
        Target("spillage", "", "spin-orbit spillage", (0.0, 10.0)),
        Target(
            "topo_label",
            "",
            "1 topological (TI/TCI/semimetal), 0 trivial",
            (0.0, 1.0),
            kind="binary",
        ),
    ]
}

COLUMNS: dict[str, pl.DataType] = {
    ID: pl.String(),
    STRUCTURE: pl.String(),
    STRUCTURE_FORMAT: pl.String(),
    FORMULA: pl.String(),
    SPACEGROUP: pl.Int64(),
    NSITES: pl.Int64(),
    SOURCE: pl.String(),
    ORIGIN: pl.String(),
    REFERENCE_SPLIT: pl.String(),
    **{name: pl.Float64() for name in TARGETS},
}


def canonical_frame(records: list[dict]) -> pl.DataFrame:
    """Build the canonical table from dicts; absent columns are null, unknown keys are an error."""
    unknown = {key for rec in records for key in rec} - set(COLUMNS)
    if unknown:
        raise ValueError(f"unknown columns {sorted(unknown)}; known: {sorted(COLUMNS)}")
    return pl.DataFrame(records, schema=COLUMNS, strict=False)


def empty_frame() -> pl.DataFrame:
    return pl.DataFrame(schema=COLUMNS)
