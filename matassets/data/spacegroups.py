"""Space groups: a file's own, or spglib's where a consumer needs one and the row has none.

The structures table's ``spacegroup`` is the source's (the embedded snapshot's and JARVIS's records,
a ``spacegroup`` column of a CSV/JSON, a CIF's ``_symmetry_Int_Tables_number`` /
``_space_group_IT_number`` above 1). Validation computes the missing ones only when the level's
split groups by space group; every other consumer that needs them (the composition forest in
training and screening, the topological database) fills its own rows with ``fill_spacegroups``,
the same spglib search in worker processes.
"""

from __future__ import annotations

import re

import polars as pl

from matassets.data import schema
from matassets.data.workers import pool_for

SYMPREC, ANGLE_TOLERANCE = 0.1, 5.0  # Å and degrees: the Materials Project's space-group tolerances
CHUNK = 64  # structures per worker task: a cubic crystal can take 60 ms+, small chunks balance
_DECLARED = re.compile(
    r"^[ \t]*_(?:symmetry_int_tables_number|space_group_it_number)[ \t]+['\"]?(\d+)['\"]?[ \t]*$",
    re.IGNORECASE | re.MULTILINE,
)


def spacegroup_number(structure) -> int | None:
    """The space-group number at ``SYMPREC``: what ``SpacegroupAnalyzer(structure, symprec=0.1)``
    gives, asked of spglib directly (the analyzer's own setup cost ~1 ms a structure). Atoms are
    typed by species as the analyzer types them (an oxidation state makes its own type); a
    structure with magnetic moments goes through the analyzer, which passes them on. None when
    spglib finds no symmetry."""
    import spglib
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    try:
        if "magmom" in structure.site_properties or any(
            getattr(sp, "spin", None) is not None for sp in structure.types_of_species
        ):
            return SpacegroupAnalyzer(structure, symprec=SYMPREC).get_space_group_number()
        types: dict = {}
        numbers = [types.setdefault(sp, len(types) + 1) for sp in structure.species]
        cell = (structure.lattice.matrix, structure.frac_coords, numbers)
        dataset = spglib.get_symmetry_dataset(cell, symprec=SYMPREC, angle_tolerance=ANGLE_TOLERANCE)
    except (ValueError, TypeError, spglib.error.SpglibError):
        return None
    return None if dataset is None else int(dataset.number)


def declared_spacegroup(text: str | None, fmt: str) -> int | None:
    """The space-group number a CIF states (``_symmetry_Int_Tables_number`` or
    ``_space_group_IT_number``), or None. A stated 1 counts as none: P1 is the setting pymatgen, ASE
    and VESTA write every crystal in, not a finding that it has no symmetry."""
    if fmt != "cif" or not text:
        return None
    found = _DECLARED.search(text)
    number = int(found.group(1)) if found else 0
    return number if 2 <= number <= 230 else None


def fill_spacegroups(frame: pl.DataFrame, workers: int | None = None) -> pl.DataFrame:
    """``frame`` (rows of a structures table) with each null ``spacegroup`` computed by
    ``spacegroup_number`` from the row's structure, in worker processes (``workers.pool_for``);
    rows that have one keep it, and a row spglib finds no symmetry for stays null."""
    missing = frame[schema.SPACEGROUP].is_null()
    count = int(missing.sum())
    if not count:
        return frame
    items = list(frame.filter(missing).select(schema.STRUCTURE, schema.STRUCTURE_FORMAT).iter_rows())
    pool = pool_for(count, workers)
    try:
        chunks = (items[k : k + CHUNK] for k in range(0, count, CHUNK))
        found = iter([n for part in pool.imap(_numbers, chunks) for n in part])
    finally:
        pool.close()
    values = [next(found) if sg is None else sg for sg in frame[schema.SPACEGROUP].to_list()]
    return frame.with_columns(pl.Series(schema.SPACEGROUP, values, pl.Int64()))


def _numbers(items: list[tuple[str, str]]) -> list[int | None]:
    """The space groups of a chunk of (structure text, format), in a worker."""
    from matassets.data.parsing import parse_structure

    return [spacegroup_number(parse_structure(text, fmt)) for text, fmt in items]
