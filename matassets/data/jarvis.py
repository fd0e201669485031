"""JARVIS-DFT ``dft_3d`` records into the canonical table (pymatgen only; jarvis-tools optional).

``load_dft_3d`` reads a cached copy (``dft_3d.json``, ``dft_3d.json.zip`` or the
``jdft_3d-*.json.zip`` that jarvis-tools stores) and only downloads with jarvis-tools
(``pip install 'matassets[jarvis]'``) when none is there.
"""

from __future__ import annotations

import io
import json
import math
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path

import polars as pl
from pymatgen.core import Element, Lattice, Structure

from matassets.data import schema
from matassets.data.errors import DataInputError

SOURCE_NAME = "jarvis_dft_3d"

# JARVIS dft_3d key -> canonical target (original-pipeline.md section 1)
JARVIS_TARGETS: dict[str, str] = {
    "formation_energy_peratom": "formation_energy",
    "optb88vdw_bandgap": "band_gap",
    "bulk_modulus_kv": "K_VRH",
    "shear_modulus_gv": "G_VRH",
    "ehull": "e_above_hull",
    "dfpt_piezo_max_eij": "piezo_eij_max",
    "dfpt_piezo_max_dielectric": "dielectric_total",
    "spillage": "spillage",
}

_MISSING = ("", "na", "nan", "none", "null")


def atoms_to_structure(atoms: Mapping) -> Structure:
    """A pymatgen ``Structure`` from a JARVIS atoms dict (``lattice_mat``, ``coords``, ``elements``,
    ``cartesian``). Raises ``ValueError`` when the dict is incomplete or inconsistent."""
    try:
        lattice = Lattice(atoms["lattice_mat"])
        elements = [Element(str(symbol).strip()) for symbol in atoms["elements"]]
        coords = list(atoms["coords"])
        if not elements:
            raise ValueError("no atoms")
        if len(elements) != len(coords):
            raise ValueError(f"{len(elements)} elements but {len(coords)} coordinates")
        return Structure(
            lattice,
            elements,
            coords,
            coords_are_cartesian=bool(atoms.get("cartesian", False)),
        )
    except (KeyError, TypeError, IndexError) as exc:
        raise ValueError(f"bad JARVIS atoms dict: {type(exc).__name__}: {exc}") from exc


def _value(raw: object) -> float | None:
    """A JARVIS value as a float; 'na'/None/'' are missing, anything non-numeric becomes NaN so
    that validation quarantines it instead of it vanishing."""
    if raw is None or (isinstance(raw, str) and raw.strip().lower() in _MISSING):
        return None
    if isinstance(raw, bool):
        return math.nan
    try:
        return float(raw)
    except (TypeError, ValueError):
        return math.nan


def _spacegroup(raw: object) -> int | None:
    value = _value(raw)
    if value is None or not math.isfinite(value) or value != int(value):
        return None
    return int(value)


def _row(rec: object, source: str, origin: str) -> dict:
    rec = rec if isinstance(rec, Mapping) else {}
    jid = rec.get("jid")
    row: dict = {
        schema.ID: None if jid is None or str(jid).strip() == "" else str(jid),
        schema.STRUCTURE: None,
        schema.STRUCTURE_FORMAT: "pymatgen_json",
        schema.SPACEGROUP: _spacegroup(rec.get("spg_number")),
        schema.SOURCE: source,
        schema.ORIGIN: origin,
    }
    atoms = rec.get("atoms")
    if isinstance(atoms, Mapping):
        try:
            structure = atoms_to_structure(atoms)
        except ValueError:
            structure = None  # validation quarantines the row (structure is null)
        if structure is not None:
            row[schema.STRUCTURE] = json.dumps(structure.as_dict())
            row[schema.FORMULA] = structure.composition.reduced_formula
            row[schema.NSITES] = len(structure)
    row.update({target: _value(rec.get(key)) for key, target in JARVIS_TARGETS.items()})
    return row


def records_to_frame(
    records: Iterable[object], source: str = SOURCE_NAME, origin: str = "<file>"
) -> pl.DataFrame:
    """JARVIS records (dicts with ``jid``, ``atoms`` and property keys) as the canonical table.

    One row per record, in order; a record whose atoms cannot be read keeps its row with a null
    structure, so validation reports it (``origin`` = ``"<origin> record <i>"``).
    """
    rows = [_row(rec, source, f"{origin} record {i}") for i, rec in enumerate(records)]
    return schema.canonical_frame(rows) if rows else schema.empty_frame()


def _cached_file(cache_dir: Path) -> Path | None:
    if cache_dir.is_file():
        return cache_dir
    for name in ("dft_3d.json", "dft_3d.json.zip"):
        if (cache_dir / name).is_file():
            return cache_dir / name
    stored = sorted(cache_dir.glob("jdft_3d*.json.zip")) if cache_dir.is_dir() else []
    return stored[-1] if stored else None


def _read_records(path: Path) -> list:
    """The JSON list in ``path``: plain JSON or a zip holding one ``.json`` member."""
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as zf:
                members = [n for n in zf.namelist() if n.endswith(".json")]
                if not members:
                    raise DataInputError(path, "zip archive holds no .json file")
                with zf.open(members[0]) as fh:
                    records = json.load(io.TextIOWrapper(fh, encoding="utf-8"))
        else:
            with path.open(encoding="utf-8") as fh:
                records = json.load(fh)
    except UnicodeDecodeError as exc:
        raise DataInputError(path, f"not UTF-8 JSON ({exc.reason} at byte {exc.start})") from exc
    except json.JSONDecodeError as exc:
        raise DataInputError(path, f"not valid JSON ({exc.msg}, line {exc.lineno})") from exc
    except (OSError, zipfile.BadZipFile) as exc:
        raise DataInputError(path, f"cannot read: {exc}") from exc
    if not isinstance(records, list):
        raise DataInputError(path, f"expected a JSON list of records, found {type(records).__name__}")
    if not records:
        raise DataInputError(path, "empty: the JSON list holds no records")
    return records


def _download(cache_dir: Path) -> list:
    hint = (
        f"install 'matassets[jarvis]' and connect to the internet, or put dft_3d.json "
        f"(or dft_3d.json.zip) in {cache_dir}, or use the embedded source"
    )
    try:
        from jarvis.db.figshare import data
    except ImportError as exc:
        raise DataInputError(
            cache_dir,
            f"JARVIS dft_3d could not be downloaded: jarvis-tools is not installed ({exc}); {hint}",
        ) from exc
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        records = data("dft_3d", store_dir=str(cache_dir))
    except Exception as exc:  # network/figshare failures come in many types
        why = f"{type(exc).__name__}: {exc}"[:300]
        raise DataInputError(cache_dir, f"JARVIS dft_3d could not be downloaded ({why}); {hint}") from exc
    if not isinstance(records, list) or not records:
        raise DataInputError(cache_dir, f"JARVIS dft_3d download returned no records; {hint}")
    return records


def load_dft_3d(cache_dir: Path) -> pl.DataFrame:
    """The JARVIS-DFT ``dft_3d`` table from the cache in ``cache_dir`` (or a file path), else
    downloaded with jarvis-tools into it. Raises ``DataInputError`` with a one-line remedy."""
    cache_dir = Path(cache_dir)
    cached = _cached_file(cache_dir)
    if cached is not None:
        return records_to_frame(_read_records(cached), origin=cached.name)
    records = _download(cache_dir)
    stored = _cached_file(cache_dir)
    return records_to_frame(records, origin=stored.name if stored else "jarvis-tools dft_3d")
