"""Turn the canonical table's structure text into pymatgen structures, one function for all formats."""

from __future__ import annotations

import json
import warnings

from pymatgen.core import Structure


def parse_structure(text: str | None, fmt: str) -> Structure:
    """Parse ``text`` written in ``fmt`` (``pymatgen_json``, ``cif`` or ``poscar``).

    Raises ``ValueError`` with a short reason when the text is empty or unreadable.
    """
    if text is None or not text.strip():
        raise ValueError("empty structure")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pymatgen's CIF parser warns on every rounding fix
        try:
            if fmt == "pymatgen_json":
                structure = Structure.from_dict(json.loads(text))
            elif fmt in ("cif", "poscar"):
                structure = Structure.from_str(text, fmt=fmt)
            else:
                raise ValueError(f"unknown structure format {fmt!r}")
        except Exception as exc:  # noqa: BLE001 - any parser failure on user input is a bad row
            raise ValueError(f"unparsable {fmt}: {type(exc).__name__}: {exc}"[:300]) from exc
    if len(structure) == 0:
        raise ValueError("structure has no atoms")
    return structure


def structure_to_text(structure: Structure) -> str:
    """The canonical serialisation (pymatgen JSON) used after validation."""
    return json.dumps(structure.as_dict())
