"""Turn the canonical table's structure text into pymatgen structures, one function for all formats.

Before anything is parsed, the cheap checks run (``matassets.data.limits``): the text's size, the
JSON nesting depth, the number of sites (POSCAR count line, the CIF's atom-site loop, the sites of
a pymatgen dict) and, for a CIF, the number of structures it holds (a multi-block CIF is refused,
never silently cut to its first block). pymatgen JSON is decoded without monty's ``@module``
imports: a dict naming a module outside pymatgen is refused.
"""

from __future__ import annotations

import json
import re
import warnings

from pymatgen.core import Structure

from matassets.data import limits

# the largest reduction of a site's orbit by its own symmetry in a 3D crystallographic group (m-3m)
_MAX_SITE_SYMMETRY = 48
_DATA_BLOCK = re.compile(r"(?im)^[ \t]*data_(\S*)")


def parse_structure(text: str | None, fmt: str, max_sites: int | None = None) -> Structure:
    """Parse ``text`` written in ``fmt`` (``pymatgen_json``, ``cif`` or ``poscar``).

    Raises ``ValueError`` with a short reason when the text is empty, over a limit or unreadable.
    ``max_sites``: refuse (before parsing, where the text tells) a cell with more atoms.
    """
    if text is None or not text.strip():
        raise ValueError("empty structure")
    problem = limits.STRUCTURE_FILE.check_size(len(text.encode("utf-8", "replace")))
    if problem:
        raise ValueError(problem.replace("the structure file", "the structure text"))
    if max_sites is not None:
        problem = _too_many_sites(text, fmt, max_sites)
        if problem:
            raise ValueError(problem)
    if fmt == "pymatgen_json":
        problem = limits.JSON_DEPTH.check_json(text)
        if problem:
            raise ValueError(problem)
    elif fmt == "cif":
        blocks = cif_blocks(text)
        if len(blocks) > 1:
            shown = ", ".join(blocks[:5]) + (" ..." if len(blocks) > 5 else "")
            raise ValueError(
                f"the CIF holds {len(blocks)} structures (data blocks {shown}); "
                "matassets reads one structure per file: split it into one file per block"
            )
    elif fmt != "poscar":
        raise ValueError(f"unknown structure format {fmt!r}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pymatgen's CIF parser warns on every rounding fix
        try:
            if fmt == "pymatgen_json":
                structure = structure_from_dict(json.loads(text))
            else:
                structure = Structure.from_str(text, fmt=fmt)
        except _Refused as exc:
            raise ValueError(str(exc)) from exc
        except RecursionError as exc:
            raise ValueError(f"unparsable {fmt}: nested too deeply to read") from exc
        except Exception as exc:  # noqa: BLE001 - any parser failure on user input is a bad row
            raise ValueError(f"unparsable {fmt}: {type(exc).__name__}: {exc}"[:300]) from exc
    if len(structure) == 0:
        raise ValueError("structure has no atoms")
    if max_sites is not None and len(structure) > max_sites:
        raise ValueError(f"{len(structure)} sites exceeds the limit of {max_sites}")
    return structure


def structure_to_text(structure: Structure) -> str:
    """The canonical serialisation (pymatgen JSON) used after validation."""
    return json.dumps(structure.as_dict())


class _Refused(ValueError):
    pass


def _check_modules(data: object) -> None:
    """Refuse a dict anywhere in ``data`` whose ``@module`` is not a pymatgen module: monty's decoder
    (which pymatgen uses for site properties) imports whatever module a dict names."""
    stack = [data]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            module = node.get("@module")
            if module is not None and not (isinstance(module, str) and module.startswith("pymatgen.")):
                raise _Refused(
                    f"refused: the structure names the module {str(module)[:60]!r}; only pymatgen "
                    "classes are decoded from pymatgen JSON"
                )
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def structure_from_dict(data: object) -> Structure:
    """A Structure from ``Structure.as_dict()`` output, importing nothing a dict names.

    The usual case (plain site properties) is built directly, without monty's per-site
    encode/decode round trip; anything unusual goes through pymatgen's ``from_dict`` after every
    ``@module`` was checked to be pymatgen's.
    """
    from pymatgen.core import DummySpecies, Element, Lattice, Species

    if not isinstance(data, dict) or "lattice" not in data or "sites" not in data:
        raise _Refused("not a pymatgen Structure dict (needs 'lattice' and 'sites')")
    _check_modules(data)
    sites = data["sites"]
    keys = {tuple(sorted((s.get("properties") or {}).keys())) for s in sites} if sites else {()}
    if len(keys) != 1 or data.get("properties"):
        return Structure.from_dict(data)
    lattice = Lattice(data["lattice"]["matrix"], pbc=tuple(data["lattice"].get("pbc", (True,) * 3)))
    species, coords, labels = [], [], []
    for site in sites:
        occupancy = {}
        for occu in site["species"]:
            if "oxidation_state" in occu and Element.is_valid_symbol(occu["element"]):
                sp = Species.from_dict(occu)
            elif "oxidation_state" in occu:
                sp = DummySpecies.from_dict(occu)
            else:
                sp = Element(occu["element"])
            occupancy[sp] = occu["occu"]
        species.append(occupancy)
        coords.append(site["abc"])
        labels.append(site.get("label"))
    (names,) = keys
    props = {k: [s["properties"][k] for s in sites] for k in names}
    return Structure(
        lattice,
        species,
        coords,
        charge=data.get("charge"),
        site_properties=props or None,
        labels=labels if all(label is not None for label in labels) else None,
    )


def cif_blocks(text: str) -> list[str]:
    """Names of the CIF's data blocks that hold atoms (an atom-site loop)."""
    starts = list(_DATA_BLOCK.finditer(text))
    names = []
    for i, m in enumerate(starts):
        body = text[m.end() : starts[i + 1].start() if i + 1 < len(starts) else len(text)].lower()
        if "_atom_site_fract_x" in body or "_atom_site_cartn_x" in body:
            names.append(m.group(1) or "(unnamed)")
    return names


def _loop_rows(lines: list[str], tag: str) -> int | None:
    """Rows of the CIF loop that has ``tag`` among its columns (None: no such loop)."""
    tag = tag.lower()
    for i, line in enumerate(lines):
        if line.strip().lower() != "loop_":
            continue
        j, columns = i + 1, []
        while j < len(lines) and lines[j].strip().startswith("_"):
            columns.append(lines[j].split()[0].lower())
            j += 1
        if tag not in columns:
            continue
        tokens = 0
        while j < len(lines):
            stripped = lines[j].strip()
            if stripped.lower().startswith(("loop_", "data_")) or stripped.startswith("_"):
                break
            if stripped and not stripped.startswith("#"):
                tokens += len(stripped.split())
            j += 1
        return tokens // max(1, len(columns))
    return None


def count_sites(text: str | None, fmt: str) -> int | None:
    """The number of atoms in the cell, read without parsing (None where the text does not say:
    a CIF's cell count needs its symmetry applied)."""
    if not text:
        return None
    if fmt == "poscar":
        lines = text.splitlines()
        for line in lines[5:7]:
            tokens = line.split()
            if tokens and all(t.isdigit() and t.isascii() for t in tokens):
                return sum(int(t) for t in tokens)
        return None
    if fmt == "pymatgen_json":
        return text.count('"abc"') or None
    return None


def _too_many_sites(text: str, fmt: str, max_sites: int) -> str | None:
    how = f"the level's max_sites is {max_sites} (matassets/levels.py; --set max_sites=N raises it)"
    if fmt == "cif":
        lines = text.splitlines()
        asym = _loop_rows(lines, "_atom_site_fract_x") or _loop_rows(lines, "_atom_site_cartn_x")
        if asym is None:
            return None
        ops = _loop_rows(lines, "_symmetry_equiv_pos_as_xyz") or _loop_rows(
            lines, "_space_group_symop_operation_xyz"
        )
        if asym > max_sites:
            return f"the CIF lists {asym} sites in its atom-site loop (counted before parsing); {how}"
        if ops and asym * ops > _MAX_SITE_SYMMETRY * max_sites:
            return (
                f"the CIF's {asym} sites under {ops} symmetry operations make at least "
                f"{asym * ops // _MAX_SITE_SYMMETRY} atoms (counted before parsing); {how}"
            )
        return None
    n = count_sites(text, fmt)
    if n is not None and n > max_sites:
        return f"{n} sites (counted before parsing) exceeds the limit of {max_sites}; {how}"
    return None
