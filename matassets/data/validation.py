"""Validate the raw table: parse every structure, quarantine what is wrong, never drop silently.

Rules (each quarantined row names its id, origin, field and reason):

- ``id``: null/empty ids and repeated ids (the first occurrence is kept) are quarantined.
- ``structure``: unparsable text, no atoms, disordered sites, an unknown element symbol, NaN/inf
  in the lattice or coordinates, a degenerate lattice (volume < 1e-3 Å^3 per atom), a cell of
  more than ``MAX_VOLUME_PER_ATOM`` Å^3 per atom (isolated atoms in vacuum), a cell thinner than
  ``min_distance`` between lattice planes,
  more than ``max_sites`` atoms, or two atoms closer than ``min_distance`` Å (periodic images
  included) quarantine the whole row.
- targets: NaN/inf or a value outside the target's physically plausible range
  (``schema.TARGETS[...].plausible``) quarantines that value only: it becomes null and the row stays
  for the other targets. This is a physical-validity rule applied to every row before splitting,
  not a statistical outlier filter, so the test set is never filtered by its targets.

Identical structures (same reduced formula and matched by pymatgen's ``StructureMatcher``) get the
same ``dup_group`` so that splits keep them on one side.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import polars as pl

from matassets.data import schema
from matassets.data.parsing import parse_structure, structure_to_text

QUARANTINE_COLUMNS = {
    "id": pl.String(),
    "origin": pl.String(),
    "field": pl.String(),
    "value": pl.String(),
    "reason": pl.String(),
}
DUP_GROUP = "dup_group"


@dataclass
class ValidationResult:
    clean: pl.DataFrame
    quarantine: pl.DataFrame

    def quarantine_counts(self) -> dict[str, int]:
        counts = self.quarantine.group_by("field").len().sort("field")
        return dict(zip(counts["field"], counts["len"], strict=True))


# Å^3 per atom. The loosest real crystals (noble-gas solids) have ~40; far beyond that a "crystal"
# is isolated atoms in vacuum, and the periodic neighbour search would allocate a grid over the
# whole cell (a 1000 Å cube asks for ~27 GB at 0.5 Å), so such cells are refused before it runs.
MAX_VOLUME_PER_ATOM = 1000.0


def _unknown_species(structure) -> list[str]:
    """Species that are not real elements with features (pymatgen reads ``Xx`` as a dummy)."""
    from pymatgen.core.periodic_table import DummySpecies

    from matassets.graphs.features import MAX_Z

    return sorted(
        {sp.symbol for sp in structure.species if isinstance(sp, DummySpecies) or not 1 <= sp.Z <= MAX_Z}
    )


def structure_problem(structure, min_distance: float, max_sites: int) -> str | None:
    """Why ``structure`` cannot be used, or None. Cheap checks run first, so the neighbour search
    never sees a NaN/inf, singular or huge cell (those crash or exhaust memory inside pymatgen)."""
    if len(structure) > max_sites:
        return f"{len(structure)} sites exceeds the limit of {max_sites}"
    if not structure.is_ordered:
        return "disordered (partially occupied) sites; give an ordered structure"
    unknown = _unknown_species(structure)
    if unknown:
        return f"unknown element symbol(s) {unknown}"
    if not (np.isfinite(structure.lattice.matrix).all() and np.isfinite(structure.frac_coords).all()):
        return "lattice or coordinates are not finite numbers (NaN or inf)"
    volume = abs(structure.lattice.volume)
    if volume < 1e-3 * len(structure):
        return f"degenerate lattice (volume {structure.lattice.volume:.3g} A^3)"
    if volume > MAX_VOLUME_PER_ATOM * len(structure):
        return (
            f"cell too large for its atoms ({volume / len(structure):.3g} A^3 per atom, "
            f"limit {MAX_VOLUME_PER_ATOM:g}): isolated atoms, not a crystal"
        )
    m = structure.lattice.matrix
    height = float((volume / np.linalg.norm(np.cross(m[[1, 2, 0]], m[[2, 0, 1]]), axis=1)).min())
    if height < min_distance:  # a neighbour search would loop over ~(cutoff / height)^3 images
        return f"cell too flat (height {height:.3g} A between lattice planes); give a reduced cell"
    # distances do not depend on the cell's basis; the LLL-reduced one keeps the search grid small
    # for a skewed cell (pymatgen sizes it by the atoms' bounding box)
    reduced = structure.get_reduced_structure(reduction_algo="LLL")
    centers, _, _, distances = reduced.get_neighbor_list(r=min_distance)
    if len(distances):
        k = int(np.argmin(distances))
        return f"atoms closer than {min_distance} A: site {int(centers[k])} at {float(distances[k]):.3f} A"
    return None


def _spacegroup(structure) -> int | None:
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    try:
        return SpacegroupAnalyzer(structure, symprec=0.1).get_space_group_number()
    except (ValueError, TypeError):
        return None


def validate(raw: pl.DataFrame, min_distance: float, max_sites: int) -> ValidationResult:
    """Split ``raw`` (canonical table) into a clean table and a quarantine table."""
    bad: list[dict] = []
    keep: list[dict] = []
    seen: dict[str, str] = {}
    targets = [t for t in schema.TARGETS if t in raw.columns]
    for row in raw.iter_rows(named=True):
        rid, origin = row[schema.ID], row[schema.ORIGIN]

        def quarantine(field: str, value: object, reason: str, rid=rid, origin=origin) -> None:
            bad.append(
                {
                    "id": rid,
                    "origin": origin,
                    "field": field,
                    "value": str(value)[:80],
                    "reason": reason,
                }
            )

        if rid is None or not str(rid).strip():
            quarantine("id", rid, "missing id")
            continue
        if rid in seen:
            quarantine("id", rid, f"duplicate id (first seen at {seen[rid]})")
            continue
        seen[rid] = origin
        try:
            structure = parse_structure(row[schema.STRUCTURE], row[schema.STRUCTURE_FORMAT])
        except ValueError as exc:
            quarantine("structure", (row[schema.STRUCTURE] or "")[:40], str(exc))
            continue
        problem = structure_problem(structure, min_distance, max_sites)
        if problem:
            quarantine("structure", structure.composition.reduced_formula, problem)
            continue
        for name in targets:
            value = row[name]
            if value is None:
                continue
            low, high = schema.TARGETS[name].plausible
            if not math.isfinite(value):
                quarantine(name, value, "not a finite number")
                row[name] = None
            elif not low <= value <= high:
                quarantine(name, value, f"outside the plausible range [{low}, {high}]")
                row[name] = None
        if row[schema.STRUCTURE_FORMAT] != "pymatgen_json":
            row[schema.STRUCTURE] = structure_to_text(structure)
            row[schema.STRUCTURE_FORMAT] = "pymatgen_json"
        row[schema.FORMULA] = structure.composition.reduced_formula
        row[schema.NSITES] = len(structure)
        if row[schema.SPACEGROUP] is None:
            row[schema.SPACEGROUP] = _spacegroup(structure)
        row["_structure"] = structure
        keep.append(row)
    groups = duplicate_groups(keep)
    for row in keep:
        row[DUP_GROUP] = groups[row[schema.ID]]
        del row["_structure"]
    clean = pl.DataFrame(keep, schema={**raw.schema, DUP_GROUP: pl.String()})
    return ValidationResult(clean, pl.DataFrame(bad, schema=QUARANTINE_COLUMNS))


def duplicate_groups(rows: list[dict]) -> dict[str, str]:
    """Map each id to the id of the first structure it is identical to (itself if unique)."""
    from pymatgen.analysis.structure_matcher import StructureMatcher

    by_formula: dict[str, list[dict]] = {}
    for row in rows:
        by_formula.setdefault(row[schema.FORMULA], []).append(row)
    groups = {row[schema.ID]: row[schema.ID] for row in rows}
    matcher = StructureMatcher()
    for members in by_formula.values():
        if len(members) < 2:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clusters = matcher.group_structures([m["_structure"] for m in members])
        index = {id(m["_structure"]): m[schema.ID] for m in members}
        for cluster in clusters:
            first = index[id(cluster[0])]
            for s in cluster:
                groups[index[id(s)]] = first
    return groups
