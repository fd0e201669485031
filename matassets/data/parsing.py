"""Turn the canonical table's structure text into pymatgen structures, one function for all formats.

Before anything is parsed, the cheap checks run (``matassets.data.limits``): the text's size, the
JSON nesting depth, the number of sites (POSCAR count line, the CIF's atom-site loop, the sites of
a pymatgen dict) and, for a CIF, the number of structures it holds (a multi-block CIF is refused,
never silently cut to its first block). pymatgen JSON is decoded without monty's ``@module``
imports: a dict naming a module outside pymatgen is refused.
"""

from __future__ import annotations

import json
import math
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
                structure = (read_p1_cif(text) if fmt == "cif" else None) or Structure.from_str(text, fmt=fmt)
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


_TOKEN = re.compile(r"'[^']*'|\"[^\"]*\"|\S+")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def read_p1_cif(text: str) -> Structure | None:
    """A P1 CIF of whole atoms (what pymatgen, ASE and the Materials Project write) read directly: the
    cell, then one site per atom-site row. None for anything else (symmetry operations beyond
    ``x, y, z``, partial occupancy, charges, uncertainties, several blocks), which pymatgen's CIF
    parser reads. The result equals that parser's (a test compares them); it is ~10x faster."""
    from pymatgen.core import Element, Lattice

    lines = text.splitlines()
    tags: dict[str, str] = {}
    loops: list[tuple[list[str], list[str]]] = []
    i, blocks = 0, 0
    while i < len(lines):
        stripped = lines[i].strip()
        low = stripped.lower()
        if low.startswith("data_"):
            blocks += 1
        elif low == "loop_":
            columns, rows = [], []
            i += 1
            while i < len(lines) and lines[i].strip().startswith("_"):
                columns.append(lines[i].strip().lower())
                i += 1
            while i < len(lines):
                row = lines[i].strip()
                if row.lower().startswith(("loop_", "data_", "_")):
                    break
                if row and not row.startswith(("#", ";")):
                    rows.extend(_TOKEN.findall(row))
                elif row.startswith(";"):
                    return None  # a multi-line text field: leave it to pymatgen
                i += 1
            loops.append((columns, rows))
            continue
        elif stripped.startswith("_"):
            parts = _TOKEN.findall(stripped)
            if len(parts) == 2:
                tags[parts[0].lower()] = parts[1]
        elif stripped.startswith(";"):
            return None
        i += 1
    if blocks != 1:
        return None
    sym = [
        loop
        for loop in loops
        if "_symmetry_equiv_pos_as_xyz" in loop[0] or "_space_group_symop_operation_xyz" in loop[0]
    ]
    if len(sym) != 1:
        return None
    columns, values = sym[0]
    col = next(c for c in columns if c.endswith("_xyz"))
    if (
        len(values) != len(columns)
        or values[columns.index(col)].strip("'\"").replace(" ", "").lower() != "x,y,z"
    ):
        return None
    atoms = [loop for loop in loops if "_atom_site_fract_x" in loop[0]]
    if len(atoms) != 1:
        return None
    columns, values = atoms[0]
    need = ["_atom_site_type_symbol", "_atom_site_fract_x", "_atom_site_fract_y", "_atom_site_fract_z"]
    if any(c not in columns for c in need) or not values or len(values) % len(columns):
        return None
    width = len(columns)
    rows = [values[k : k + width] for k in range(0, len(values), width)]
    idx = {c: columns.index(c) for c in columns}
    try:
        cell = [tags[f"_cell_length_{x}"] for x in "abc"] + [
            tags[f"_cell_angle_{x}"] for x in ("alpha", "beta", "gamma")
        ]
    except KeyError:
        return None
    numbers = cell + [r[idx[c]] for r in rows for c in need[1:]]
    if "_atom_site_occupancy" in idx:
        numbers += [r[idx["_atom_site_occupancy"]] for r in rows]
    if not all(_NUMBER.match(v) for v in numbers):
        return None  # uncertainties "1.23(4)", "?", "." ...
    if "_atom_site_occupancy" in idx and any(float(r[idx["_atom_site_occupancy"]]) != 1.0 for r in rows):
        return None
    symbols = [r[idx["_atom_site_type_symbol"]] for r in rows]
    if not all(Element.is_valid_symbol(sym) for sym in symbols):
        return None
    lattice = Lattice.from_parameters(*(float(v) for v in cell))
    # as pymatgen's parser orders and wraps them: grouped by species (a stable sort), each
    # coordinate x - floor(x), then sorted by electronegativity (get_sorted_structure)
    coords = [[_wrap(_ideal(float(r[idx[c]]))) for c in need[1:]] for r in rows]
    labels = [r[idx["_atom_site_label"]] for r in rows] if "_atom_site_label" in idx else [None] * len(rows)
    if len({tuple(c) for c in coords}) != len(coords):
        return None  # two rows on one spot: pymatgen merges them
    # both sorts computed on the symbols (one Structure built, not two); the same comparisons on the
    # same sequence, so the same order: Composition({A: 1}) < Composition({B: 1}) exactly when
    # Element B < Element A, and a site compares as ``Site.__lt__`` does
    elements = {sym: Element(sym) for sym in set(symbols)}
    order = sorted(range(len(rows)), key=lambda k: elements[symbols[k]], reverse=True)
    order = sorted(order, key=lambda k: _SiteOrder(elements[symbols[k]].X, symbols[k]))
    return Structure(
        lattice,
        [{symbols[k]: 1.0} for k in order],
        [coords[k] for k in order],
        labels=[labels[k] for k in order] if all(labels) else None,
    )


class _SiteOrder:
    """A whole-atom site's place in ``Site.__lt__``'s order: electronegativity, then symbol (NaN, as
    for the noble gases, compares neither less nor greater, so the symbol decides)."""

    __slots__ = ("x", "symbol")

    def __init__(self, x: float, symbol: str) -> None:
        self.x, self.symbol = x, symbol

    def __lt__(self, other: _SiteOrder) -> bool:
        if self.x < other.x:
            return True
        if self.x > other.x:
            return False
        return self.symbol < other.symbol


def _ideal(x: float) -> float:
    """pymatgen's parser rounds coordinates within 1e-4 (relative) of 1/3 or 2/3 to them."""
    for frac in (1 / 3, 2 / 3):
        if math.isclose(x / frac, 1, abs_tol=1e-4, rel_tol=0):
            return frac
    return x


def _wrap(x: float) -> float:
    return x - math.floor(x)
