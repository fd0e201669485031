"""Structure files given to ``predict`` and ``relax``: limits before parsing, then the checks of
training data.

``read_structure_file(path, max_sites)``, cheapest first:
1. the file's size (``stat``) against ``MATASSETS_MAX_STRUCTURE_MB`` (``data.limits``), before a
   byte is read;
2. UTF-8 text, not empty;
3. the site count read from the text without parsing it (POSCAR count line, extended XYZ first
   line, CIF atom-site loop) against ``max_sites`` (``--max-sites``);
4. the parse, then ``validation.structure_problem`` with the default ``DataPreset`` minimum
   distance: known elements, finite numbers, a sane cell, no partial occupancy, no two atoms closer
   than the minimum (so no NaN, no overlap reaches a neighbour search or an optimizer).

Every refusal is a ``StructureInputError`` whose message starts with the file's path.
"""

from __future__ import annotations

from pathlib import Path

from matassets.data import limits
from matassets.levels import DataPreset

MAX_SITES = DataPreset.max_sites
SITES_HOW = "raise it with --max-sites N"
XYZ_SUFFIXES = (".xyz", ".extxyz")


class StructureInputError(ValueError):
    """A structure file that cannot be used, named with the reason."""


def file_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".cif":
        return "cif"
    if suffix in XYZ_SUFFIXES:
        return "extxyz"
    return "poscar"


def _xyz_sites(text: str) -> int | None:
    first = text.lstrip().split("\n", 1)[0].strip()
    return int(first) if first.isascii() and first.isdigit() else None


def _read_extxyz(path: Path, text: str):
    """One extended-XYZ frame (ASE's reader) as a pymatgen Structure; a file of several is refused."""
    import io

    from ase.io import read
    from pymatgen.io.ase import AseAtomsAdaptor

    try:
        frames = read(io.StringIO(text), index=":", format="extxyz")
    except Exception as exc:  # noqa: BLE001 - any parser failure on user input is a refusal
        raise StructureInputError(f"{path}: unparsable extended XYZ ({type(exc).__name__}: {exc})") from exc
    if len(frames) != 1:
        raise StructureInputError(f"{path}: holds {len(frames)} structures; give one structure per file")
    atoms = frames[0]
    if not atoms.pbc.all():
        raise StructureInputError(f"{path}: not periodic in every direction (pbc={atoms.pbc.tolist()})")
    return AseAtomsAdaptor.get_structure(atoms)


def read_structure_file(path: Path, max_sites: int = MAX_SITES):
    """A CIF, POSCAR or extended-XYZ file as a pymatgen Structure, checked (see the module)."""
    from matassets.data.parsing import count_sites, parse_structure
    from matassets.data.validation import structure_problem

    path = Path(path)
    if not path.is_file():
        raise StructureInputError(f"{path}: no such file")
    problem = limits.STRUCTURE_FILE.check_size(path.stat().st_size)
    if problem:
        raise StructureInputError(f"{path}: {problem}")
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise StructureInputError(
            f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}, line {line}); re-save it as UTF-8"
        ) from exc
    if not text.strip():
        raise StructureInputError(f"{path}: empty file")
    fmt = file_format(path)
    n = _xyz_sites(text) if fmt == "extxyz" else count_sites(text, fmt)
    if n is not None and n > max_sites:
        raise StructureInputError(
            f"{path}: {n} sites (counted before parsing) exceeds the limit of {max_sites}; {SITES_HOW}"
        )
    if fmt == "extxyz":
        structure = _read_extxyz(path, text)
    else:
        try:
            structure = parse_structure(text, fmt, max_sites=max_sites)
        except ValueError as exc:
            reason = str(exc)
            if "counted before parsing" in reason:  # a CIF's atom-site loop: say how to raise it here
                reason = (
                    reason.split("; the level's max_sites")[0] + f"; the limit is {max_sites}: {SITES_HOW}"
                )
            raise StructureInputError(f"{path}: {reason}") from exc
    problem = structure_problem(structure, DataPreset.min_distance, max_sites)
    if problem:
        if "exceeds the limit" in problem:
            problem += f"; {SITES_HOW}"
        raise StructureInputError(f"{path}: {problem}")
    return structure
